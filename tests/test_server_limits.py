"""What a model server can take, learned from it (issue 22): context size and slots from
llama.cpp's ``/props`` and Ollama's ``/api/show``, a context size stated in an error, the
structured-output mode switched only on the server's refusal of it and remembered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from polyrank.agent import Agent, LLMSettings
from polyrank.agent._budget import count_tokens
from polyrank.agent._llm import OpenAIChat, TransportPolicy
from polyrank.agent._server import ServerLimits, context_from_error, is_format_refusal
from polyrank.agent.testing import ScriptedOpenAIServer, prompt_candidates
from polyrank.evals._runner import concurrency
from polyrank.retrieval import Store

pytestmark = pytest.mark.http

QUERY = "Quiero aprender a programar"
FAST = TransportPolicy(attempts=3, initial_wait=0.05, max_wait=0.2)
REFUSAL = {
    "status": 500,
    "body": {"error": {"message": "1 validation error: ('body', 'response_format', 'type'): "
                       "Input should be 'text' or 'json_object'"}},
}  # fmt: skip


def answer(body: dict[str, Any]) -> dict[str, Any]:
    keys = [k for k, _ in prompt_candidates(body["messages"])]
    ranking = [{"id": k, "reason": "Te ayuda a empezar a programar paso a paso."} for k in keys]
    return {"content": json.dumps({"ranking": ranking})}


def chat(server: ScriptedOpenAIServer, model: str = "m") -> OpenAIChat:
    return OpenAIChat(model, base_url=server.base_url, api_key="k", timeout=5, transport=FAST)


@pytest.mark.parametrize(
    ("status", "message", "refusal"),
    [
        (500, REFUSAL["body"]["error"]["message"], True),  # type: ignore[index]
        (400, "response_format json_schema is not supported by this server", True),
        (400, "Requested tokens (2225) exceed context window of 2048", False),
        (400, "the request exceeds the available context size (4096 tokens)", False),
        (500, "CUDA error: out of memory", False),
        (503, "response_format: server busy", False),
    ],
)
def test_only_the_refusal_of_the_format_switches_it(
    status: int, message: str, refusal: bool
) -> None:
    assert is_format_refusal(status, message) is refusal


def test_context_sizes_are_read_from_errors() -> None:
    assert context_from_error("Requested tokens (2225) exceed context window of 2048") == 2048
    assert context_from_error("This model's maximum context length is 8192 tokens") == 8192
    assert context_from_error("rate limited") is None


def test_llama_cpp_props_bound_the_prompt_and_ask_for_the_prefix_cache(use_store: Store) -> None:
    props = {"default_generation_settings": {"n_ctx": 1200}, "total_slots": 1}
    with ScriptedOpenAIServer(default=answer, routes={"/props": props}) as server:
        model = chat(server)
        rec = Agent(
            store=use_store, model=model, candidates=12, llm_settings=LLMSettings(timeout=5)
        ).recommend(QUERY, k=3)
        limits = model.limits()
    assert limits == ServerLimits(context=1200, slots=1, server="llama.cpp")
    body = server.requests[0]
    assert body["cache_prompt"] is True
    prompt = sum(count_tokens(m["content"]) for m in body["messages"])
    assert prompt + body["max_tokens"] <= 1200
    assert not rec.trace.fallback


def test_ollama_show_gives_the_context(use_store: Store) -> None:
    routes = {"/api/version": {"version": "0.5.7"}, "/api/show": {"parameters": "num_ctx 3000"}}
    with ScriptedOpenAIServer(default=answer, routes=routes) as server:
        model = chat(server, "qwen2.5:0.5b")
        assert model.limits() == ServerLimits(context=3000, server="ollama")
        Agent(
            store=use_store, model=model, candidates=8, llm_settings=LLMSettings(timeout=5)
        ).recommend(QUERY, k=3)
    assert "cache_prompt" not in server.requests[0]  # llama.cpp's field only


def test_llama_cpp_python_is_one_slot_and_its_context_error_is_learned(use_store: Store) -> None:
    models = {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "me",
                                          "permissions": []}]}  # fmt: skip
    too_long = {
        "status": 400,
        "body": {"error": {"message": "Requested tokens (2225) exceed context window of 1500",
                           "code": "context_length_exceeded"}},
    }  # fmt: skip
    with ScriptedOpenAIServer([too_long], default=answer, routes={"/v1/models": models}) as server:
        model = chat(server)
        agent = Agent(
            store=use_store, model=model, candidates=12, llm_settings=LLMSettings(timeout=5)
        )
        first = agent.recommend(QUERY, k=3)
        second = agent.recommend(QUERY, k=3)
    assert model.limits() == ServerLimits(context=1500, slots=1, server="llama-cpp-python")
    assert first.trace.fallback and "context window" in (first.trace.fallback_reason or "")
    assert not second.trace.fallback
    # a context-length 400 is not a refusal of json_schema: the mode stays
    assert [r["response_format"]["type"] for r in server.requests] == ["json_schema"] * 2
    body = server.requests[1]
    assert sum(count_tokens(m["content"]) for m in body["messages"]) + body["max_tokens"] <= 1500


def test_a_transient_500_does_not_switch_the_mode(use_store: Store) -> None:
    with ScriptedOpenAIServer([{"status": 500}], default=answer) as server:
        rec = Agent(
            store=use_store, model=chat(server), candidates=8, llm_settings=LLMSettings(timeout=5)
        ).recommend(QUERY, k=3)
    assert not rec.trace.fallback and rec.trace.usage.transport_retries == 1
    assert [r["response_format"]["type"] for r in server.requests] == ["json_schema"] * 2


def test_a_refusal_is_remembered_across_processes(use_store: Store, _server_modes: Path) -> None:
    with ScriptedOpenAIServer([REFUSAL], default=answer) as server:
        Agent(
            store=use_store, model=chat(server), candidates=8, llm_settings=LLMSettings(timeout=5)
        ).recommend(QUERY, k=3)
        assert json.loads(_server_modes.read_text()) == {f"{server.base_url} m": "json_object"}
        again = chat(server)  # what another process makes: it reads the cache folder
        rec = Agent(
            store=use_store, model=again, candidates=8, llm_settings=LLMSettings(timeout=5)
        ).recommend(QUERY, k=3)
    formats = [r["response_format"]["type"] for r in server.requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert rec.trace.usage.llm_calls == 1 and not rec.trace.fallback


class _Agent:
    def __init__(self, slots: int | None) -> None:
        self.llm = self
        self.slots = slots

    def limits(self) -> ServerLimits:
        return ServerLimits(slots=self.slots)


@pytest.mark.parametrize(("slots", "expected"), [(1, 1), (2, 2), (8, 4), (None, 4)])
def test_eval_concurrency_follows_the_servers_slots(slots: int | None, expected: int) -> None:
    assert concurrency(4, _Agent(slots)) == expected


def test_eval_concurrency_without_a_model_is_as_asked() -> None:
    class Local:
        llm = None

    assert concurrency(3, Local()) == 3


def test_the_context_setting_reaches_the_ranker(use_store: Store) -> None:
    from polyrank.agent._config import Settings
    from polyrank.agent.testing import ScriptedModel

    agent = Settings.load(context=3000, cache=None).agent(use_store, model=ScriptedModel())
    assert agent.ranker.config.context_window == 3000  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="--context=100"):
        Settings.load(context=100)
