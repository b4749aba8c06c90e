"""LLM reranking: prompts, budget, validation and repair, re-asks, windows, passes.

Two loops, kept apart: transport retries live in the backend (``polyrank.agent._llm``); here, a
reply that is not valid JSON of the right shape is re-asked with the error quoted. When both
run out, :class:`OutputError` or :class:`LLMError` reaches the agent, which lets the local
ranker answer.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from polyrank.agent._budget import count_tokens, fair_truncate, truncate_tokens
from polyrank.agent._cache import ReplyCache, cache_key
from polyrank.agent._llm import ChatModel, Message, Reply, chat_model
from polyrank.agent._loop import run_blocking
from polyrank.agent._profile import (
    LANGUAGE_SENSITIVE_DOMAINS,
    PREFERENCE_TOKENS,
    TITLE_TOKENS,
    UserContext,
)
from polyrank.agent._ranking import Ranking, RankRequest, Usage
from polyrank.agent._reading import ReadingCheck
from polyrank.agent._reply import output_schema, parse_reply, strip_fences
from polyrank.agent.errors import LLMError, OutputError
from polyrank.prompts import PromptSet, data
from polyrank.retrieval import Candidate, is_in_language

if TYPE_CHECKING:
    from polyrank.agent._server import Verdict

__all__ = ["LANGUAGE_NAMES", "LLMRanker", "RerankConfig"]

log = logging.getLogger("polyrank.agent.rerank")

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

LANGUAGE_NAMES = {
    "ar": "Arabic", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
    "fr": "French", "hi": "Hindi", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ko": "Korean", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ru": "Russian",
    "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese",
    "zh": "Chinese",
}  # fmt: skip


#: Tokens of the request a prompt quotes: a 200 KB request made a 34k-token prompt for an
#: 8,192-token window. The longest request of the core suite is under 40 tokens.
QUERY_TOKENS = 256
#: Tokens of each item's description an ``explain`` prompt shows (it shows only the k
#: items the local ranker chose).
EXPLAIN_TEXT_TOKENS = 80


class RankEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)

    id: str = Field(description="a candidate id from the data block, e.g. c3")
    reason: str = Field(default="", description="one sentence in the user's language")


class RerankOutput(BaseModel):
    """The reply the rerank template asks for; its JSON Schema is what the model is sent
    (:func:`polyrank.agent._reply.output_schema`)."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)

    ranking: list[RankEntry]


@dataclass(frozen=True)
class RerankConfig:
    """How the LLM reranks.

    Usage: ``RerankConfig(window=20, step=10, passes=3, merge="rrf")``.
    """

    window: int = 20
    step: int = 10
    passes: int = 1
    merge: Literal["borda", "rrf"] = "borda"
    seed: int = 0
    max_reasks: int = 2
    reason_reasks: int = 1
    #: Tokens of context assumed when the server does not say (``/props``, ``/api/show``);
    #: a smaller size the server states wins. Prompt plus answer fit within it.
    context_window: int = 8192
    #: Answer tokens reserved per entry asked for (an id and a reason of up to
    #: ``max_reason_chars``); ``max_tokens`` of a call is this times k, plus 50.
    answer_tokens_per_item: int = 90
    min_text_tokens: int = 12
    #: Longest reason the output schema allows (characters).
    max_reason_chars: int = 160
    #: Seconds the whole LLM part of one request may take, retries and re-asks included;
    #: ``None``: no overall deadline (each HTTP call still has the model's own timeout).
    deadline: float | None = None
    #: Give up the model's ranking and reasons for the rest of the run when it is noticed
    #: not reading the candidates (:mod:`polyrank.agent._reading`).
    check_reading: bool = True


