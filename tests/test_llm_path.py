"""The LLM path against what real servers do (issue: bounded schemas, salvage, deadlines).

Every test talks HTTP to a scripted OpenAI-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import pytest

from polyrank._cli import main
from polyrank.agent import Agent, LLMSettings
from polyrank.agent._llm import OpenAIChat, TransportPolicy
from polyrank.agent.testing import ScriptedOpenAIServer, prompt_candidates
from polyrank.retrieval import Store, is_in_language

pytestmark = pytest.mark.http

QUERY = "Quiero aprender a programar"
REASON = "Te ayuda a empezar a programar paso a paso."
FAST = TransportPolicy(attempts=3, initial_wait=0.05, max_wait=0.2)


def keys_in(body: dict[str, Any]) -> list[str]:
    return [key for key, _ in prompt_candidates(body["messages"])]


def entries(keys: list[str]) -> str:
    return json.dumps({"ranking": [{"id": k, "reason": REASON} for k in keys]})


def make_agent(store: Store, server: ScriptedOpenAIServer, **options: Any) -> Agent:
    timeout = options.pop("timeout", 5.0)
    model = OpenAIChat(
        "test-model",
        base_url=server.base_url,
        api_key="k",
        timeout=timeout,
        transport=FAST,
        max_tokens=options.pop("max_tokens", 1500),
    )
    return Agent(
        store=store,
        model=model,
        candidates=8,
        llm_settings=LLMSettings(timeout=timeout),
        **options,
    )


def test_schema_is_bounded_per_call(use_store: Store) -> None:
    with ScriptedOpenAIServer([lambda b: {"content": entries(keys_in(b))}]) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=3)
    body = server.requests[0]
    schema = body["response_format"]["json_schema"]["schema"]
    ranking = schema["properties"]["ranking"]
    shown = keys_in(body)
    assert len(shown) == 8
    assert ranking["maxItems"] == ranking["minItems"] == 3  # the top k the user sees
    assert body["max_tokens"] < 1500  # sized from k and the reason limit
    assert ranking["items"]["properties"]["id"]["enum"] == shown
    assert ranking["items"]["properties"]["reason"]["maxLength"] > 0
    assert not rec.trace.fallback and rec.trace.repairs == {}


def test_refused_json_schema_switches_to_json_object_with_schema_and_remembers(
    use_store: Store,
) -> None:
    refuse = {
        "status": 500,
        "body": {"error": {"message": "Input should be 'text' or 'json_object'"}},
    }
    script = [refuse, {"status": 503}, lambda b: {"content": entries(keys_in(b))}]
    with ScriptedOpenAIServer(script, default=lambda b: {"content": entries(keys_in(b))}) as server:
        agent = make_agent(use_store, server)
        first = agent.recommend(QUERY, k=3)
        second = agent.recommend("Python para principiantes", k=3)
    formats = [r["response_format"] for r in server.requests]
    assert formats[0]["type"] == "json_schema"
    # after the refusal every request, the transport retry included, is JSON mode + schema
    assert [f["type"] for f in formats[1:]] == ["json_object"] * (len(formats) - 1)
    assert all(f["schema"]["properties"]["ranking"]["maxItems"] == 3 for f in formats[1:])
    assert not first.trace.fallback and not second.trace.fallback
    assert second.trace.usage.llm_calls == 1


def test_cut_reply_saying_stop_is_salvaged(use_store: Store) -> None:
    def cut(body: dict[str, Any]) -> dict[str, Any]:
        full = entries(list(reversed(keys_in(body))))
        # cut inside the 6th entry; the server still says "stop"
        cut_at = full.index('{"id"', full.index('{"id"') + 1)
        for _ in range(4):
            cut_at = full.index('{"id"', cut_at + 1)
        return {"content": full[: cut_at + 20], "finish_reason": "stop"}

    with ScriptedOpenAIServer([cut]) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=5)
    shown = keys_in(server.requests[0])
    trace = rec.trace
    assert not trace.fallback and trace.usage.llm_calls == 1
    assert trace.repairs["salvaged"] == 1
    assert "missing_id" not in trace.repairs  # 5 complete entries kept: the k asked for
    assert len(trace.filled) == 0
    by_key = dict(zip(shown, trace.candidate_ids, strict=True))
    assert [i.id for i in rec.items] == [by_key[k] for k in list(reversed(shown))[:5]]


def test_endless_array_until_max_tokens_is_salvaged(use_store: Store) -> None:
    with ScriptedOpenAIServer([{"endless": True}]) as server:
        rec = make_agent(use_store, server, max_tokens=200).recommend(QUERY, k=5)
    assert server.requests[0]["max_tokens"] == 200
    trace = rec.trace
    assert not trace.fallback
    assert trace.repairs["salvaged"] == 1 and trace.repairs["duplicate_id"] > 0
    assert len({i.id for i in rec.items}) == 5


def test_unsalvageable_reply_is_reasked(use_store: Store) -> None:
    script = [
        {"content": '{"ranking": [{"id": "c1", "rea', "finish_reason": "length"},
        lambda b: {"content": entries(keys_in(b))},
    ]
    with ScriptedOpenAIServer(script) as server:
        rec = make_agent(use_store, server).recommend(QUERY, k=3)
    assert rec.trace.repairs["truncated"] == 1 and rec.trace.usage.reasks == 1
    assert not rec.trace.fallback


def test_dripping_server_is_abandoned_at_the_deadline(use_store: Store) -> None:
    with ScriptedOpenAIServer([{"drip": 0.5, "content": entries(["c1"])}]) as server:
        started = time.monotonic()
        rec = make_agent(use_store, server, timeout=2.0).recommend(QUERY, k=3)
        waited = time.monotonic() - started
        finished = server.finished
    assert rec.trace.fallback and rec.trace.ranker == "local"
    assert "deadline" in (rec.trace.fallback_reason or "")
    assert finished == 0  # the answer was still dripping when recommend returned
    assert len(rec.items) == 3
    assert waited < 30  # a drip of the whole reply would take minutes


def test_deadline_spans_transport_retries(use_store: Store) -> None:
    slow = {"delay": 1.5, "status": 503}
    with ScriptedOpenAIServer([slow] * 10) as server:
        model = OpenAIChat(
            "m",
            base_url=server.base_url,
            api_key="k",
            timeout=2.5,
            transport=TransportPolicy(attempts=10, initial_wait=0.05, max_wait=0.1),
        )
        http = LLMSettings(timeout=2.5)
        agent = Agent(store=use_store, model=model, candidates=8, llm_settings=http)
        rec = agent.recommend(QUERY, k=3)
        calls = len(server.requests)
    assert rec.trace.fallback
    # 10 attempts were allowed, but the 2.5 s deadline left room for two 1.5 s answers
    assert calls <= 2


def test_serial_server_handles_one_request_at_a_time() -> None:
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def step(body: dict[str, Any]) -> dict[str, Any]:
        start = time.monotonic()
        time.sleep(0.3)
        with lock:
            spans.append((start, time.monotonic()))
        return {"content": "{}"}

    with ScriptedOpenAIServer(default=step, serial=True) as server:
        model = OpenAIChat("m", base_url=server.base_url, api_key="k", transport=FAST)
        threads = [
            threading.Thread(target=model.complete, args=([{"role": "user", "content": "x"}], None))
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    spans.sort()
    assert len(spans) == 3
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("c1", "ja", False),
        ("...", "es", False),
        ("1234", "es", False),
        ("Mine", "es", False),
        ("累勉＆＆＆＆＆＆＆＆＆＆＆＆＆＆＆＆＆＆", "zh", False),  # a real small model's reply
        ("This is a great pick because Cien años de soledad is a classic", "es", False),
        ("Una novela clásica que encaja con lo que buscas", "es", True),
        ("ご要望に合っています", "ja", True),
        ("Ein spannender Krimi aus den Bergen für Sie", "de", True),
        # vowel signs are combining marks, not symbols: this is a Hindi sentence
        ("आपकी तलाश के अनुरूप है · किताब (जापानी), JP¥4,600", "hi", True),
        ("คุณอาจชอบหนังสือเล่มนี้ · หนังสือ, ฿450", "th", True),
        # a price against the ceiling is no symbol soup (was: 4 letters of 9 visible signs)
        ("英语旅行 · ≈ ¥3,245.00 (≤ ¥10,000.00)", "zh", True),
        ("·≈≤ ≥() ≈·", "zh", False),
    ],
)
def test_is_in_language_is_strict(text: str, language: str, expected: bool) -> None:
    assert is_in_language(text, language, ["Cien años de soledad"]) is expected


def test_cli_timeout_and_max_tokens_reach_the_server(
    use_store_path: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import shutil

    store = tmp_path / "store"
    shutil.copytree(use_store_path, store)
    monkeypatch.chdir(tmp_path)
    with ScriptedOpenAIServer(default=lambda b: {"content": entries(keys_in(b))}) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("POLYRANK_TIMEOUT", "7")
        code = main(
            [
                "recommend",
                QUERY,
                "--model",
                "openai:m",
                "--max-tokens",
                "321",
                "--store",
                str(store),
                "--embeddings",
                "use-m3",
                "--json",
            ]
        )
    assert code == 0
    assert server.requests[0]["max_tokens"] == 321
    out = json.loads(capsys.readouterr().out)
    assert out["trace"]["fallback"] is False
    capsys.readouterr()
    assert main(["recommend", QUERY, "--timeout", "0", "--store", str(store)]) == 1
    assert "--timeout=0.0: Input should be greater than 0" in capsys.readouterr().err
    monkeypatch.setenv("POLYRANK_TIMEOUT", "soon")
    assert main(["recommend", QUERY, "--store", str(store)]) == 1
    assert "POLYRANK_TIMEOUT='soon'" in capsys.readouterr().err


def test_recorded_llama_replies_replay_without_fallback(use_store: Store) -> None:
    """The real llama.cpp server's recorded replies (tests/test_llama_server.py) replayed.

    They include the refusal of json_schema (HTTP 500), short id lists and reasons in the
    wrong language: the same requests must take the same path, reply by reply, with no
    fallback and no request left over or missing.
    """
    from tests.test_llama_server import RECORDED, check_answers

    steps = json.loads(RECORDED.read_text())
    assert steps[0]["status"] == 500  # json_schema refused, as llama-cpp-python does
    with ScriptedOpenAIServer(steps, serial=True) as server:
        check_answers(use_store, server.base_url)
    assert len(server.requests) == len(steps)
    assert server.requests[0]["response_format"]["type"] == "json_schema"
    assert all(r["response_format"]["type"] == "json_object" for r in server.requests[1:])
