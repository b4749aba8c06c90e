"""The LLM path over real HTTP: a scripted OpenAI-compatible server on 127.0.0.1 answers
through the real openai/langchain client stack."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from polyrank.agent import Agent
from polyrank.agent._llm import OpenAIChat, TransportPolicy
from polyrank.agent.testing import ScriptedOpenAIServer, prompt_candidates
from polyrank.retrieval import Store, detect_language

pytestmark = pytest.mark.http

QUERY = "Quiero aprender a programar"
FAST = TransportPolicy(attempts=3, initial_wait=0.05, max_wait=0.2)


def keys_in(body: dict[str, Any]) -> list[str]:
    """The candidate keys shown in the request's data block, in prompt order."""
    return [key for key, _ in prompt_candidates(body["messages"])]


def answer(order: list[str], reason: str = "Te ayuda a empezar a programar paso a paso.") -> str:
    return json.dumps({"ranking": [{"id": k, "reason": reason} for k in order]})


def reverse_step(body: dict[str, Any]) -> dict[str, Any]:
    return {"content": answer(list(reversed(keys_in(body))))}


def make_agent(store: Store, server: ScriptedOpenAIServer, timeout: float = 5.0) -> Agent:
    model = OpenAIChat(
        "test-model", base_url=server.base_url, api_key="k", timeout=timeout, transport=FAST
    )
    return Agent(store=store, model=model, candidates=8)


def test_good_answer_is_used_and_request_is_well_formed(use_store: Store) -> None:
    with ScriptedOpenAIServer([reverse_step]) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=3)
    body = server.requests[0]
    assert body["max_tokens"] == body["max_completion_tokens"] > 0
    assert body["response_format"]["type"] == "json_schema"
    assert body["model"] == "test-model"
    trace = rec.trace
    assert (trace.ranker, trace.fallback, trace.usage.llm_calls) == ("openai:test-model", False, 1)
    assert trace.prompt_template == "rerank@4" and trace.system_template == "system@3"
    assert trace.usage.prompt_tokens > 0 and trace.repairs == {}
    # reversed retrieval order: the last candidate comes first
    assert [i.id for i in rec.items] == list(reversed(trace.candidate_ids))[:3]
    assert all(i.reason.startswith("Te ayuda") for i in rec.items)


def test_malformed_json_is_reasked_with_the_error(use_store: Store) -> None:
    with ScriptedOpenAIServer([{"content": '{"ranking": [oops'}, reverse_step]) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=3)
    assert not rec.trace.fallback
    assert rec.trace.usage.reasks == 1 and rec.trace.repairs == {"invalid_output": 1}
    reask = server.requests[1]["messages"][-1]["content"]
    assert "not valid JSON" in reask


def test_invented_duplicate_and_missing_ids_are_repaired(use_store: Store) -> None:
    def sloppy(body: dict[str, Any]) -> dict[str, Any]:
        keys = keys_in(body)
        return {"content": answer([keys[2], "c99", keys[2], keys[0]])}

    with ScriptedOpenAIServer([sloppy]) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=5)
    trace = rec.trace
    assert trace.repairs == {
        "invented_id": 1,
        "duplicate_id": 1,
        "missing_id": 3,  # of the top 5 asked for
        "reason_missing": 3,
    }  # 3 of the top 5 came without a reason
    ids = trace.candidate_ids
    # c3, c1, then the missing ones in the order shown (the local ranker's)
    assert [i.id for i in rec.items] == [ids[2], ids[0], ids[1], ids[3], ids[4]]
    assert not trace.fallback


def test_reasons_in_wrong_language_are_reasked_then_replaced(use_store: Store) -> None:
    english = "This book teaches you programming step by step with small exercises."

    def english_step(body: dict[str, Any]) -> dict[str, Any]:
        return {"content": answer(keys_in(body), english)}

    def fix_two(body: dict[str, Any]) -> dict[str, Any]:
        wanted = re.findall(r"^\{\"id\":\"(c\d+)\"", body["messages"][-1]["content"], flags=re.M)
        ranking = [
            {"id": wanted[0], "reason": "Un libro para aprender a programar desde cero."},
            {"id": wanted[1], "reason": english},
        ]
        return {"content": json.dumps({"ranking": ranking})}

    with ScriptedOpenAIServer([english_step, fix_two]) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=3)
    trace = rec.trace
    assert trace.repairs["reason_language"] == 3
    assert trace.repairs["reason_fallback"] == 2
    assert rec.items[0].reason == "Un libro para aprender a programar desde cero."
    for item in rec.items:
        guess = detect_language(item.reason)
        assert guess is not None and guess.code == "es", item.reason


def test_429_with_retry_after_is_honoured(use_store: Store) -> None:
    limited = {
        "status": 429,
        "headers": {"Retry-After": "1"},
        "body": {"error": {"message": "slow down", "type": "rate_limit"}},
    }
    stamps: list[float] = []

    def timed(body: dict[str, Any]) -> dict[str, Any]:
        stamps.append(time.monotonic())
        return reverse_step(body)

    def first(body: dict[str, Any]) -> dict[str, Any]:
        stamps.append(time.monotonic())
        return limited

    with ScriptedOpenAIServer([first, timed]) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=3)
    assert not rec.trace.fallback and rec.trace.usage.transport_retries == 1
    assert stamps[1] - stamps[0] >= 0.9  # waited for Retry-After, not the 0.05 s backoff


