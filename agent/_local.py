"""The local ranker: a real ranker without an LLM.

Score = similarity to the request + what the request says it wants (the domain it names,
its own words found in the item, "cheap", "for kids": :mod:`agent._intent`, soft boosts) +
similarity to what the user liked (weighted by rating and event), minus penalties for items
the user cannot read (language-sensitive domains) or cannot buy (region), then MMR for
diversity. Reasons come from localized templates (``locales/reasons.yaml``): the concrete
link (a history item of the same domain that is really close, or the request's own word
found in the item), then what the item is, in the user's language: its domain, its language
when it differs, its price.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent._intent import Intent, read_intent
from agent._locale import in_language
from agent._locale import table as locale_table
from agent._profile import LANGUAGE_SENSITIVE_DOMAINS, Interest, UserContext
from agent._ranking import Ranking, RankRequest
from retrieval import Candidate, Store, to_eur
from retrieval._lexical import spaceless, tokenize

__all__ = ["LocalRanker", "localized_reason", "reason_languages"]

W_REQUEST = 0.6
W_HISTORY = 0.35
#: Soft boosts from the request's intent (weights measured on evals/suites/core.yaml).
W_DOMAIN = 0.04  # the item is of a domain the request names (half for a second domain)
W_LEXICAL = 0.0  # times the BM25 strength (0..1); 0.03 cost top-1 agreement 0.786 → 0.722
W_CHEAP = 0.03  # "cheap": times how cheap the item is among the priced candidates
W_KIDS = 0.03  # "for kids": items tagged for children
KIDS_TAGS = frozenset({"kids", "children", "family", "animation", "toy"})
UNREADABLE_PENALTY = 0.12
#: An item not sold in the user's region. 0.2 sank it below unrelated items (a Seoul user
#: asking what to take camping never saw the tent, sold in US/GB/CA/AU); 0.05 raised the
#: core suite's nDCG@5 0.807 -> 0.813 and 0.727 -> 0.738, RBO 0.735 -> 0.742 and 0.660 ->
#: 0.671, with every gate met.
REGION_PENALTY = 0.05
#: Relevance vs diversity in MMR. 0.8 cost nDCG@5 and cross-language agreement without a
#: gate's worth of diversity: 0.95 raised the core suite's nDCG@5 0.789 -> 0.807 (filtered
#: cases) and 0.665 -> 0.727 (unfiltered), RBO 0.678 -> 0.735 and 0.583 -> 0.660, top-1
#: agreement unchanged, every diversity gate still met. 1.0 (no MMR) failed one RBO gate.
MMR_LAMBDA = 0.95
LINK_SPECIFICITY = 1.0  # z-score of a history item's similarity across the candidates
#: A history item of the candidate's domain is named only when its similarity to the
#: candidate reaches this (cosine of the stored fusion vectors). Measured on pairs of the
#: sample users: related same-domain pairs scored 0.69-0.79 (Italian / Japanese cookbook
#: 0.69, two hiking guides 0.79), loose ones 0.56-0.66 (ramen kit / kimchi 0.64, headphones /
#: headlamp 0.66, BBQ sauce / shortbread 0.56).
LINK_MIN = 0.665
#: Free-text history vectors remembered per ranker (oldest dropped first).
TEXT_VECTOR_CACHE = 1024


@functools.cache
def _locale(language: str) -> Any:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def language_name(code: str, in_language: str) -> str:
    """The name of language ``code`` written in ``in_language`` ("pt" in "es": portugués)."""
    return str(_locale(in_language).languages.get(code, code))


def domain_name(domain: str, language: str) -> str:
    """A catalogue domain's name in ``language`` ("films" in "es": película)."""
    table = in_language("reasons", language)
    return str(table.get("domains", {}).get(domain, domain))


