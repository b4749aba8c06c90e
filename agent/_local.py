"""The local ranker: a real ranker without an LLM (BRIEF section 3).

Score = similarity to the request + similarity to what the user liked (weighted by rating
and event), minus penalties for items the user cannot read (language-sensitive domains) or
cannot buy (region), then MMR for diversity. Reasons come from localized templates
(``locales/reasons.yaml``) and always name the concrete link.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agent._profile import LANGUAGE_SENSITIVE_DOMAINS, Interest, UserContext
from retrieval import Candidate, Store

__all__ = ["LocalRanker", "Scored", "localized_reason", "reason_languages"]

W_REQUEST = 0.6
W_HISTORY = 0.35
UNREADABLE_PENALTY = 0.12
REGION_PENALTY = 0.2
MMR_LAMBDA = 0.8
LINK_SPECIFICITY = 1.0  # z-score of a history item's similarity across the candidates


@functools.cache
def _reasons() -> dict[str, dict[str, str]]:
    path = Path(__file__).parent / "locales" / "reasons.yaml"
    data: dict[str, dict[str, str]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def reason_languages() -> list[str]:
    """Languages the local ranker can explain itself in."""
    return sorted(_reasons())


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
    table = _reasons().get(language) or _reasons()["en"]
    if interest is not None:
        title = _short(interest.title)
        if interest.rating is not None:
            rating = f"{interest.rating:g}"
            return table["rated"].format(title=title, rating=rating)
        kind = interest.event if interest.item_id else "text"
        return table.get(kind, table["like"]).format(title=title)
    if anchor:
        return table["similar"].format(title=_short(anchor))
    if tag:
        return table["tag"].format(tag=tag)
    return table["query"].format(query=_short(query.strip(), 60))


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    reason: str


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n else v


class LocalRanker:
    """Ranks candidates with embeddings and rules; explains with localized templates."""

    spec = "local"

    def __init__(self, store: Store | None = None) -> None:
        self.store = store

    def vectors(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """Unit vectors of the candidates: stored ones, else embedded as passages now."""
        assert self.store is not None
        stored = self.store.vectors([c.id for c in candidates])
        missing = [c for c in candidates if c.id not in stored]
        if missing:
            fresh = self.store.embedder.embed_passages(
                [f"{c.title}. {c.description}" for c in missing]
            )
            stored.update({c.id: v for c, v in zip(missing, fresh, strict=True)})
        return np.vstack([_unit(stored[c.id]) for c in candidates])

    def _interest_vectors(self, context: UserContext) -> list[tuple[Interest, np.ndarray]]:
        if self.store is None or not context.interests:
            return []
        stored = self.store.vectors([i.item_id for i in context.interests if i.item_id])
        texts = [i for i in context.interests if not i.item_id and i.text]
        fresh = (
            self.store.embedder.embed_queries([i.text for i in texts])
            if texts
            else np.zeros((0, 1), dtype=np.float32)
        )
        by_text = {i.text: _unit(v) for i, v in zip(texts, fresh, strict=True)}
        out = []
        for interest in context.interests:
            if interest.item_id and interest.item_id in stored:
                out.append((interest, _unit(stored[interest.item_id])))
            elif interest.text in by_text:
                out.append((interest, by_text[interest.text]))
        return out

    def rank(
        self,
        query: str,
        candidates: Sequence[Candidate],
        context: UserContext,
        language: str,
        k: int | None = None,
        anchor: str | None = None,
    ) -> list[Scored]:
        """Order ``candidates`` for the user; every one is returned unless ``k`` cuts.

        ``anchor``: the title of the item the request asks for more of, named in reasons.
        """
        if not candidates:
            return []
        if self.store is None:
            scored = [
                Scored(c, c.score, self.reason(c, None, query, language, anchor))
                for c in candidates
            ]
            return sorted(scored, key=lambda s: -s.score)[:k]
        vectors = self.vectors(candidates)
        interests = self._interest_vectors(context)
        region = context.hints.region if context.hints else None
        n = len(candidates)
        if interests:
            matrix = np.vstack([v for _, v in interests])
            weights = np.array([i.weight for i, _ in interests])
            # Cross-domain interests count, a little less than same-domain ones.
            domain = np.array(
                [[1.0 if i.domain == c.domain else 0.8 for i, _ in interests] for c in candidates]
            )
            sims = (vectors @ matrix.T) * domain
            pulls = sims * weights
            personal = np.clip(pulls, 0, None).max(axis=1) + np.clip(pulls, None, 0).min(axis=1)
            # A history item is named in the reason only where it is specific to this
            # candidate (well above its similarity to the other candidates) and explains
            # it at least as well as the request does: relative tests, valid for any model.
            spread = sims.std(axis=0) + 1e-6
            specific = (sims - sims.mean(axis=0)) / spread >= LINK_SPECIFICITY
            request = np.array([c.score for c in candidates])[:, None]
            eligible = specific & (weights > 0)[None, :] & (sims >= request)
        else:
            personal = np.zeros(n)
            eligible = np.zeros((n, 0), dtype=bool)
            sims = np.zeros((n, 0))
        base: list[float] = []
        links: list[Interest | None] = []
        for i, c in enumerate(candidates):
            score = W_REQUEST * c.score + W_HISTORY * float(personal[i])
            if c.domain in LANGUAGE_SENSITIVE_DOMAINS and context.languages:
                readable = {v.language for v in c.variants} | {c.language}
                if not readable & set(context.languages):
                    score -= UNREADABLE_PENALTY
            if region and c.regions and region not in c.regions:
                score -= REGION_PENALTY
            base.append(score)
            if eligible[i].any():
                links.append(interests[int(np.where(eligible[i], sims[i], -np.inf).argmax())][0])
            else:
                links.append(None)
        order = self._mmr(base, vectors, k or n)
        return [
            Scored(
                candidates[i],
                round(base[i], 6),
                self.reason(candidates[i], links[i], query, language, anchor),
            )
            for i in order
        ]

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
        if interest is not None:
            return localized_reason(language, query=query, interest=interest)
        if anchor:
            return localized_reason(language, query=query, anchor=anchor)
        lowered = query.lower()
        tag = next((t for t in candidate.tags if t.lower() in lowered), None)
        return localized_reason(language, query=query, tag=tag)


def make_local(arg: str | None = None, **_: Any) -> LocalRanker:
    return LocalRanker()