def test_5xx_are_retried_with_backoff(use_store: Store) -> None:
    # 502/503: a 500 before json_schema has worked once may be a refusal of json_schema
    # (see the llama-cpp-python test below), so this test uses the unambiguous ones.
    with ScriptedOpenAIServer([{"status": 502}, {"status": 503}, reverse_step]) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=3)
    assert not rec.trace.fallback and rec.trace.usage.transport_retries == 2
    assert len(server.requests) == 3


def test_timeout_is_retried(use_store: Store) -> None:
    slow = {"delay": 2.0, "content": answer(["c1"])}
    with ScriptedOpenAIServer([slow, reverse_step]) as server:
        rec = make_agent(use_store, server, timeout=0.5).recommend(QUERY, k=3)
    assert not rec.trace.fallback and rec.trace.usage.transport_retries == 1


def test_truncated_answer_is_reasked(use_store: Store) -> None:
    cut = {"content": '{"ranking": [{"id": "c1", "reason": "Te ayu', "finish_reason": "length"}
    with ScriptedOpenAIServer([cut, reverse_step]) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=3)
    assert rec.trace.repairs == {"truncated": 1} and not rec.trace.fallback
    assert "cut off" in server.requests[1]["messages"][-1]["content"]


def test_everything_failing_falls_back_to_local(use_store: Store) -> None:
    with ScriptedOpenAIServer([], default={"status": 503}) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=4)
    trace = rec.trace
    assert trace.fallback and trace.ranker == "local"
    assert "LLMError" in (trace.fallback_reason or "") and "503" in (trace.fallback_reason or "")
    assert len(rec.items) == 4
    assert all(detect_language(i.reason).code == "es" for i in rec.items)  # type: ignore[union-attr]
    assert len(server.requests) == FAST.attempts
    assert trace.usage.transport_retries == FAST.attempts - 1


def test_garbage_forever_falls_back_after_bounded_reasks(use_store: Store) -> None:
    with ScriptedOpenAIServer([], default={"content": "I think c1 is best."}) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=3)
    assert rec.trace.fallback and "OutputError" in (rec.trace.fallback_reason or "")
    assert rec.trace.repairs == {"invalid_output": 3} and len(server.requests) == 3


def test_server_without_json_schema_gets_json_object(use_store: Store) -> None:
    refuse = {
        "status": 400,
        "body": {"error": {"message": "response_format json_schema is not supported"}},
    }
    with ScriptedOpenAIServer([refuse, reverse_step]) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=2)
    assert not rec.trace.fallback
    fmt = server.requests[1]["response_format"]
    assert fmt["type"] == "json_object"  # llama-cpp-python's form: JSON mode with the schema
    assert fmt["schema"]["properties"]["ranking"]["maxItems"] == 2  # the top k


def test_json_schema_refused_with_a_500_like_llama_cpp_python(use_store: Store) -> None:
    """llama-cpp-python's server answers json_schema with HTTP 500 "1 validation error"."""

    def picky(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("response_format", {}).get("type") == "json_schema":
            return {"status": 500, "body": {"error": {"message": "1 validation error: {}"}}}
        return reverse_step(body)

    with ScriptedOpenAIServer([], default=picky) as server:
        agent = make_agent(use_store, server)
        first = agent.recommend(QUERY, k=2)
        sent = len(server.requests)
        second = agent.recommend("Quiero aprender a cocinar", k=2)
    assert not first.trace.fallback and not second.trace.fallback
    assert first.trace.usage.transport_retries == 0
    # the switch sticks: the second request goes straight to JSON mode
    assert [r["response_format"]["type"] for r in server.requests[sent:]] == ["json_object"]


def test_a_500_after_json_schema_worked_is_a_transport_fault(use_store: Store) -> None:
    with ScriptedOpenAIServer([reverse_step, {"status": 500}, reverse_step]) as server:
        agent = make_agent(use_store, server)
        agent.recommend(QUERY, k=2)
        rec = agent.recommend("Quiero aprender a cocinar", k=2)
    assert rec.trace.usage.transport_retries == 1 and not rec.trace.fallback
    assert {r["response_format"]["type"] for r in server.requests} == {"json_schema"}


def test_unreachable_server_is_named_with_the_cause(use_store: Store) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = OpenAIChat(
        "m", base_url=f"http://127.0.0.1:{port}/v1", api_key="k", timeout=2, transport=FAST
    )
    rec = Agent(store=use_store, model=model, candidates=4).recommend(QUERY, k=2)
    reason = rec.trace.fallback_reason or ""
    assert rec.trace.fallback and f"127.0.0.1:{port}/v1/chat/completions" in reason
    assert "refused" in reason.lower()
    assert rec.trace.usage.transport_retries == FAST.attempts - 1
