"""Any LangChain chat model (issue 20): provider specs through init_chat_model, a clear
error naming a missing package, and the openai: backend's structured output, retries and
deadline behaviour, with a LangChain fake chat model and against the scripted server."""

from __future__ import annotations

import importlib.util
import json
import threading
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from polyrank._cli import main
from polyrank.agent import Agent, LangChainChat, LLMSettings, TransportPolicy
from polyrank.agent.testing import ScriptedOpenAIServer, prompt_candidates, retrieval_order_step
from polyrank.retrieval import Store

QUERY = "hiking boots"
FAST = TransportPolicy(attempts=3, initial_wait=0.01, max_wait=0.05)


class ServerDown(Exception):
    """What a provider SDK raises for an HTTP status (anthropic's APIStatusError has one)."""

    status_code = 503


class FakeRanker(BaseChatModel):
    """A LangChain chat model that answers rerank prompts: the candidates reversed, or the
    scripted failures first (an exception, a text, or "hang" to never answer)."""

    script: list[Any] = []  # noqa: RUF012
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "fake-ranker"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:  # fmt: skip
        self.calls += 1
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            if step == "hang":
                threading.Event().wait(30)
            return self._result(str(step))
        roles = {"human": "user", "ai": "assistant", "system": "system"}
        body = {"messages": [{"role": roles[m.type], "content": m.content} for m in messages]}
        assert prompt_candidates(body["messages"])  # a rerank prompt
        ranking = json.loads(retrieval_order_step(body)["content"])["ranking"]
        return self._result(json.dumps({"ranking": ranking[::-1]}, ensure_ascii=False))

    @staticmethod
    def _result(text: str) -> ChatResult:
        usage = {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
        message = AIMessage(content=text, usage_metadata=usage)  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=message)])


def agent_with(store: str, chat: Any, **options: Any) -> Agent:
    model = LangChainChat(chat, "fake:ranker", transport=FAST)
    return Agent(store=Store.open(store), model=model, **options)


def test_a_langchain_chat_model_ranks_through_the_same_loop(small_use_store: str) -> None:
    chat = FakeRanker()
    rec = agent_with(small_use_store, chat).recommend(QUERY, k=3)
    assert not rec.trace.fallback and rec.trace.ranker == "fake:ranker"
    shown = rec.trace.candidate_ids
    assert [i.id for i in rec.items] == shown[::-1][:3]  # the model's order, not retrieval's
    assert rec.trace.usage.prompt_tokens == 100 and rec.trace.usage.completion_tokens == 20
    assert rec.items[0].reason and rec.trace.usage.llm_calls == 1


def test_transport_retries_and_re_asks_work_for_langchain_models(small_use_store: str) -> None:
    chat = FakeRanker(script=[ServerDown("overloaded"), "not json"])
    rec = agent_with(small_use_store, chat).recommend(QUERY, k=3)
    assert not rec.trace.fallback
    assert rec.trace.usage.transport_retries == 1 and rec.trace.usage.reasks == 1
    assert rec.trace.repairs.get("invalid_output") == 1 and chat.calls == 3


def test_a_non_retryable_status_falls_back_at_once(small_use_store: str) -> None:
    class Refused(Exception):
        status_code = 401

    chat = FakeRanker(script=[Refused("bad key")])
    rec = agent_with(small_use_store, chat).recommend(QUERY, k=3)
    assert rec.trace.fallback and "HTTP 401" in (rec.trace.fallback_reason or "")
    assert chat.calls == 1 and rec.trace.ranker == "local"


def test_the_deadline_bounds_a_langchain_model_that_never_answers(small_use_store: str) -> None:
    chat = FakeRanker(script=["hang"])
    http = LLMSettings(timeout=0.5)
    rec = agent_with(small_use_store, chat, llm_settings=http).recommend(QUERY, k=3)
    assert rec.trace.fallback and "deadline" in (rec.trace.fallback_reason or "")


@pytest.mark.skipif(
    importlib.util.find_spec("langchain_anthropic") is not None, reason="it is installed"
)
def test_a_provider_without_its_package_names_the_package(
    small_use_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["recommend", QUERY, "--store", small_use_store, "--model",
                 "anthropic:claude-3-5-haiku-latest"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "'anthropic:claude-3-5-haiku-latest' needs the package langchain-anthropic" in err
    assert "pip install langchain-anthropic" in err


def test_provider_names_are_registered_specs(capsys: pytest.CaptureFixture[str]) -> None:
    from polyrank.agent.registry import names, resolve

    assert {"anthropic", "ollama", "mistralai", "langchain", "openai"} <= set(names("llm"))
    with pytest.raises(Exception, match="write langchain:PROVIDER:MODEL"):
        resolve("llm", "langchain:just-a-model", timeout=5.0)


@pytest.mark.http
def test_init_chat_model_with_openai_against_the_scripted_server(
    small_use_store: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    steps: list[Any] = [{"status": 503}, retrieval_order_step]
    with ScriptedOpenAIServer(steps, default=retrieval_order_step) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        code = main(["recommend", QUERY, "--store", small_use_store, "--model",
                     "langchain:openai:scripted", "--json", "--k", "3"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["trace"]["ranker"] == "openai:scripted"
    assert out["trace"]["transport_retries"] == 1 and not out["trace"]["fallback"]
    body = server.requests[-1]
    assert body["response_format"]["type"] == "json_schema"  # LangChain's structured output
    assert body["model"] == "scripted"
