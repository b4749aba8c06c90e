"""The search planner: the nearest allowed item of each group, then one candidate per group
shown in the user's language.

A filter Chroma can check (domain, language) is searched one of two ways: a broad one
reads the nearest ids unfiltered and keeps the allowed ones, a narrow one is confined to
the ids it allows (Chroma filters metadata before it searches the index: at 100,000 items
one domain's ``where`` took 80 ms, the same domain's ``ids`` 15 ms, unfiltered 3 ms). What
only Python checks (region, price, tags, excluded ids) is applied to the hits, asking
for twice as many while too few pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from polyrank.retrieval._catalog import Item
from polyrank.retrieval._filters import CompiledFilters
from polyrank.retrieval._groups import Groups
from polyrank.retrieval._language import detect_language
from polyrank.retrieval._types import Candidate, Filters, Variant
from polyrank.retrieval.errors import REPAIR_HINT, RetrievalError

if TYPE_CHECKING:
    from polyrank.retrieval._chroma import Connection

__all__ = [
    "Feedback",
    "Searcher",
    "ShortIndex",
    "candidates",
    "moved_towards",
    "preferred_variant",
    "with_query_language",
]

#: Seconds a Store trusts the item count it read (writes through it reset it at once).
COUNT_TTL = 1.0
#: A broad filter's search reads at most this many nearest ids unfiltered (4.6 ms for 600
#: at 100,000 items), then keeps the allowed ones; a narrower filter's search is confined
#: to the ids it allows.
OVERFETCH_LIMIT = 2000
#: Seconds a Store trusts the ids a filter allows (and while the count stays the same).
ALLOWED_TTL = 30.0
#: How many filters' allowed ids a Store keeps.
_ALLOWED_KEPT = 16

#: Nearest hits by group: (similarity, the item).
Nearest = dict[str, tuple[float, Item]]


class ShortIndex(RetrievalError):
    """The vector index holds fewer items than the store."""


@dataclass(frozen=True)
class Feedback:
    """Pseudo-relevance feedback: move the query towards the mean of its ``depth`` best hits.

    The same request in two languages lands near different items at first; their best hits
    share a neighbourhood, so the moved queries can agree more. Measured on
    ``evals/suites/core.yaml`` (weight 0.5, depth 3; off → on): with the local ranker nDCG@5
    0.789→0.803, RBO 0.680→0.711, RankC 0.764→0.767, top-1 agreement 0.820→0.814; in plain
    retrieval order nDCG@5 0.770→0.771, RBO 0.710→0.728, RankC 0.751→0.720, top-1
    0.797→0.756. Mixed, so it is off by default: ``Agent(feedback=Feedback())``.
    """

    weight: float = 0.5
    depth: int = 3


def preferred_variant(variants: Sequence[Item], languages: Sequence[str], default: Item) -> Item:
    """The version in the first of ``languages`` that ``variants`` has, else ``default``.

    (Falling back to English instead of ``default`` was measured on the core suite: four
    consistency gates failed, since the local ranker then compares English versions of items
    across requests in different languages; so ``default``, the best-matching one.)
    """
    for lang in languages:
        for v in variants:
            if v.language == lang.lower():
                return v
    return default


def moved_towards(vector: Any, hits: Sequence[np.ndarray], weight: float) -> Any:
    """``vector`` plus ``weight`` times the mean direction of ``hits``, at its own length
    (unchanged without hits)."""
    if not hits:
        return vector
    units = [v / (np.linalg.norm(v) or 1.0) for v in hits]
    moved = np.asarray(vector, dtype=np.float32) + weight * np.mean(units, axis=0)
    return moved / (np.linalg.norm(moved) or 1.0) * np.linalg.norm(vector)


def _keep_nearest(
    hits: Iterable[tuple[Item, float]], compiled: CompiledFilters, dense: Nearest
) -> None:
    """Add to ``dense`` each allowed hit (nearest first) whose group it has no item of yet,
    with its similarity (1 - cosine distance)."""
    for item, distance in hits:
        if item.group_key not in dense and compiled.allows(item):
            dense[item.group_key] = (1.0 - float(distance), item)


class Searcher:
    """Searches one store's collection; remembers its count and the ids each filter
    allows (both forgotten after any write, see :meth:`forget`)."""

    def __init__(self, connection: Connection, groups: Groups) -> None:
        self._connection = connection
        self._groups = groups
        self._count: tuple[int, float] | None = None  # (count, time.monotonic() read)
        #: where-clause (JSON) -> (allowed ids, as a set, count then, time.monotonic() then)
        self._allowed: dict[str, tuple[list[str], frozenset[str], int, float]] = {}

    def forget(self) -> None:
        self._count = None
        self._allowed = {}

    def recent_count(self) -> int:
        """The item count, read again after :data:`COUNT_TTL` seconds or a write through
        this Store (what a filter's allowed ids are checked against). Chroma serialises the
        calls of concurrent requests, so each saved call counts; another process's writes
        are seen within COUNT_TTL."""
        now = time.monotonic()
        if self._count is None or now - self._count[1] > COUNT_TTL:
            self._count = (self._connection.collection.count(), now)
        return self._count[0]

    def with_feedback(self, vector: Any, compiled: CompiledFilters, feedback: Feedback) -> Any:
        """``vector`` moved towards the mean of its best hits (see :class:`Feedback`)."""
        top = self.search(vector, feedback.depth, compiled)
        stored = self._connection.collection.vectors([c.id for c in top])
        return moved_towards(vector, list(stored.values()), feedback.weight)

    def search(self, vector: Any, k: int, compiled: CompiledFilters) -> list[Candidate]:
        """The ``k`` best groups for ``vector``, one candidate each.

        Raises:
            ShortIndex: an unfiltered query read fewer items than the store holds.
        """
        if compiled.excluded_ids:
            groups = {item.group_key for item in self._groups.items(list(compiled.excluded_ids))}
            compiled = compiled.excluding_groups(groups)
        dense = self._nearest(vector, k, compiled)
        top = sorted(dense.items(), key=lambda entry: -entry[1][0])[:k]
        return candidates(top, compiled, self._groups.variants([group for group, _ in top]))

    def _nearest(self, vector: Any, k: int, compiled: CompiledFilters) -> Nearest:
        """The nearest allowed item of at least ``k`` groups (all, if fewer exist)."""
        collection = self._connection.collection
        fetch = max(3 * k, k + 20)  # Chroma returns fewer when it holds fewer
        dense: Nearest = {}
        subset: list[str] | None = None  # the ids a filter allows, for Chroma's ``ids=``
        if compiled.where is not None:
            subset, members, share = self._allowed_ids(compiled)
            if self._broad_search(vector, k, fetch, members, share, compiled, dense):
                return dense
            dense.clear()
            if not subset:
                return dense
        read: set[str] = set()  # hits already read, of earlier rounds
        while True:
            found, distances, metas = collection.nearest(
                vector, fetch, ids=subset, with_metadata=not read
            )
            if metas is None:  # a larger round: read only the hits not read before
                fresh = [(i, d) for i, d in zip(found, distances, strict=False) if i not in read]
                hits = self._read_hits(fresh)
            else:
                hits = [(self._groups.note(m), d) for m, d in zip(metas, distances, strict=False)]
            read.update(found)
            _keep_nearest(hits, compiled, dense)
            if compiled.where is None:
                self._check_index(len(found), fetch)
            if len(dense) >= k or len(found) < fetch:
                return dense
            fetch *= 2

    def _broad_search(
        self,
        vector: Any,
        k: int,
        fetch: int,
        ids: frozenset[str],
        share: float,
        compiled: CompiledFilters,
        dense: Nearest,
    ) -> bool:
        """Search a broad filter's items without restricting the index; fills ``dense``
        and says whether that found ``k`` groups (``False``: search only the ``ids``).

        When the filter lets through ``share`` of the store, at least ``fetch /
        OVERFETCH_LIMIT``, the nearest ``fetch / share`` items (twice that, for margin;
        ids and distances only) are cut to the allowed ones. They are the nearest allowed
        items, as every other allowed one is farther. Near-copies can crowd them all out
        (the scale bench's data): then ``False``.
        """
        if share <= 0:
            return False
        n = int(2 * fetch / share) + 1
        if n > OVERFETCH_LIMIT:
            return False  # a narrow filter: searching only its ids is the cheaper way
        found, distances, _ = self._connection.collection.nearest(vector, n)
        self._check_index(len(found), n)
        nearest = [(i, d) for i, d in zip(found, distances, strict=False) if i in ids]
        for start in range(0, len(nearest), fetch):  # as many as Chroma's filter would give
            _keep_nearest(self._read_hits(nearest[start : start + fetch]), compiled, dense)
            if len(dense) >= k:
                return True
        return len(found) < n  # the whole store was read

    def _read_hits(self, hits: Sequence[tuple[str, float]]) -> list[tuple[Item, float]]:
        """The stored items of these (id, distance) hits, in their order."""
        found = {item.id: item for item in self._groups.items([i for i, _ in hits])}
        return [(found[i], d) for i, d in hits if i in found]

    def _check_index(self, returned: int, asked: int) -> None:
        """An unfiltered query that returned fewer than asked read the whole index: fewer
        than the store holds means the index lost items (an overlapping write, say)."""
        if returned < asked:
            total = self._connection.collection.count()
            if returned < total:
                raise ShortIndex(
                    f"the store's vector index holds {returned} of its {total} items",
                    hint=REPAIR_HINT,
                )

    def _allowed_ids(self, compiled: CompiledFilters) -> tuple[list[str], frozenset[str], float]:
        """The ids ``compiled.where`` lets through (a list and a set) and their share of
        the store, remembered for :data:`ALLOWED_TTL` seconds while the count stays the
        same (a write through this Store forgets them at once). Reading the ids of one
        domain at 100,000 items takes 63 ms, once."""
        key = compiled.where_key
        total = self.recent_count()
        now = time.monotonic()
        cached = self._allowed.get(key)
        if cached is None or cached[2] != total or now - cached[3] > ALLOWED_TTL:
            got = self._connection.collection.get(where=compiled.where, include=[])
            ids = list(got["ids"])
            cached = (ids, frozenset(ids), total, now)
            self._allowed[key] = cached
            while len(self._allowed) > _ALLOWED_KEPT:
                self._allowed.pop(next(iter(self._allowed)))
        return cached[0], cached[1], (len(cached[0]) / total if total else 0.0)


def candidates(
    top: Sequence[tuple[str, tuple[float, Item]]],
    compiled: CompiledFilters,
    members: dict[str, list[Item]],
) -> list[Candidate]:
    """One candidate per group of ``top`` (best first: the group, its score and the item
    that matched), with the language versions in ``members`` that the filters allow."""
    prefer = compiled.filters.prefer_languages
    out: list[Candidate] = []
    for group, (score, hit) in top:
        # The language versions the filters allow (languages, region, price: a variant
        # priced over the ceiling is not shown; the hit always qualifies), in a stable
        # order; the one shown is the first preferred language among them.
        variants = sorted(
            [v for v in members.get(group) or [hit] if v.id == hit.id or compiled.passes(v)],
            key=lambda it: (it.language or "", it.id),
        )
        shown = preferred_variant(variants, prefer, hit)
        out.append(
            Candidate(
                id=shown.id,
                group=group,
                score=round(score, 6),
                title=shown.title,
                description=shown.description,
                language=shown.language or "",
                domain=shown.domain,
                tags=shown.tags,
                regions=shown.regions,
                attributes=dict(shown.attributes),
                variants=tuple(  # fields of validated Items: no second validation
                    Variant.model_construct(
                        id=v.id, language=v.language or "", title=v.title, description=v.description
                    )
                    for v in variants
                ),
            )
        )
    return out


def with_query_language(filters: Filters | None, query: str) -> Filters:
    """``filters``, showing each group in the query's detected language when no
    preferred languages are given."""
    filters = filters or Filters()
    if not filters.prefer_languages:
        guess = detect_language(query)
        if guess is not None:
            filters = filters.model_copy(update={"prefer_languages": (guess.code,)})
    return filters
