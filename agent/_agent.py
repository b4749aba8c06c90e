"""The polyrank façade: ingestion, search and recommendation.

Usage::

    from agent import Agent
    agent = Agent(store=".polyrank/store")                  # the local ranker answers
    agent.ingest("data/catalog.jsonl")
    rec = agent.recommend("Quiero aprender a programar", user="data/users/ana.yaml", k=5)
    for item in rec.items:
        print(item.rank, item.title, item.reason)
    print(rec.trace.ranker, rec.trace.fallback)
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agent._cache import ReplyCache
from agent._intent import request_text
from agent._llm import ChatModel
from agent._local import LocalRanker
from agent._profile import UserContext, UserProfile, build_context, load_profile
from agent._ranking import Ranker, RankRequest
from agent._rerank import LLMRanker, RerankConfig
from agent._result import RankedItem, Recommendation, Trace
from agent.errors import ConfigError
from agent.registry import names, resolve, split_spec
from prompts import PromptSet
from retrieval import (
    Candidate,
    Feedback,
    Filters,
    IngestReport,
    Store,
    detect_language,
    load_catalog,
)
from retrieval._embeddings import Embedder

__all__ = ["DEFAULT_PRICES", "Agent"]

#: USD per million tokens (prompt, completion); override with ``Agent(prices=...)``.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
}
#: Below this detector confidence, or for requests this short, the profile language decides.
MIN_CONFIDENCE = 0.5
MIN_LETTERS = 12


class Agent:
    """Multilingual recommendation agent.

    Args:
        store: a folder for embedded Chroma, ``chroma://HOST:PORT``, or an open
            :class:`~retrieval.Store`. Default ``.polyrank/store``.
        model: ``local`` (default), ``openai:MODEL``, or a :class:`ChatModel` object
            (e.g. :class:`agent.testing.ScriptedModel`).
        embeddings: an embedding spec or :class:`~retrieval.Embedder`. Default: the one
            the store was built with, else the measured default.
        base_url, api_key: for ``openai:`` models (any OpenAI-compatible server).
        prompts: a folder with your own ``system``/``rerank`` templates (sandboxed).
        cache: a folder for the LLM reply cache; ``None`` disables it.
        rerank: windows, passes and re-ask limits.
        candidates: how many candidates retrieval hands to the ranker.
        prices: USD per million (prompt, completion) tokens, by model name.
        timeout: seconds one request may spend on the LLM, transport retries and re-asks
            included (also the limit of each HTTP call); then the local ranker answers.
        max_tokens: answer budget of one LLM call (``openai:`` models).
        feedback: pseudo-relevance feedback for retrieval, e.g. ``Feedback()``; off by
            default (measured trade-offs in :class:`~retrieval.Feedback`).
    """

    def __init__(
        self,
        store: str | Path | Store | None = None,
        *,
        model: str | ChatModel = "local",
        embeddings: str | Embedder | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        prompts: str | Path | None = None,
        cache: str | Path | None = None,
        rerank: RerankConfig | None = None,
        candidates: int = 20,
        prices: dict[str, tuple[float, float]] | None = None,
        timeout: float = 60.0,
        max_tokens: int | None = None,
        feedback: Feedback | None = None,
    ) -> None:
        if isinstance(store, Store):
            if embeddings is not None:
                raise ConfigError("pass embeddings when opening the Store, not with an open one")
            self.store = store
        else:
            self.store = Store.open(str(store) if store else None, embeddings=embeddings)
        self.local = LocalRanker(self.store)
        self.prompts = PromptSet.load(prompts)
        self.candidates = candidates
        self.feedback = feedback
        self.prices = {**DEFAULT_PRICES, **(prices or {})}
        rerank = rerank or RerankConfig()
        if rerank.deadline is None:  # one deadline per request, across retries and re-asks
            rerank = dataclasses.replace(rerank, deadline=timeout)
        chat = self._chat_model(model, base_url, api_key, timeout, max_tokens)
        #: The ranker that answers: an :class:`LLMRanker`, or the local ranker.
        self.ranker: Ranker = self.local
        #: The chat model behind the LLM ranker (``None``: the local ranker only).
        self.llm: ChatModel | None = chat
        if chat is not None:
            llm = LLMRanker(
                chat,
                self.prompts,
                explain=self.local.explain,
                config=rerank,
                cache=ReplyCache(cache) if cache else None,
            )
            llm.check_templates()
            self.ranker = llm
        self.model = self.ranker.spec

    @staticmethod
    def _chat_model(
        model: str | ChatModel,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        max_tokens: int | None,
    ) -> ChatModel | None:
        """The chat model ``model`` names; ``None`` for ``local`` (no LLM)."""
        if not isinstance(model, str):
            return model
        name, _ = split_spec(model)
        if name == "local":
            return None
        known = ["local", *names("llm")]
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            suggestion = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown model {model!r}{suggestion} (known: {', '.join(known)})")
        options: dict[str, Any] = {"timeout": timeout}
        if max_tokens is not None:
            options["max_tokens"] = max_tokens
        chat: ChatModel = resolve("llm", model, base_url=base_url, api_key=api_key, **options)
        return chat

    def close(self) -> None:
        self.store.close()

    # -- catalogue ------------------------------------------------------------------
    def ingest(
        self, path: str | Path, progress: Callable[[int, int], None] | None = None
    ) -> IngestReport:
        """Validate a whole catalogue file, then upsert it (unchanged items are not re-embedded).

        Raises:
            CatalogError: listing every bad line; the store is left untouched.
        """
        return self.store.ingest(load_catalog(path), progress=progress)

    def search(self, query: str, k: int = 10, *, filters: Filters | None = None) -> list[Candidate]:
        """The ``k`` best catalogue items for ``query``, one per group.

        Each group is shown in the first of ``filters.prefer_languages`` it exists in; by
        default that is the detected language of the query (:meth:`retrieval.Store.search`).
        """
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        query = request_text(query)
        filters = filters or Filters()
        filters = filters.model_copy(update={"domains": self.store.check_domains(filters.domains)})
        return self.store.search(query, k, filters)

    # -- recommendation -------------------------------------------------------------
    @staticmethod
    def request_language(
        query: str, profile: UserProfile | None, explicit: str | None = None
    ) -> tuple[str, str]:
        """(language, source): explicit, else detected, else the profile's, else English.

        Short or ambiguous requests ("Pizza", "Tokyo") take the profile's language.
        """
        if explicit:
            return explicit.lower(), "explicit"
        guess = detect_language(query)
        letters = sum(ch.isalpha() for ch in query)
        cjk = guess is not None and guess.code in ("zh", "ja", "ko")
        sure = (
            guess is not None
            and guess.confidence >= MIN_CONFIDENCE
            and (letters >= MIN_LETTERS or cjk)
        )
        if guess is not None and sure:
            return guess.code, "detected"
        if profile is not None:
            if guess is not None and guess.code in profile.languages and letters >= MIN_LETTERS:
                return guess.code, "detected"
            return profile.languages[0], "profile"
        return (guess.code, "detected") if guess else ("en", "default")

    def recommend(
        self,
        query: str,
        user: str | Path | UserProfile | None = None,
        k: int = 5,
        *,
        filters: Filters | None = None,
        language: str | None = None,
        passes: int | None = None,
        like: str | None = None,
    ) -> Recommendation:
        """Recommend ``k`` items for ``query``, explained in the user's language.

        ``filters``: what may be recommended (:class:`~retrieval.Filters`: domains,
        languages, region, price, exclusions); the items in the user's history are always
        excluded. ``like``: an item id; recommend items similar to it instead ("more like
        #2").

        Never raises because the model misbehaved: the local ranker answers instead and the
        trace says so. Raises only for the caller's mistakes (``ConfigError``,
        ``ProfileError``).
        """
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        if like is None:
            query = request_text(query)
        started = time.perf_counter()
        latency: dict[str, float] = {}

        def lap(stage: str, since: float) -> float:
            now = time.perf_counter()
            latency[stage] = round((now - since) * 1000, 2)
            return now

        profile = load_profile(user) if isinstance(user, str | Path) else user
        lang, source = self.request_language(query, profile, language)
        mark = lap("language", started)
        context = build_context(profile, self.store, lang)
        mark = lap("context", mark)
        preferred = tuple(dict.fromkeys([lang, *(profile.languages if profile else ())]))
        given = filters or Filters()
        filters = given.model_copy(
            update={
                "domains": self.store.check_domains(given.domains),
                # History items are left out by group, as build_context already found them;
                # ids it did not find are not in the store.
                "exclude_groups": tuple(
                    dict.fromkeys([*context.exclude_groups, *given.exclude_groups])
                ),
                "prefer_languages": given.prefer_languages or preferred,
            }
        )
        anchor = None
        search_text = query
        if like is not None:
            found = self.store.search_by_id(like, preferred)
            if found is None:
                raise ConfigError(f"no item {like!r} in the store")
            anchor, search_text = found.title, f"{found.title}. {found.description}"
            filters = filters.model_copy(
                update={
                    "exclude_ids": (*filters.exclude_ids, like),
                    "domains": filters.domains or (found.domain,),
                }
            )
        candidates = self.store.search(
            search_text, max(self.candidates, k), filters, feedback=self.feedback
        )
        lap("retrieve", mark)
        return self._answer(
            search_text,
            profile,
            (lang, source),
            context,
            candidates,
            k,
            passes,
            latency,
            started,
            anchor,
        )

    def rerank(
        self,
        query: str,
        candidates: Sequence[Candidate],
        user: str | Path | UserProfile | None = None,
        k: int = 5,
        *,
        language: str | None = None,
        passes: int | None = None,
    ) -> Recommendation:
        """Rank candidates you bring (no retrieval), with the same model, checks and fallback.

        Their ``score`` is replaced by their similarity to ``query`` under this agent's
        embeddings, so the local ranker weighs them like retrieved ones.
        """
        started = time.perf_counter()
        if candidates:
            query_vector = self.store.embedder.embed_queries([query])[0]
            vectors = self.local.vectors(candidates)
            candidates = [
                c.model_copy(update={"score": round(float(v @ query_vector), 6)})
                for c, v in zip(candidates, vectors, strict=True)
            ]
        profile = load_profile(user) if isinstance(user, str | Path) else user
        lang, source = self.request_language(query, profile, language)
        context = build_context(profile, self.store, lang)
        latency = {"context": round((time.perf_counter() - started) * 1000, 2)}
        return self._answer(
            query, profile, (lang, source), context, list(candidates), k, passes, latency, started
        )

    def _answer(
        self,
        query: str,
        profile: UserProfile | None,
        language: tuple[str, str],
        context: UserContext,
        candidates: list[Candidate],
        k: int,
        passes: int | None,
        latency: dict[str, float],
        started: float,
        anchor: str | None = None,
    ) -> Recommendation:
        lang, source = language
        mark = time.perf_counter()
        request = RankRequest(query, lang, k, passes=passes, anchor=anchor)
        tried = self.ranker.rank(request, candidates, context)
        answer = tried
        if tried.failure is not None:  # the LLM failed: the local ranker answers
            answer = self.local.rank(request, candidates, context)
        latency["rank"] = round((time.perf_counter() - mark) * 1000, 2)
        latency["total"] = round((time.perf_counter() - started) * 1000, 2)
        trace = Trace(
            request_language=lang,
            language_source=source,
            ranker=answer.ranker,
            model=self.model,
            fallback=tried.failure is not None,
            fallback_reason=tried.failure,
            prompt_template=tried.prompt_template,
            system_template=tried.system_template,
            latency_ms=latency,
            repairs=dict(tried.repairs),
            **dataclasses.asdict(tried.usage),  # tokens, calls, re-asks, passes, windows
            candidate_ids=[c.id for c in candidates],
            last_prompt=tried.last_prompt,
            errors=list(tried.errors),
        )
        trace.cost = self._cost(trace)
        items = [
            RankedItem(
                id=c.id,
                rank=i,
                score=score,
                title=c.title,
                language=c.language,
                domain=c.domain,
                reason=reason,
                group=c.group,
                retrieval_score=c.score,
                attributes=dict(c.attributes),
            )
            for i, (c, score, reason) in enumerate(answer.rows(), start=1)
        ]
        return Recommendation(
            query=query, user_id=profile.id if profile else None, items=items, trace=trace
        )

    def _cost(self, trace: Trace) -> float:
        name = self.model.split(":", 1)[-1]
        prompt, completion = self.prices.get(name, (0.0, 0.0))
        return round((trace.prompt_tokens * prompt + trace.completion_tokens * completion) / 1e6, 8)

    async def arecommend(
        self, query: str, user: str | Path | UserProfile | None = None, k: int = 5, **options: Any
    ) -> Recommendation:
        """``recommend`` without blocking the event loop."""
        return await asyncio.to_thread(self.recommend, query, user, k, **options)

    def recommend_many(
        self,
        queries: Sequence[str],
        user: str | Path | UserProfile | None = None,
        k: int = 5,
        *,
        concurrency: int = 4,
        **options: Any,
    ) -> list[Recommendation]:
        """Many requests, at most ``concurrency`` at once; results in input order."""
        profile = load_profile(user) if isinstance(user, str | Path) else user
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return list(pool.map(lambda q: self.recommend(q, profile, k, **options), queries))
