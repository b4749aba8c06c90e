"""What a recommendation returns: items, and a trace of how."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from polyrank.agent._ranking import Usage

__all__ = ["RankedItem", "Recommendation", "Trace"]


class RankedItem(BaseModel):
    """One recommended item, shown in the user's language where a variant exists."""

    model_config = ConfigDict(frozen=True)

    id: str
    rank: int
    score: float
    title: str
    language: str
    domain: str
    reason: str
    group: str
    retrieval_score: float
    attributes: dict[str, Any] = Field(default_factory=dict)
    #: The price as the user reads it (:func:`polyrank.agent._money.price_text`): in the user's
    #: currency and marked "≈" when converted; the one format recommend, chat and the
    #: reasons print.
    price: str | None = None


#: The fields of :class:`~polyrank.agent.Usage`, flat in a trace's JSON.
_USAGE = tuple(f.name for f in dataclasses.fields(Usage))


class Trace(BaseModel):
    """How an answer came about; enough to debug it and to score it in evals.

    ``usage``: what the ranking tried spent (:class:`~polyrank.agent.Usage`: tokens,
    calls, re-asks, passes, windows), the same object the ranker returned; its fields are
    flat in the JSON (``trace["prompt_tokens"]``), as before, and a new one appears there
    without a second edit.
    """

    request_language: str
    language_source: str  # explicit | detected | profile | default
    ranker: str  # "local" or the LLM spec that answered
    model: str
    #: name@version of what ranked (:meth:`~polyrank.agent.Ranking.label`): the prompt
    #: template an LLM was asked with (fallback or not), a ranker's own version, or the
    #: local ranker's ``local-ranker@1``; evals label runs and key baselines by it.
    version: str = ""
    fallback: bool = False
    fallback_reason: str | None = None
    prompt_template: str | None = None  # name@version of the rerank template
    system_template: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost: float | None = 0.0  # USD; None: the model's price is not known (not free)
    latency_ms: dict[str, float] = Field(default_factory=dict)
    repairs: dict[str, int] = Field(default_factory=dict)
    candidate_ids: list[str] = Field(default_factory=list)  # the order the ranker was shown
    #: Ids shown that the LLM did not pick (it is asked for the top k): placed in the local
    #: ranker's order, not the model's.
    filled: list[str] = Field(default_factory=list)
    #: Ids shown whose reason the LLM wrote; the other reasons are the local ranker's.
    model_reasons: list[str] = Field(default_factory=list)
    last_prompt: str | None = None
    errors: list[str] = Field(default_factory=list)
    #: What the request was understood to ask (:class:`polyrank.agent._intent.Intent`, as JSON),
    #: and its one-line summary in the request's language ("films · ≤ 15 EUR · not: horror").
    intent: dict[str, Any] = Field(default_factory=dict)
    understood: str = ""
    #: Constraints of the request dropped because too few items met them ("domain").
    relaxed: list[str] = Field(default_factory=list)
    #: The text searched when it is not the request as written: without the words the
    #: request refuses ("a thriller, no horror" searches "a thriller,").
    searched: str = ""
    #: Every LLM call in order: ``messages`` (system prompt included), the raw ``reply``,
    #: tokens, ``latency_ms``, ``cached``, ``window``, ``problem`` (why it was re-asked)
    #: and ``repairs``; ``error`` for a call that failed. Left out of :meth:`to_json`
    #: unless asked for (``polyrank recommend --trace FILE`` writes them).
    calls: list[dict[str, Any]] = Field(default_factory=list)

    def repair(self, kind: str, count: int = 1) -> None:
        if count:
            self.repairs[kind] = self.repairs.get(kind, 0) + count

    @model_validator(mode="before")
    @classmethod
    def _gather_usage(cls, data: Any) -> Any:
        """A trace's JSON (flat usage fields) reads back into one."""
        if isinstance(data, dict) and "usage" not in data and any(k in data for k in _USAGE):
            flat = {k: v for k, v in data.items() if k not in _USAGE}
            return {**flat, "usage": {k: data[k] for k in _USAGE if k in data}}
        return data

    @model_serializer(mode="wrap")
    def _flat_usage(self, handler: SerializerFunctionWrapHandler) -> Any:
        """``usage``'s fields in its place, at the top of the JSON."""
        data = handler(self)
        if not isinstance(data, dict) or not isinstance(data.get("usage"), dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key == "usage":
                out.update(value)
            else:
                out[key] = value
        return out


class Recommendation(BaseModel):
    """The answer to one request."""

    query: str
    user_id: str | None
    items: list[RankedItem]
    trace: Trace

    def to_json(self, *, calls: bool = False) -> dict[str, Any]:
        """The JSON shape (README); ``calls``: with every LLM call's messages and reply."""
        return self.model_dump(mode="json", exclude=None if calls else {"trace": {"calls"}})