def format_price(candidate: Candidate, language: str) -> str | None:
    """The candidate's price in its currency, written the way ``language`` writes money."""
    from babel.numbers import UnknownCurrencyError, format_currency

    price = candidate.attributes.get("price")
    currency = candidate.attributes.get("currency")
    if not isinstance(price, int | float) or isinstance(price, bool) or not currency:
        return None
    try:
        return str(format_currency(price, str(currency), locale=_locale(language)))
    except (UnknownCurrencyError, ValueError):
        return f"{price} {currency}"


def facts(candidate: Candidate, language: str) -> str:
    """What the item is, in ``language``: its domain, its language if another, its price."""
    parts = [domain_name(candidate.domain, language)]
    if candidate.language and candidate.language != language:
        parts[0] += f" ({language_name(candidate.language, language)})"
    price = format_price(candidate, language)
    if price:
        parts.append(price)
    return ", ".join(parts)


def matched_word(query: str, candidate: Candidate) -> str | None:
    """The request's own word (or, in Chinese, Japanese, Korean, its longest run of two or
    more characters) that the item's text contains: quoted back to the user in the reason."""
    texts = [candidate.title, candidate.description, *candidate.tags]
    texts += [f"{v.title} {v.description}" for v in candidate.variants]
    haystack = " ".join(texts)
    tokens = set(tokenize(haystack))
    best: str | None = None
    for word in re.findall(r"\w+", query):
        if spaceless(word):
            lowered = haystack.casefold()
            for size in range(len(word), 1, -1):
                hit = next(
                    (
                        word[i : i + size]
                        for i in range(len(word) - size + 1)
                        if word[i : i + size].casefold() in lowered
                        and not _particles(word[i : i + size])
                    ),
                    None,
                )
                if hit:
                    if best is None or len(hit) > len(best):
                        best = hit
                    break
        elif set(tokenize(word)) & tokens and (best is None or len(word) > len(best)):
            best = word
    return best


def _particles(text: str) -> bool:
    """Only hiragana: grammar, not content."""
    return all("\u3040" <= ch <= "\u309f" for ch in text)


def reason_languages() -> list[str]:
    """Languages the local ranker can explain itself in."""
    return sorted(locale_table("reasons"))


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def localized_reason(
    language: str,
    *,
    query: str,
    interest: Interest | None = None,
    tag: str | None = None,
    anchor: str | None = None,
) -> str:
    """One reason in ``language`` (English when it has no templates).

    ``anchor`` is the title of the item the user asked for more of ("more like 2").
    """
    table = in_language("reasons", language)
    if interest is None and not anchor and not tag and query == "":
        return str(table["fits"])
    if interest is not None:
        title = _short(interest.title)
        if interest.rating is not None:
            rating = f"{interest.rating:g}"
            return str(table["rated"]).format(title=title, rating=rating)
        kind = interest.event if interest.item_id else "text"
        return str(table.get(kind, table["like"])).format(title=title)
    if anchor:
        return str(table["similar"]).format(title=_short(anchor))
    if tag:
        return str(table["tag"]).format(tag=tag)
    return str(table["query"]).format(query=_short(query.strip(), 60))


@dataclass(frozen=True)
class _Scores:
    base: list[float]
    links: list[Interest | None]  # the history item each reason names, if any
    vectors: np.ndarray | None

    def reason(self, i: int, request: RankRequest, candidate: Candidate) -> str:
        """The reason of candidate ``i``: written only for the items that are shown."""
        return LocalRanker.reason(
            candidate, self.links[i], request.query, request.language, request.anchor
        )


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n else v