@dataclass
class _Tally:
    """What one ranking has spent and repaired so far (internal to one ``rank`` call)."""

    deadline: float | None = None  # time.monotonic() by which the LLM part must end
    #: Ask the model with ``acomplete`` (or ``complete`` in a thread): an ``arank``.
    asynchronous: bool = False
    usage: Usage = field(default_factory=Usage)
    repairs: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    prompt_template: str | None = None
    system_template: str | None = None
    last_prompt: str | None = None
    #: What the request was understood to ask, stated in the prompt ("films · ≤ 15 EUR").
    understood: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    #: Each candidate's place in the order the ranker was given (the local ranker's, in
    #: ``recommend``): what the model did not pick is filled in this order.
    base: dict[str, int] = field(default_factory=dict)
    #: Ids the model placed itself, in any window or pass.
    picked: set[str] = field(default_factory=set)
    last_picks: list[str] = field(default_factory=list)
    #: Per pass, its front window: (ids as shown, ids the model picked).
    fronts: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)
    #: What the model was shown (titles, texts, prices, the request): copied reasons.
    shown_text: set[str] = field(default_factory=set)
    #: The model's own reasons, as received.
    own_reasons: list[str] = field(default_factory=list)
    #: Ids whose reason the local ranker wrote (the model's was missing or stayed in
    #: the wrong language).
    local_reasons: set[str] = field(default_factory=set)

    def repair(self, kind: str, count: int = 1) -> None:
        if count:
            self.repairs[kind] = self.repairs.get(kind, 0) + count
            log.info("repair: %s x%d", kind, count)

    def ranking(self, spec: str, **answer: Any) -> Ranking:
        return Ranking(
            ranker=spec,
            usage=dataclasses.replace(self.usage),
            repairs=dict(self.repairs),
            errors=tuple(self.errors),
            prompt_template=self.prompt_template,
            system_template=self.system_template,
            last_prompt=self.last_prompt,
            calls=tuple(self.calls),
            **answer,
        )


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a ranking coroutine made for the synchronous path (the model is called directly)
    to the end on an event loop of its own (:func:`~polyrank.agent._loop.run_blocking`:
    ``rank`` works inside a running one too, in a notebook say)."""
    return run_blocking(coroutine)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _record_reply(
    record: dict[str, Any], reply: Reply, started: float, cached: bool = False
) -> None:
    """A call's record completed with what came back (the raw reply, as sent)."""
    record.update(
        reply=reply.content,
        model=reply.model,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        finish_reason=reply.finish_reason,
        transport_retries=reply.transport_retries,
        cached=cached,
        latency_ms=_ms_since(started),
    )
    log.debug(
        "LLM call %d (window %d)%s: %d prompt + %d completion tokens, %.0f ms",
        record["n"], record["window"], " from the cache" if cached else "",
        reply.prompt_tokens, reply.completion_tokens, record["latency_ms"],
    )  # fmt: skip


