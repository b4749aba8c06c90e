"""Test doubles for retrieval: a store and an embedder that need no model and no database.

Usage::

    from polyrank.agent import Agent
    from polyrank.retrieval.testing import HashEmbedder, InMemoryStore

    store = InMemoryStore(HashEmbedder())
    store.ingest(load_catalog("catalog.jsonl"))
    agent = Agent(store=store)                      # no encoder loaded, no Chroma opened

:class:`InMemoryStore` satisfies the same Protocol as the Chroma store
(:class:`~polyrank.retrieval.WritableStore`) and shares its filters, group merging and
candidate building, so what a unit test sees is what a search of the real store returns
for the same vectors.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from polyrank.retrieval._catalog import Item, content_hash
from polyrank.retrieval._filters import compile_filters, unknown_domain
from polyrank.retrieval._lexical import tokenize
from polyrank.retrieval._search import (
    Feedback,
    candidates,
    moved_towards,
    preferred_variant,
    with_query_language,
)
from polyrank.retrieval._types import Candidate, Filters
from polyrank.retrieval._writes import IngestReport, Progress, check_sync

__all__ = ["HashEmbedder", "InMemoryStore"]

Matrix = npt.NDArray[np.float32]
_WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=65536)
def _direction(token: str, dim: int) -> Matrix:
    """A fixed pseudo-random unit vector for ``token`` (from its hash, not Python's)."""
    seed = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    out: Matrix = v / np.linalg.norm(v)
    return out


class HashEmbedder:
    """Deterministic embeddings without a model: a text's vector is the normalised sum of
    one fixed random direction per word (every case-folded word, and the tokens of
    :func:`polyrank.retrieval._lexical.tokenize`: stems, compound heads, characters of
    scripts without spaces); a text without words gets a direction of its own. Texts that
    share words are near, the same text is its own nearest, and queries and passages are
    embedded alike. Nothing crosses languages.

    Usage: ``HashEmbedder(dim=32).embed_queries(["hiking boots"])``.
    """

    def __init__(self, dim: int = 64) -> None:
        if dim < 2:
            raise ValueError(f"dim must be at least 2, got {dim}")
        self.dim = dim
        self.spec = f"hash:{dim}"

    def _embed(self, texts: Sequence[str]) -> Matrix:
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = set(tokenize(text)) | set(_WORD.findall(text.casefold()))
            for token in sorted(words) or [f"\x00{text}"]:
                rows[row] += _direction(token, self.dim)
            norm = float(np.linalg.norm(rows[row]))
            if norm == 0.0:  # words that cancel out exactly: fall back to the text itself
                rows[row] = _direction(f"\x00{text}", self.dim)
            else:
                rows[row] /= norm
        return rows

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        return self._embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        return self._embed(texts)


class InMemoryStore:
    """A store held in a dict: what :class:`~polyrank.retrieval.Store` answers, without
    Chroma (cosine similarity over every stored vector; fine for a few thousand items).

    Args:
        embedder: embeds passages on ingest and queries on search (default
            :class:`HashEmbedder`).
    """

    def __init__(self, embedder: Any = None) -> None:
        self.embedder = embedder if embedder is not None else HashEmbedder()
        self._items: dict[str, Item] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._digests: dict[str, str] = {}

    def close(self) -> None:
        """Nothing to release (kept for the Protocol)."""

    def __enter__(self) -> InMemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def count(self) -> int:
        return len(self._items)

    def ids(self) -> list[str]:
        return list(self._items)

    def ingest(
        self,
        items: Sequence[Item],
        progress: Progress | None = None,
        *,
        sync: bool = False,
        allow_delete_all: bool = False,
    ) -> IngestReport:
        """Upsert ``items`` (unchanged ones, by content hash, are not re-embedded); with
        ``sync``, delete the stored items missing from ``items`` (the same guard as the
        real store: more than half of them needs ``allow_delete_all``)."""
        started = time.perf_counter()
        given = {item.id for item in items}
        gone = [i for i in self._items if i not in given] if sync else []
        if gone and not allow_delete_all:
            check_sync(len(gone), len(self._items))
        digests = [content_hash(item) for item in items]
        todo = [i for i, item in enumerate(items) if self._digests.get(item.id) != digests[i]]
        vectors = self.embedder.embed_passages([items[i].passage() for i in todo]) if todo else []
        if progress and todo:
            progress(len(todo), len(todo))
        added = sum(1 for i in todo if items[i].id not in self._items)
        for i, vector in zip(todo, vectors, strict=True):
            self._items[items[i].id] = items[i]
            self._vectors[items[i].id] = np.asarray(vector, dtype=np.float32)
            self._digests[items[i].id] = digests[i]
        self.delete(gone)
        return IngestReport(
            total=len(items),
            added=added,
            updated=len(todo) - added,
            unchanged=len(items) - len(todo),
            embedded=len(todo),
            seconds=time.perf_counter() - started,
            deleted=len(gone),
        )

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Delete these items; returns the ids that were stored."""
        present = [i for i in dict.fromkeys(ids) if i in self._items]
        for i in present:
            del self._items[i], self._vectors[i], self._digests[i]
        return present

    def get(self, ids: Sequence[str]) -> list[Item]:
        return [self._items[i] for i in ids if i in self._items]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return {i: self._vectors[i] for i in ids if i in self._vectors}

    def variants(self, groups: Sequence[str]) -> dict[str, list[Item]]:
        wanted = set(groups)
        found: dict[str, list[Item]] = {g: [] for g in groups}
        for item in self._items.values():
            if item.group_key in wanted:
                found[item.group_key].append(item)
        return found

    def search_by_id(self, item_id: str, prefer_languages: Sequence[str] = ()) -> Item | None:
        item = self._items.get(item_id)
        if item is None:
            return None
        versions = self.variants([item.group_key])[item.group_key]
        return preferred_variant(versions, prefer_languages, item)

    def check_domains(self, domains: Sequence[str]) -> tuple[str, ...]:
        wanted = tuple(d.strip().lower() for d in domains)
        known = {item.domain for item in self._items.values()}
        unknown = [d for d in wanted if d not in known]
        if not unknown or not self._items:
            return wanted
        raise unknown_domain(unknown[0], known)

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        feedback: Feedback | None = None,
        vector: Any = None,
    ) -> list[Candidate]:
        """The ``k`` best groups for ``query``, one candidate each (see ``Store.search``)."""
        if k <= 0:
            return []
        filters = with_query_language(filters, query)
        if vector is None:
            vector = self.embedder.embed_queries([query])[0]
        if feedback is not None and feedback.weight > 0 and feedback.depth > 0:
            top = self.search_by_vector(vector, feedback.depth, filters)
            hits = list(self.vectors([c.id for c in top]).values())
            vector = moved_towards(vector, hits, feedback.weight)
        return self.search_by_vector(vector, k, filters)

    def search_by_vector(self, vector: Any, k: int, filters: Filters) -> list[Candidate]:
        """Like :meth:`search`, for a query already embedded with this store's model."""
        compiled = compile_filters(filters)
        if compiled.excluded_ids:
            groups = {item.group_key for item in self.get(list(compiled.excluded_ids))}
            compiled = compiled.excluding_groups(groups)
        query = np.asarray(vector, dtype=np.float32)
        query = query / (np.linalg.norm(query) or 1.0)
        scored = []
        for item_id, stored in self._vectors.items():
            cosine = float(stored @ query / (np.linalg.norm(stored) or 1.0))
            scored.append((cosine, item_id))
        scored.sort(key=lambda entry: (-entry[0], entry[1]))
        best: dict[str, tuple[float, Item]] = {}
        for cosine, item_id in scored:
            item = self._items[item_id]
            if item.group_key not in best and compiled.allows(item):
                best[item.group_key] = (cosine, item)
                if len(best) >= k:
                    break
        top = list(best.items())
        return candidates(top, compiled, self.variants([group for group, _ in top]))