class LocalRanker:
    """Ranks candidates with embeddings and rules; explains with localized templates.

    A :class:`~agent._ranking.Ranker`; it answers when no LLM is configured and whenever
    the LLM fails.
    """

    spec = "local"

    def __init__(self, store: Store | None = None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._texts: dict[str, np.ndarray] = {}

    def vectors(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """Unit vectors of the candidates: stored ones, else embedded as passages now."""
        return self._vectors(candidates)[0]

    def _vectors(
        self, candidates: Sequence[Candidate], also: Sequence[str] = ()
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`vectors`, and the stored vectors of the item ids ``also`` (the user's
        history), fetched in the same store call."""
        assert self.store is not None
        stored = self.store.vectors([c.id for c in candidates] + list(also))
        fetched = {i: stored[i] for i in also if i in stored}
        missing = [c for c in candidates if c.id not in stored]
        if missing:
            fresh = self.store.embedder.embed_passages(
                [f"{c.title}. {c.description}" for c in missing]
            )
            stored.update({c.id: v for c, v in zip(missing, fresh, strict=True)})
        return np.vstack([_unit(stored[c.id]) for c in candidates]), fetched

    def _text_vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Unit query vectors of free-text history, remembered per text (a profile's texts
        were embedded again on every request)."""
        assert self.store is not None
        with self._lock:
            known = {t: self._texts[t] for t in texts if t in self._texts}
        new = [t for t in dict.fromkeys(texts) if t not in known]
        if new:
            fresh = self.store.embedder.embed_queries(new)
            with self._lock:
                for text, vector in zip(new, fresh, strict=True):
                    if len(self._texts) >= TEXT_VECTOR_CACHE:
                        self._texts.pop(next(iter(self._texts)))
                    self._texts[text] = known[text] = _unit(vector)
        return known

    def _interest_vectors(
        self, context: UserContext, stored: dict[str, np.ndarray]
    ) -> list[tuple[Interest, np.ndarray]]:
        if self.store is None or not context.interests:
            return []
        by_text = self._text_vectors(
            [i.text for i in context.interests if not i.item_id and i.text]
        )
        out = []
        for interest in context.interests:
            if interest.item_id and interest.item_id in stored:
                out.append((interest, _unit(stored[interest.item_id])))
            elif interest.text in by_text:
                out.append((interest, by_text[interest.text]))
        return out

    def rank(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> Ranking:
        """Order ``candidates`` for the user: the best ``request.k``, diversified (MMR)."""
        if not candidates:
            return Ranking(ranker=self.spec)
        scored = self._score(request, candidates, context)
        if scored.vectors is None:
            order = sorted(range(len(candidates)), key=lambda i: -scored.base[i])[: request.k]
        else:
            order = self._mmr(scored.base, scored.vectors, request.k)
        return Ranking(
            ranker=self.spec,
            items=tuple(candidates[i] for i in order),
            scores=tuple(round(scored.base[i], 6) for i in order),
            reasons=tuple(scored.reason(i, request, candidates[i]) for i in order),
        )

    async def arank(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> Ranking:
        """:meth:`rank` in a worker thread (it is CPU work: scores, MMR, reasons)."""
        return await asyncio.to_thread(self.rank, request, candidates, context)

    def explain(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> dict[str, str]:
        """This ranker's reason for each candidate, by item id, from one scoring of them
        all (what fills in for an LLM reason that is missing or in the wrong language)."""
        if not candidates:
            return {}
        scored = self._score(request, candidates, context)
        return {c.id: scored.reason(i, request, c) for i, c in enumerate(candidates)}

    def _score(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> _Scores:
        """Every candidate's score and the history item its reason names (in input order),
        and their unit vectors."""
        if self.store is None:
            return _Scores([c.score for c in candidates], [None] * len(candidates), None)
        history = [i.item_id for i in context.interests if i.item_id]
        vectors, fetched = self._vectors(candidates, also=history)  # one store call
        interests = self._interest_vectors(context, fetched)
        region = context.hints.region if context.hints else None
        intent = read_intent(request.query)
        n = len(candidates)
        if interests:
            matrix = np.vstack([v for _, v in interests])
            weights = np.array([i.weight for i, _ in interests])
            # Cross-domain interests count, a little less than same-domain ones.
            same = np.array(
                [
                    [i.domain is None or i.domain == c.domain for i, _ in interests]
                    for c in candidates
                ]
            )
            sims = vectors @ matrix.T
            pulls = sims * np.where(same, 1.0, 0.8) * weights
            personal = np.clip(pulls, 0, None).max(axis=1) + np.clip(pulls, None, 0).min(axis=1)
            # A history item is named in the reason only where it is of the candidate's
            # domain, close in absolute terms (LINK_MIN), specific to this candidate (well
            # above its similarity to the other candidates) and explains it at least as well
            # as the request does.
            spread = sims.std(axis=0) + 1e-6
            specific = (sims - sims.mean(axis=0)) / spread >= LINK_SPECIFICITY
            request_sim = np.array([c.score for c in candidates])[:, None]
            eligible = (
                specific
                & same
                & (sims >= LINK_MIN)
                & (weights > 0)[None, :]
                & (sims >= request_sim)
            )
        else:
            personal = np.zeros(n)
            eligible = np.zeros((n, 0), dtype=bool)
            sims = np.zeros((n, 0))
        boosts = self._intent_boosts(intent, candidates)
        base: list[float] = []
        links: list[Interest | None] = []
        for i, c in enumerate(candidates):
            score = W_REQUEST * c.score + W_HISTORY * float(personal[i]) + boosts[i]
            if c.domain in LANGUAGE_SENSITIVE_DOMAINS and context.languages:
                readable = {v.language for v in c.variants} | {c.language}
                if not readable & set(context.languages):
                    score -= UNREADABLE_PENALTY
            if region and c.regions and region not in c.regions:
                score -= REGION_PENALTY
            base.append(score)
            link = None
            if eligible[i].any():
                link = interests[int(np.where(eligible[i], sims[i], -np.inf).argmax())][0]
            links.append(link)
        return _Scores(base, links, vectors)

    @staticmethod
    def _intent_boosts(intent: Intent, candidates: Sequence[Candidate]) -> list[float]:
        """Soft boosts for what the request names: domain, its words, cheap, for kids."""
        prices = {
            c.id: p
            for c in candidates
            if (p := to_eur(c.attributes.get("price"), c.attributes.get("currency"))) is not None
        }
        cheapness: dict[str, float] = {}
        if intent.cheap and len(prices) > 1:
            ordered = sorted(prices, key=lambda i: prices[i])
            cheapness = {i: 1 - r / (len(ordered) - 1) for r, i in enumerate(ordered)}
        out = []
        for c in candidates:
            boost = W_LEXICAL * c.lexical
            if c.domain in intent.domains:
                boost += W_DOMAIN * (1.0 if intent.domains[0] == c.domain else 0.5)
            boost += W_CHEAP * cheapness.get(c.id, 0.0)
            if intent.kids and KIDS_TAGS & {t.lower() for t in c.tags}:
                boost += W_KIDS
            out.append(boost)
        return out

    @staticmethod
    def _mmr(base: Sequence[float], vectors: np.ndarray, k: int) -> list[int]:
        chosen: list[int] = []
        left = list(range(len(base)))
        while left and len(chosen) < k:
            if chosen:
                redundancy = (vectors[left] @ vectors[chosen].T).max(axis=1)
            else:
                redundancy = np.zeros(len(left))
            values = [
                MMR_LAMBDA * base[j] - (1 - MMR_LAMBDA) * float(redundancy[n])
                for n, j in enumerate(left)
            ]
            pick = left[int(np.argmax(values))]
            chosen.append(pick)
            left.remove(pick)
        return chosen

    @staticmethod
    def reason(
        candidate: Candidate,
        interest: Interest | None,
        query: str,
        language: str,
        anchor: str | None = None,
    ) -> str:
        """The concrete link (history, "more like", the request's own word), then what the
        item is (:func:`facts`), all in ``language``."""
        if interest is not None:
            link = localized_reason(language, query=query, interest=interest)
        elif anchor:
            link = localized_reason(language, query=query, anchor=anchor)
        else:
            word = matched_word(query, candidate)
            link = localized_reason(language, query="", tag=word)
        return f"{link} · {facts(candidate, language)}"
