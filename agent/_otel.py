"""OpenTelemetry spans of a recommendation, through ``opentelemetry-api``: a no-op unless
the application configured an SDK (then its exporter receives them).

One ``polyrank.recommend`` span per request (under the caller's current span, if any),
with a child per stage (``polyrank.language``, ``polyrank.context``, ``polyrank.plan``,
``polyrank.retrieve``, ``polyrank.rank``) and, under ``polyrank.rank``, one
``polyrank.llm`` span per model call. The stage spans are laid end to end from the stage
timings the trace keeps (the stages run one after the other), so they are emitted once the
answer is there, with their real start and end times.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polyrank.agent._result import Trace

__all__ = ["STAGES", "emit_spans"]

#: The stages of :attr:`Trace.latency_ms`, in the order they run.
STAGES = ("language", "context", "plan", "retrieve", "rank")


def _ns(ms: float) -> int:
    return int(ms * 1_000_000)


def emit_spans(trace: Trace, started: float, query: str) -> None:
    """Spans for one answered request; ``started``: its ``time.perf_counter()`` start."""
    try:
        from opentelemetry import trace as otel
    except ImportError:  # the API is optional at run time
        return
    provider = otel.get_tracer_provider()
    if isinstance(provider, otel.ProxyTracerProvider | otel.NoOpTracerProvider):
        return  # no SDK configured: nothing would be kept
    tracer = otel.get_tracer("polyrank", tracer_provider=provider)
    begin = time.time_ns() - _ns((time.perf_counter() - started) * 1000)
    total = trace.latency_ms.get("total", 0.0)
    root = tracer.start_span(
        "polyrank.recommend",
        start_time=begin,
        attributes=_attributes(trace, query),
    )
    parent = otel.set_span_in_context(root)
    at = begin
    for stage in STAGES:
        if stage not in trace.latency_ms:
            continue
        end = at + _ns(trace.latency_ms[stage])
        span = tracer.start_span(f"polyrank.{stage}", context=parent, start_time=at)
        if stage == "rank":
            _llm_spans(tracer, otel.set_span_in_context(span), trace, at)
        span.end(end_time=end)
        at = end
    root.end(end_time=begin + _ns(total) if total else at)


def _attributes(trace: Trace, query: str) -> dict[str, Any]:
    return {
        "polyrank.query": query,
        "polyrank.language": trace.request_language,
        "polyrank.ranker": trace.ranker,
        "polyrank.model": trace.model,
        "polyrank.fallback": trace.fallback,
        "polyrank.fallback_reason": trace.fallback_reason or "",
        "polyrank.prompt_template": trace.prompt_template or "",
        "polyrank.llm_calls": trace.usage.llm_calls,
        "gen_ai.usage.input_tokens": trace.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": trace.usage.completion_tokens,
        "polyrank.repairs": sum(trace.repairs.values()),
        **({"polyrank.cost_usd": trace.cost} if trace.cost is not None else {}),
    }


def _llm_spans(tracer: Any, context: Any, trace: Trace, at: int) -> None:
    for call in trace.calls:
        end = at + _ns(float(call.get("latency_ms") or 0.0))
        span = tracer.start_span(
            "polyrank.llm",
            context=context,
            start_time=at,
            attributes={
                "gen_ai.request.model": trace.model,
                "gen_ai.usage.input_tokens": int(call.get("prompt_tokens") or 0),
                "gen_ai.usage.output_tokens": int(call.get("completion_tokens") or 0),
                "polyrank.cached": bool(call.get("cached")),
                "polyrank.window": int(call.get("window") or 0),
                **({"polyrank.error": str(call["error"])} if call.get("error") else {}),
                **({"polyrank.problem": str(call["problem"])} if call.get("problem") else {}),
            },
        )
        span.end(end_time=end)
        at = end
