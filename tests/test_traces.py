"""Traces and logs (issue 20): per-package loggers and -v, --trace FILE with every call,
LangChain callbacks that nest polyrank's calls under the caller's run, unknown costs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda

from polyrank._cli import main
from polyrank.agent import Agent, LLMSettings
from polyrank.agent._pricing import load_prices
from polyrank.agent.errors import ConfigError
from polyrank.agent.testing import ScriptedOpenAIServer, retrieval_order_step
from polyrank.retrieval import Store
from tests.conftest import FIXTURES

pytestmark = pytest.mark.http

QUERY = "hiking boots"
MINI = FIXTURES / "mini_suite.yaml"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    with ScriptedOpenAIServer(default=retrieval_order_step) as scripted:
        monkeypatch.setenv("OPENAI_BASE_URL", scripted.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("POLYRANK_CACHE", str(tmp_path / "cache"))
        yield scripted


def recommend(store: str, *extra: str) -> int:
    return main(["recommend", QUERY, "--store", store, "--model", "openai:scripted", "--k", "3",
                 "--timeout", "10", *extra])  # fmt: skip


def test_loggers_are_per_package_and_quiet_by_default() -> None:
    from polyrank import retrieval  # noqa: F401 - installs the NullHandler

    root = logging.getLogger("polyrank")
    assert any(isinstance(h, logging.NullHandler) for h in root.handlers)
    for name in ("polyrank.agent.rerank", "polyrank.evals", "polyrank.retrieval.catalog"):
        assert logging.getLogger(name).parent is not None
        assert name.startswith("polyrank.")


def test_verbose_logs_each_call_to_stderr_and_quiet_without(
    small_use_store: str,
    server: ScriptedOpenAIServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert recommend(small_use_store) == 0
    assert capsys.readouterr().err == ""
    assert recommend(small_use_store, "-vv") == 0
    err = capsys.readouterr().err
    assert "polyrank: DEBUG polyrank.agent.rerank: LLM call 1 (window 1)" in err
    assert "prompt + " in err and "completion tokens" in err
    assert recommend(small_use_store, "-v") == 0
    err = capsys.readouterr().err
    assert "LLM call 1" not in err  # -v: steps, repairs and fallbacks only


def test_a_fallback_is_logged_as_a_warning(
    small_use_store: str, caplog: pytest.LogCaptureFixture
) -> None:
    with ScriptedOpenAIServer(default={"status": 401}) as down:
        http = LLMSettings(base_url=down.base_url, api_key="k", timeout=5)
        agent = Agent(store=Store.open(small_use_store), model="openai:scripted",
                      llm_settings=http)  # fmt: skip
        with caplog.at_level(logging.INFO, logger="polyrank"):
            rec = agent.recommend(QUERY, k=3)
    assert rec.trace.fallback
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in warnings] == ["polyrank.agent.rerank", "polyrank.agent.rerank"]
    assert "HTTP 401" in warnings[0].getMessage()
    assert "the local ranker answers" in warnings[1].getMessage()


def test_trace_file_holds_every_call_with_messages_reply_tokens_and_repairs(
    small_use_store: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Was: the trace kept only the last user message."""
    monkeypatch.chdir(tmp_path)
    trace = tmp_path / "t.jsonl"
    with ScriptedOpenAIServer([{"content": "not json at all"}], default=retrieval_order_step) as s:
        monkeypatch.setenv("OPENAI_BASE_URL", s.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        assert recommend(small_use_store, "--trace", str(trace), "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    assert "calls" not in printed["trace"]  # --json keeps its shape
    [line] = [json.loads(x) for x in trace.read_text(encoding="utf-8").splitlines()]
    assert line["query"] == QUERY and line["items"] == [i["id"] for i in printed["items"]]
    calls = line["trace"]["calls"]
    assert len(calls) == 2 and [c["n"] for c in calls] == [1, 2]
    first, second = calls
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["messages"][0]["content"].strip()  # the system prompt, whole
    assert first["reply"] == "not json at all"
    assert first["problem"].startswith("invalid_output")
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert "Your answer was not usable" in second["messages"][-1]["content"]
    assert json.loads(second["reply"])["ranking"]
    for call in calls:
        assert call["prompt_tokens"] > 0 and call["completion_tokens"] > 0
        assert call["latency_ms"] >= 0 and call["cached"] is False and call["window"] == 1


def test_trace_file_of_an_eval_names_case_and_language(
    tmp_path: Path,
    server: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    trace = tmp_path / "eval.jsonl"
    assert main(["eval", str(MINI), "--store", str(tmp_path / "s"), "--model",
                 "openai:scripted", "--no-cache", "--trace", str(trace)]) == 0  # fmt: skip
    lines = [json.loads(x) for x in trace.read_text(encoding="utf-8").splitlines()]
    assert sorted((x["case"], x["language"]) for x in lines) == [
        ("books", "de"), ("books", "en"), ("boots", "de"), ("boots", "en"), ("boots", "ja")
    ]  # fmt: skip
    assert all(x["trace"]["calls"][0]["messages"][0]["role"] == "system" for x in lines)


def test_a_trace_file_that_cannot_be_written_is_an_error_before_any_work(
    small_use_store: str,
    server: ScriptedOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "no-such-folder" / "t.jsonl"
    assert recommend(small_use_store, "--trace", str(bad)) == 1
    assert f"--trace {bad}: cannot write" in capsys.readouterr().err
    assert server.requests == []


# -- LangChain callbacks ------------------------------------------------------------------------


class Runs(BaseCallbackHandler):
    """Records (kind, run id, parent run id) of every run it sees, as a tracer would."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, UUID, UUID | None]] = []

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kw: Any) -> None:  # fmt: skip
        self.runs.append(("chain", run_id, parent_run_id))

    def on_retriever_start(self, serialized: Any, query: str, *, run_id: UUID,
                           parent_run_id: UUID | None = None, **kw: Any) -> None:  # fmt: skip
        self.runs.append(("retriever", run_id, parent_run_id))

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID,
                            parent_run_id: UUID | None = None, **kw: Any) -> None:  # fmt: skip
        self.runs.append(("chat", run_id, parent_run_id))

    def of(self, kind: str) -> list[tuple[str, UUID, UUID | None]]:
        return [r for r in self.runs if r[0] == kind]


def _agent(store: str, server: ScriptedOpenAIServer, **options: Any) -> Agent:
    http = LLMSettings(
        base_url=server.base_url, api_key="k", timeout=10, callbacks=options.pop("callbacks", ())
    )
    return Agent(store=Store.open(store), model="openai:scripted", llm_settings=http,
                 **options)  # fmt: skip


def test_the_callers_run_nests_polyranks_model_calls(
    small_use_store: str, server: ScriptedOpenAIServer
) -> None:
    """Was: ChatOpenAI showed up as a separate root trace."""
    agent = _agent(small_use_store, server)
    runs = Runs()
    chain = RunnableLambda(lambda q: agent.recommend(q, k=3))
    rec = chain.invoke(QUERY, config={"callbacks": [runs]})
    assert not rec.trace.fallback
    [(_, chain_id, chain_parent)] = runs.of("chain")
    chats = runs.of("chat")
    assert chain_parent is None and chats
    assert {parent for _, _, parent in chats} == {chain_id}


def test_callbacks_given_to_the_agent_reach_the_chat_model(
    small_use_store: str, server: ScriptedOpenAIServer
) -> None:
    runs = Runs()
    agent = _agent(small_use_store, server, callbacks=[runs])
    agent.recommend(QUERY, k=3)
    assert runs.of("chat") and all(parent is None for _, _, parent in runs.of("chat"))
    # inside a caller's run as well: the agent's handler sees the calls nested there
    outer = Runs()
    RunnableLambda(lambda q: agent.recommend(q, k=3)).invoke(QUERY, config={"callbacks": [outer]})
    [(_, chain_id, _)] = outer.of("chain")
    assert {p for _, _, p in outer.of("chat")} == {chain_id}
    assert {p for _, _, p in runs.of("chat")[1:]} >= {chain_id}


def test_the_compressor_nests_its_model_calls_under_the_retriever_run(
    small_use_store: str, server: ScriptedOpenAIServer
) -> None:
    from langchain_core.callbacks import CallbackManager

    from polyrank.agent import PolyrankCompressor

    runs = Runs()
    manager = CallbackManager(handlers=[runs], inheritable_handlers=[runs])
    retriever_run = manager.on_retriever_start({}, QUERY)
    titles = ["Hiking boots, waterproof", "A cookbook", "Trekking poles"]
    docs = [Document(page_content=t, id=str(n), metadata={"title": t})
            for n, t in enumerate(titles)]  # fmt: skip
    compressor = PolyrankCompressor(agent=_agent(small_use_store, server), top_n=2)
    out = compressor.compress_documents(docs, QUERY, callbacks=retriever_run.get_child())
    assert len(out) == 2
    [(_, retriever_id, _)] = runs.of("retriever")
    assert runs.of("chat") and {p for _, _, p in runs.of("chat")} == {retriever_id}


# -- cost -------------------------------------------------------------------------------------


def test_cost_is_unknown_without_a_price_and_read_from_polyrank_prices(
    small_use_store: str,
    server: ScriptedOpenAIServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Was: cost 0 for every model outside a three-entry table."""
    monkeypatch.chdir(tmp_path)
    assert recommend(small_use_store, "--json") == 0
    trace = json.loads(capsys.readouterr().out)["trace"]
    assert trace["prompt_tokens"] > 0 and trace["cost"] is None
    monkeypatch.setenv("POLYRANK_CACHE", str(tmp_path / "cache-2"))  # no cached replies
    assert recommend(small_use_store) == 0
    assert "cost unknown" in capsys.readouterr().out
    prices = tmp_path / "prices.yaml"
    prices.write_text("scripted: {prompt: 1.0, completion: 2.0}\n")
    monkeypatch.setenv("POLYRANK_PRICES", str(prices))
    monkeypatch.setenv("POLYRANK_CACHE", str(tmp_path / "cache-3"))
    assert recommend(small_use_store, "--json") == 0
    trace = json.loads(capsys.readouterr().out)["trace"]
    expected = (trace["prompt_tokens"] * 1.0 + trace["completion_tokens"] * 2.0) / 1e6
    assert trace["cost"] == pytest.approx(expected)


def test_the_local_ranker_costs_nothing_and_an_eval_says_unknown(
    tmp_path: Path,
    server: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.json"
    store = str(tmp_path / "s")
    assert main(["eval", str(MINI), "--store", store, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["summary"]["en"]["cost"] == 0.0
    assert main(["eval", str(MINI), "--store", store, "--model", "openai:scripted",
                 "--no-cache", "--json", str(out)]) == 0  # fmt: skip
    report = json.loads(out.read_text())
    assert report["summary"]["en"]["cost"] == "unknown"
    assert "cost" not in report["cases"][0]["languages"]["en"]["metrics"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpt-x: {prompt: 1}\n", "gpt-x: write {prompt: USD, completion: USD}"),
        ("gpt-x: [1, -2]\n", "gpt-x: a price is at least 0"),
        ("gpt-x: [1, cheap]\n", "gpt-x: 'cheap' is not a price"),
        ("- a list\n", "a mapping of model name to prices"),
    ],
)
def test_a_bad_prices_file_names_the_model(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("[", r"\[")):
        load_prices(path)
    assert load_prices(_write(tmp_path, '{"m": [0.1, 0.2]}')) == {"m": (0.1, 0.2)}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.json"
    path.write_text(text)
    return path


def test_recommend_shows_a_spinner_on_a_terminal_while_the_model_ranks(
    small_use_store: str,
    server: ScriptedOpenAIServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Was: a blank terminal until a slow model answered."""
    import sys

    monkeypatch.chdir(tmp_path)
    assert recommend(small_use_store) == 0
    assert "asking" not in capsys.readouterr().err  # not a terminal: nothing
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert recommend(small_use_store) == 0
    assert "asking openai:scripted" in capsys.readouterr().err


# -- OpenTelemetry ----------------------------------------------------------------------------


@pytest.fixture
def spans() -> Any:
    """The SDK's in-memory exporter on the global tracer provider (set once a process)."""
    from opentelemetry import trace as otel
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = otel.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        otel.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    yield exporter
    processor.shutdown()  # stops exporting to this test's exporter


def test_opentelemetry_spans_per_stage_and_llm_call_under_the_callers_span(
    small_use_store: str, server: ScriptedOpenAIServer, spans: Any
) -> None:
    from opentelemetry import trace as otel

    agent = _agent(small_use_store, server)
    with otel.get_tracer("the-app").start_as_current_span("handle-request") as outer:
        rec = agent.recommend(QUERY, k=3)
    finished = {s.name: s for s in spans.get_finished_spans()}
    root = finished["polyrank.recommend"]
    assert root.parent is not None and root.parent.span_id == outer.get_span_context().span_id
    assert root.attributes["polyrank.ranker"] == "openai:scripted"
    assert root.attributes["gen_ai.usage.input_tokens"] == rec.trace.usage.prompt_tokens > 0
    for stage in ("language", "context", "plan", "retrieve", "rank"):
        span = finished[f"polyrank.{stage}"]
        assert span.parent.span_id == root.context.span_id
        assert root.start_time <= span.start_time <= span.end_time <= root.end_time
    llm = [s for s in spans.get_finished_spans() if s.name == "polyrank.llm"]
    assert len(llm) == rec.trace.usage.llm_calls
    assert all(s.parent.span_id == finished["polyrank.rank"].context.span_id for s in llm)