def _failure(exc: LLMError | OutputError) -> str:
    """Why a model gave no usable answer, in one line (kind: first line of the message)."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


def bound_schema(
    schema: dict[str, Any] | None, keys: Sequence[str], max_reason: int, k: int | None = None
) -> dict[str, Any] | None:
    """The prompt's output schema, bounded for one call: ``id`` is one of the shown keys,
    the list holds exactly ``k`` entries (at most one per key without ``k``), and reasons
    have a maximum length.

    A grammar-constrained server (llama.cpp) then cannot list ids forever, and writes the
    k entries the user will see, not the whole list.
    """
    if schema is None:
        return None
    bound = copy.deepcopy(schema)
    ranking = bound.get("properties", {}).get("ranking")
    if not isinstance(ranking, dict):
        return bound
    ranking["maxItems"] = min(k, len(keys)) if k else len(keys)
    if k:
        ranking["minItems"] = ranking["maxItems"]
    item = ranking.get("items", {}).get("properties", {})
    if isinstance(item.get("id"), dict):
        item["id"]["enum"] = list(keys)
    if isinstance(item.get("reason"), dict):
        item["reason"]["maxLength"] = max_reason
    return bound


def _salvage(text: str) -> RerankOutput | None:
    """The complete entries of a cut-off or malformed reply, if any.

    The last entry of a reply that is not valid JSON may itself be cut, so it is dropped.
    """
    from langchain_core.utils.json import parse_partial_json

    try:
        data = parse_partial_json(strip_fences(text))
    except (json.JSONDecodeError, ValueError, TypeError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("ranking"), list):
        return None
    entries = []
    for entry in data["ranking"][:-1]:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            reason = entry.get("reason")
            entries.append(
                RankEntry(id=entry["id"], reason=reason if isinstance(reason, str) else "")
            )
    return RerankOutput(ranking=entries) if entries else None


#: The local reasons for candidates, by item id (``LocalRanker.explain``).
Explain = Callable[[RankRequest, Sequence[Candidate], UserContext], dict[str, str]]
#: The local ranking of candidates (``LocalRanker.rank``).
Order = Callable[[RankRequest, Sequence[Candidate], UserContext], Ranking]


class LLMRanker:
    """Listwise LLM reranking with repair: a :class:`~agent._ranking.Ranker`.

    ``explain`` gives the reasons that fill in where the model's are missing or stay in
    the wrong language (the local ranker's, computed once per request when needed).
    """

    def __init__(
        self,
        model: ChatModel,
        prompts: PromptSet,
        *,
        explain: Explain,
        order: Order | None = None,
        config: RerankConfig | None = None,
        cache: ReplyCache | None = None,
    ) -> None:
        self.model: ChatModel = chat_model(model)
        self.spec = self.model.spec
        self.explain = explain
        #: The local ranking, for a model the probe found fit for reasons only.
        self.order = order
        self.prompts = prompts
        self.config = config or RerankConfig()
        self.cache = cache
        self.schema = output_schema(RerankOutput)
        #: Whether the model reads the candidates, over this ranker's run.
        self.reading = ReadingCheck()
        #: Set once the model failed the reason re-ask: not asked again in this run.
        self.reason_reask_failed = False
        self._remembered: Verdict | Literal[False] | None = False  # False: not read yet
        # The server's limits (a few HTTP requests, once per process and server), asked
        # now so that the first request does not wait for them.
        threading.Thread(target=self.model.limits, name="polyrank-limits", daemon=True).start()

    def check_templates(self) -> None:
        """Render the templates once with a sample request, so a broken template fails when
        the Agent is made (ConfigError), not after retrieval on the first request."""
        sample = Candidate(
            id="sample",
            group="sample",
            score=0.5,
            title="Sample title",
            description="A sample description.",
            language="en",
            domain="books",
            attributes={"price": 9.99, "currency": "EUR"},
        )
        context = UserContext(
            user_id="sample",
            languages=("en",),
            preferences="sample preferences",
            top_by_domain={"books": ["Sample title"]},
            scenes={"shop": 1},
            recent=("Sample title",),
        )
        self._messages("sample request", "en", [sample], context, _Tally())
        self._reask("sample error")
        self._reasons_prompt("sample request", "English", [{"id": "c1", "reason": "x"}])

    @staticmethod
    def _remaining(tally: _Tally) -> float | None:
        """Seconds left before this request's deadline (``None``: no deadline)."""
        if tally.deadline is None:
            return None
        return tally.deadline - time.monotonic()

    def _context_window(self) -> int:
        """Tokens a prompt and its answer must fit in: the configured window, or the
        server's when it says a smaller one."""
        server = self.model.limits().context
        window = self.config.context_window
        return min(window, server) if server else window

    def _answer_tokens(self, entries: int) -> int:
        return self.config.answer_tokens_per_item * entries + 50

    # -- one call -------------------------------------------------------------------
    async def _call(
        self,
        messages: list[Message],
        tally: _Tally,
        schema: dict[str, Any] | None,
        max_tokens: int | None = None,
    ) -> tuple[Reply, str | None]:
        """The reply, and its cache key (``None`` without a cache). Cached on use: only
        :meth:`_ask` stores a reply, once it parsed."""
        key = None
        record: dict[str, Any] = {
            "n": len(tally.calls) + 1,
            "window": tally.usage.windows,
            "messages": [dict(m) for m in messages],
        }
        tally.calls.append(record)
        started = time.perf_counter()
        if self.cache is not None:
            # The seed separates repeats (evals --repeat); model params separate settings.
            params = {"seed": self.config.seed, **self.model.params}
            key = cache_key(self.model.spec, messages, schema, params)
            hit = self.cache.get(key)
            if hit is not None:
                tally.usage.cached_calls += 1
                _record_reply(record, hit, started, cached=True)
                return hit, None
        remaining = self._remaining(tally)
        if remaining is not None and remaining <= 0:
            raise LLMError(
                f"the request's deadline ({self.config.deadline:g} s) passed",
                retryable=False,
                hint="raise --timeout, or use a faster model",
            )
        deadline = tally.deadline
        try:
            if tally.asynchronous:
                reply = await self.model.acomplete(
                    messages, schema, deadline=deadline, max_tokens=max_tokens
                )
            else:
                reply = self.model.complete(
                    messages, schema, deadline=deadline, max_tokens=max_tokens
                )
        except LLMError as exc:
            tally.usage.transport_retries += exc.retries
            record.update(
                error=str(exc), transport_retries=exc.retries, latency_ms=_ms_since(started)
            )
            log.warning("LLM call %d to %s failed: %s", record["n"], self.spec, exc)
            raise
        _record_reply(record, reply, started)
        record["max_tokens"] = max_tokens
        tally.usage.llm_calls += 1
        tally.usage.transport_retries += reply.transport_retries
        tally.usage.prompt_tokens += reply.prompt_tokens
        tally.usage.completion_tokens += reply.completion_tokens
        return reply, key

    def ask(self, messages: list[Message], output: type[M]) -> tuple[M | None, Ranking]:
        """Any structured question (the follow-up prompt's, say) through the same loop as a
        ranking: cache, deadline, transport retries, re-asks with the error quoted. Returns
        the answer (``None`` when there is none) and an empty :class:`Ranking` recording
        what it cost, the prompt, or the failure."""
        return _run_sync(self._question(messages, output, self._tally()))

    async def _question(
        self, messages: list[Message], output: type[M], tally: _Tally
    ) -> tuple[M | None, Ranking]:
        tally.last_prompt = messages[-1]["content"]
        try:
            answer = await self._ask(messages, tally, output_schema(output), output)
        except (LLMError, OutputError) as exc:
            return None, tally.ranking(self.spec, failure=_failure(exc))
        return answer, tally.ranking(self.spec)

    def _tally(self, asynchronous: bool = False) -> _Tally:
        """A fresh tally whose deadline (``config.deadline``) starts now: one per request,
        shared by its windows, passes and re-asks."""
        deadline = self.config.deadline
        return _Tally(
            deadline=time.monotonic() + deadline if deadline is not None else None,
            asynchronous=asynchronous,
        )

    async def _ask(
        self,
        messages: list[Message],
        tally: _Tally,
        schema: dict[str, Any] | None,
        output: type[M],
        max_tokens: int | None = None,
    ) -> M:
        """Ask, and re-ask with the error quoted while the reply is unusable.

        A cut-off rerank reply that holds complete entries is salvaged (counted as
        ``salvaged``); the missing ids are then repaired like any other.
        """
        salvage: Any = _salvage if output is RerankOutput else None
        for attempt in range(self.config.max_reasks + 1):
            reply, key = await self._call(messages, tally, schema, max_tokens)
            try:
                answer, salvaged = parse_reply(reply, output, salvage)
                if salvaged:
                    tally.repair("salvaged")
                    tally.calls[-1]["problem"] = "salvaged: cut off, complete entries kept"
                elif self.cache is not None and key is not None:
                    self.cache.put(key, reply)  # only a reply that parsed whole
                return answer
            except OutputError as exc:
                kind = "truncated" if reply.finish_reason == "length" else "invalid_output"
                tally.repair(kind)
                tally.errors.append(str(exc).splitlines()[0])
                tally.calls[-1]["problem"] = f"{kind}: {str(exc).splitlines()[0]}"
                if attempt < self.config.max_reasks:
                    log.info("re-asking %s: %s", self.spec, str(exc).splitlines()[0])
                if attempt == self.config.max_reasks:
                    raise
                tally.usage.reasks += 1
                messages = [
                    *messages,
                    {"role": "assistant", "content": reply.content[:2000]},
                    {"role": "user", "content": self._reask(str(exc.args[0]))},
                ]
        raise AssertionError("unreachable")

    def _reask(self, error: str) -> str:
        template = self.prompts.get("reask")
        assert template is not None  # shipped: a user folder without it uses the shipped one
        return template.render(error=error)

    def _system(self, language: str, context: UserContext) -> str:
        """The system prompt for a request in ``language`` (every call a request makes)."""
        name = LANGUAGE_NAMES.get(language, language)
        return self.prompts["system"].render(
            language=language, language_name=name, hints=context.hints
        )

    def _reasons_prompt(self, query: str, language_name: str, rows: list[dict[str, str]]) -> str:
        template = self.prompts.get("reasons")
        assert template is not None
        return template.render(query=query, language_name=language_name, rows=rows)

    # -- prompts --------------------------------------------------------------------
    def _messages(
        self,
        query: str,
        language: str,
        window: Sequence[Candidate],
        context: UserContext,
        tally: _Tally,
        k: int | None = None,
    ) -> list[Message]:
        """The rerank prompt for one window: the stable part (system, request, user) first,
        so a server's prefix cache serves the next pass and window; then the candidates,
        their texts cut to what the context window leaves after the answer's tokens."""
        name = LANGUAGE_NAMES.get(language, language)
        pick = min(k, len(window)) if k else len(window)
        system = self._system(language, context)
        base = dict(
            query=truncate_tokens(query, QUERY_TOKENS),
            language=language,
            language_name=name,
            user=context,
            sensitive_domains=sorted(LANGUAGE_SENSITIVE_DOMAINS),
            understood=tally.understood,
            pick=pick,
        )
        rows = [self._row(i, c, "") for i, c in enumerate(window)]
        skeleton = self.prompts["rerank"].render(**base, candidates=rows)
        answer = self._answer_tokens(pick)
        budget = self._context_window() - answer - count_tokens(system) - count_tokens(skeleton)
        budget -= len(window)  # a text cut and joined can tokenize one token longer
        budget = max(budget, self.config.min_text_tokens * len(window))
        texts = fair_truncate([c.description for c in window], budget)
        rows = [self._row(i, c, t) for i, (c, t) in enumerate(zip(window, texts, strict=True))]
        user = self.prompts["rerank"].render(**base, candidates=rows)
        tally.prompt_template = self.prompts["rerank"].ref
        tally.system_template = self.prompts["system"].ref
        tally.last_prompt = user
        for row in rows:
            tally.shown_text.update(str(row[f]) for f in ("title", "text", "price") if row[f])
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    @staticmethod
    def _row(index: int, c: Candidate, text: str) -> dict[str, Any]:
        """One candidate for the template; ``row`` is it as one line of JSON (``data``)."""
        price = c.attributes.get("price")
        currency = str(c.attributes.get("currency", ""))[:8]
        fields = {
            "id": f"c{index + 1}",
            "domain": c.domain,
            "language": c.language,
            "title": truncate_tokens(c.title, TITLE_TOKENS),
            "text": text,
            "price": f"{price} {currency}".strip()[:40] if price is not None else "",
        }
        row = {k: v for k, v in fields.items() if v or k != "price"}
        return {**fields, "key": fields["id"], "row": data(row)}

    # -- one window -----------------------------------------------------------------
    def _clipped(self, reason: str, tally: _Tally) -> str:
        """A reason as received, cut to ``max_reason_chars`` (the schema's maxLength is a
        request a server may ignore: 1 MB reasons were printed)."""
        text = reason.strip()
        limit = self.config.max_reason_chars
        if len(text) <= limit:
            return text
        tally.repair("reason_truncated")
        return text[: limit - 1].rstrip() + "…"

    async def _rank_window(
        self,
        query: str,
        language: str,
        window: Sequence[Candidate],
        context: UserContext,
        tally: _Tally,
        k: int,
    ) -> tuple[list[Candidate], dict[str, str]]:
        """The window's best ``k`` as the model picked them (all it listed, when it listed
        more), then the rest in the order the ranker was given (``tally.base``)."""
        tally.usage.windows += 1
        pick = min(k, len(window))
        messages = self._messages(query, language, window, context, tally, pick)
        by_key = {f"c{i + 1}": c for i, c in enumerate(window)}
        schema = bound_schema(self.schema, list(by_key), self.config.max_reason_chars, pick)
        output = await self._ask(
            messages, tally, schema, RerankOutput, max_tokens=self._answer_tokens(pick)
        )
        seen: set[str] = set()
        ordered: list[Candidate] = []
        reasons: dict[str, str] = {}
        fixed: dict[str, int] = {}  # this reply's id repairs, for its call record
        for entry in output.ranking:
            key = entry.id.strip().strip("[]")
            if key not in by_key:
                fixed["invented_id"] = fixed.get("invented_id", 0) + 1
                continue
            if key in seen:
                fixed["duplicate_id"] = fixed.get("duplicate_id", 0) + 1
                continue
            seen.add(key)
            ordered.append(by_key[key])
            if entry.reason.strip():
                reasons[by_key[key].id] = self._clipped(entry.reason, tally)
                tally.own_reasons.append(entry.reason)
        if len(ordered) < pick:
            fixed["missing_id"] = pick - len(ordered)
        for kind, count in fixed.items():
            tally.repair(kind, count)
        if tally.calls:
            if fixed:
                tally.calls[-1]["repairs"] = fixed
            tally.calls[-1]["filled_local"] = len(window) - len(ordered)
        tally.picked.update(c.id for c in ordered)
        tally.last_picks = [c.id for c in ordered]
        rest = sorted(
            (c for key, c in by_key.items() if key not in seen),
            key=lambda c: tally.base.get(c.id, len(tally.base)),
        )
        return ordered + rest, reasons

    async def _sliding(
        self,
        query: str,
        language: str,
        order: list[Candidate],
        context: UserContext,
        tally: _Tally,
        k: int,
        pass_no: int = 0,
    ) -> tuple[list[Candidate], dict[str, str]]:
        """RankGPT sliding windows, from the back of the list to the front; each window's
        best ``k`` move forward."""
        ranking = list(order)
        reasons: dict[str, str] = {}
        size, step = self.config.window, max(1, self.config.step)
        end = len(ranking)
        start = max(0, end - size)
        while True:
            shown = ranking[start:end]
            ranked, found = await self._rank_window(query, language, shown, context, tally, k)
            ranking[start:end] = ranked
            reasons.update(found)
            if start == 0:
                # compared on the top 3 at least: one pick says little about positions
                tally.fronts[pass_no] = ([c.id for c in shown], tally.last_picks[: max(k, 3)])
                return ranking, reasons
            end -= step
            start = max(0, start - step)

    # -- public ---------------------------------------------------------------------
    def rank(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> Ranking:
        """The best ``request.k`` candidates with the model's reasons in the request's
        language; a model that fails or never answers usably gives a ranking whose
        ``failure`` says why (and what was spent until then)."""
        return _run_sync(self._rank(request, candidates, context, self._tally()))

    async def arank(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> Ranking:
        """:meth:`rank` without blocking the event loop: the model is asked with its
        ``acomplete``."""
        return await self._rank(request, candidates, context, self._tally(asynchronous=True))

    async def _rank(
        self,
        request: RankRequest,
        candidates: Sequence[Candidate],
        context: UserContext,
        tally: _Tally,
    ) -> Ranking:
        if not candidates:
            return tally.ranking(self.spec)
        not_reading = (
            (self.reading.verdict() or self.probed()) if self.config.check_reading else None
        )
        if not_reading:  # noticed earlier in this run, or by the probe: not asked again
            # labelled by its template all the same (evals key runs and baselines by it)
            tally.prompt_template = self.prompts["rerank"].ref
            tally.system_template = self.prompts["system"].ref
            return tally.ranking(self.spec, failure=not_reading)
        tally.understood = request.understood
        if self.order is not None and self.config.check_reading and self.reasons_only():
            return await self._explain_only(self.order, request, candidates, context, tally)
        tally.base = {c.id: i for i, c in enumerate(candidates)}
        # Cut where a prompt is rendered, once for all windows and passes: the local
        # ranker never reads the preferences, so build_context leaves them whole.
        context = context.model_copy(
            update={"preferences": truncate_tokens(context.preferences, PREFERENCE_TOKENS)}
        )
        try:
            order, reasons, scores = await self._rerank(request, candidates, context, tally)
            not_reading = self._check_reading(request, tally)
            if not_reading:
                log.warning("%s: %s; the local ranker answers", self.spec, not_reading)
                return tally.ranking(self.spec, failure=not_reading)
            top = order[: request.k]
            reasons = await self._fix_reason_languages(
                request, top, reasons, candidates, context, tally
            )
        except (LLMError, OutputError) as exc:
            log.warning("%s gave no usable ranking (%s); the local ranker answers", self.spec,
                        _failure(exc))  # fmt: skip
            return tally.ranking(self.spec, failure=_failure(exc))
        best = max(scores.values()) or 1.0
        return tally.ranking(
            self.spec,
            items=tuple(top),
            scores=tuple(round(scores[c.id] / best, 6) for c in top),
            reasons=tuple(reasons[c.id] for c in top),
            filled=tuple(c.id for c in top if c.id not in tally.picked),
            model_reasons=tuple(c.id for c in top if c.id not in tally.local_reasons),
        )

    def remembered(self) -> Verdict | None:
        """What ``polyrank probe`` last found about the model at this server (remembered in
        the cache folder), read once per ranker."""
        if self._remembered is False:
            from polyrank.agent._server import remembered_verdict

            base_url = self.model.params.get("base_url")
            self._remembered = remembered_verdict(
                base_url if isinstance(base_url, str) else None, self.spec
            )
        return self._remembered

    def reasons_only(self) -> bool:
        """Whether ``polyrank probe`` found the model fit for reasons only at this server
        (it follows positions, but explains in the request's language in its own words)."""
        found = self.remembered()
        return found is not None and found.reasons_only

    async def _explain_only(
        self,
        order: Order,
        request: RankRequest,
        candidates: Sequence[Candidate],
        context: UserContext,
        tally: _Tally,
    ) -> Ranking:
        """The local ranker's top k, with the model's reasons where they are in the
        request's language and do not copy the item's title or the request (the local
        reason elsewhere): what a model that reads positions, not items, is good for."""
        local = order(request, candidates, context)
        top = list(local.items)
        own = dict(zip((c.id for c in top), local.reasons, strict=True))
        language = request.language
        name = LANGUAGE_NAMES.get(language, language)
        keys = {f"c{i + 1}": c for i, c in enumerate(top)}
        rows = [
            self._row(i, c, truncate_tokens(c.description, EXPLAIN_TEXT_TOKENS))
            for i, c in enumerate(top)
        ]
        template = self.prompts["explain"]
        tally.prompt_template = template.ref
        tally.system_template = self.prompts["system"].ref
        messages: list[Message] = [
            {"role": "system", "content": self._system(language, context)},
            {
                "role": "user",
                "content": template.render(query=request.query, language_name=name, rows=rows),
            },
        ]
        schema = bound_schema(self.schema, list(keys), self.config.max_reason_chars)
        written: dict[str, str] = {}
        try:
            output = await self._ask(
                messages, tally, schema, RerankOutput, self._answer_tokens(len(keys))
            )
        except (LLMError, OutputError) as exc:
            log.warning("%s wrote no usable reasons (%s); the local ranker's stand", self.spec,
                        _failure(exc))  # fmt: skip
            tally.errors.append(str(exc).splitlines()[0])
            output = RerankOutput(ranking=[])
        for entry in output.ranking:
            target = keys.get(entry.id.strip().strip("[]"))
            reason = self._clipped(entry.reason, tally) if target is not None else ""
            if target is None or not is_in_language(reason, language, [target.title]):
                continue
            folded = reason.casefold()
            if target.title.casefold() in folded or request.query.casefold() in folded:
                continue  # a copied title or an echo of the request says nothing
            written[target.id] = reason
        tally.repair("reason_fallback", len(top) - len(written))
        return tally.ranking(
            self.spec,
            items=tuple(top),
            scores=local.scores,
            reasons=tuple(written.get(c.id, own[c.id]) for c in top),
            filled=tuple(c.id for c in top),  # the local ranker's order, not the model's
            model_reasons=tuple(c.id for c in top if c.id in written),
        )

    def probed(self) -> str | None:
        """Why the model is not asked, in one line, when ``polyrank probe`` found it not
        reading the candidates at this server (remembered in the cache folder); read once
        per ranker. Probing again replaces the verdict; ``polyrank probe --forget`` drops
        it; ``RerankConfig(check_reading=False)`` ignores it."""
        found = self.remembered()
        if found is None or not found.not_reading:
            return None
        return (
            f"polyrank probe found the model not reading the candidates on {found.date} "
            f"({found.why}); probe it again to ask it"
        )

    def _check_reading(self, request: RankRequest, tally: _Tally) -> str | None:
        """This request's evidence added to the run's; why the model is not reading, if
        it is now clear (and ``check_reading`` is on)."""
        if len(tally.fronts) > 1:
            self.reading.passes([tally.fronts[p] for p in sorted(tally.fronts)])
        self.reading.reasons(tally.own_reasons, [*tally.shown_text, request.query])
        return self.reading.verdict() if self.config.check_reading else None

    async def _rerank(
        self,
        request: RankRequest,
        candidates: Sequence[Candidate],
        context: UserContext,
        tally: _Tally,
    ) -> tuple[list[Candidate], dict[str, str], dict[str, float]]:
        """Ranked candidates, reasons by item id, and merged scores by item id."""
        query, language = request.query, request.language
        passes = request.passes or self.config.passes
        tally.usage.passes = passes
        rankings: list[list[Candidate]] = []
        reasons_by_pass: list[dict[str, str]] = []  # per pass: reason by item id
        for p in range(passes):
            order = list(candidates)
            if p:
                random.Random(self.config.seed + p).shuffle(order)
            ranked, found = await self._sliding(
                query, language, order, context, tally, request.k, p
            )
            rankings.append(ranked)
            reasons_by_pass.append(found)
        scores = merge_rankings(rankings, self.config.merge)
        position = {c.id: i for i, c in enumerate(candidates)}
        final = sorted(candidates, key=lambda c: (-scores[c.id], position[c.id]))
        ranks = [{c.id: i for i, c in enumerate(r)} for r in rankings]
        reasons: dict[str, str] = {}
        for c in final:  # the reason from the pass that ranked the item best
            for p in sorted(range(passes), key=lambda p: ranks[p][c.id]):
                if c.id in reasons_by_pass[p]:
                    reasons[c.id] = reasons_by_pass[p][c.id]
                    break
        return final, reasons, scores

    async def _fix_reason_languages(
        self,
        request: RankRequest,
        ranked: Sequence[Candidate],
        reasons: dict[str, str],
        candidates: Sequence[Candidate],
        context: UserContext,
        tally: _Tally,
    ) -> dict[str, str]:
        """Re-ask once for reasons not in the request's language (until the model failed
        that once in this run); the local reason replaces the rest (all local reasons
        come from one scoring of the candidates)."""
        query, language = request.query, request.language
        local: dict[str, str] = {}

        def fallback_reason(c: Candidate) -> str:
            if not local:
                local.update(self.explain(request, candidates, context))
            tally.local_reasons.add(c.id)
            return local[c.id]

        fixed = dict(reasons)
        absent = [c for c in ranked if not fixed.get(c.id, "").strip()]
        tally.repair("reason_missing", len(absent))
        for c in absent:  # appended missing ids, or empty reasons: nothing to re-ask about
            fixed[c.id] = fallback_reason(c)
        titles = [t for c in ranked for t in (c.title, *(v.title for v in c.variants))]
        wrong = [c for c in ranked if not is_in_language(fixed[c.id], language, titles)]
        if wrong and self.config.reason_reasks and self.reason_reask_failed:
            tally.repair("reason_reask_skipped", len(wrong))
        elif wrong and self.config.reason_reasks:
            tally.repair("reason_language", len(wrong))
            name = LANGUAGE_NAMES.get(language, language)
            keys = {f"c{i + 1}": c for i, c in enumerate(wrong)}
            rows = [
                {
                    "id": k,
                    "title": truncate_tokens(c.title, TITLE_TOKENS),
                    "reason": fixed.get(c.id, ""),
                }
                for k, c in keys.items()
            ]
            messages: list[Message] = [
                {"role": "system", "content": self._system(language, context)},
                {"role": "user", "content": self._reasons_prompt(query, name, rows)},
            ]
            tally.usage.reasks += 1
            schema = bound_schema(self.schema, list(keys), self.config.max_reason_chars)
            rewritten = 0
            try:
                output = await self._ask(
                    messages, tally, schema, RerankOutput, self._answer_tokens(len(keys))
                )
                for entry in output.ranking:
                    target = keys.get(entry.id.strip().strip("[]"))
                    if target is not None and entry.reason.strip():
                        fixed[target.id] = self._clipped(entry.reason, tally)
                        rewritten += is_in_language(fixed[target.id], language, titles)
            except (OutputError, LLMError) as exc:  # the ranking stands; local reasons fill in
                tally.errors.append(str(exc).splitlines()[0])
            if not rewritten:  # nothing usable came back: not asked again in this run
                self.reason_reask_failed = True
        still = [c for c in ranked if not is_in_language(fixed.get(c.id, ""), language, titles)]
        tally.repair("reason_fallback", len(still))
        for c in still:
            fixed[c.id] = fallback_reason(c)
        return fixed


def merge_rankings(rankings: Sequence[Sequence[Candidate]], method: str) -> dict[str, float]:
    """Borda count (n - position) or reciprocal rank fusion (1 / (60 + rank))."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        n = len(ranking)
        for position, c in enumerate(ranking):
            gain = (n - position) if method == "borda" else 1.0 / (60 + position + 1)
            scores[c.id] = scores.get(c.id, 0.0) + gain
    return scores
