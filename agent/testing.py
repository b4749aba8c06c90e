"""Test doubles for polyrank and for your own prompts.

- :class:`ScriptedModel` replays replies in order (strings, :class:`Reply` or exceptions).
- :class:`FunctionModel` answers with a function of the messages.
- :class:`ScriptedOpenAIServer` is a real OpenAI-compatible HTTP server on 127.0.0.1 that
  replays a script, so the whole ``openai``/langchain client stack is exercised.

Usage::

    model = ScriptedModel(['{"ranking": [{"id": "c1", "reason": "..."}]}'])
    agent = Agent(store=..., model=model)

    with ScriptedOpenAIServer([{"status": 429, "headers": {"Retry-After": "0"}},
                               {"content": '{"ranking": []}'}]) as server:
        http = LLMSettings(base_url=server.base_url, api_key="k")
        agent = Agent(store=..., model="openai:test", llm_settings=http)
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from polyrank.agent._llm import Message, Reply

__all__ = [
    "FunctionModel",
    "ScriptedModel",
    "ScriptedOpenAIServer",
    "prompt_candidates",
    "retrieval_order_step",
]


def _reply(value: str | Reply, spec: str) -> Reply:
    if isinstance(value, Reply):
        return value
    return Reply(
        content=value, model=spec, prompt_tokens=0, completion_tokens=0, finish_reason="stop"
    )


class ScriptedModel:
    """Replays replies in order; an exception in the script is raised instead.

    Raises ``AssertionError`` when asked more often than the script allows.
    """

    def __init__(self, replies: Iterable[str | Reply | Exception] = (), spec: str = "scripted"):
        self.spec = spec
        self._replies: deque[str | Reply | Exception] = deque(replies)
        self.calls: list[list[Message]] = []

    def enqueue(self, *replies: str | Reply | Exception) -> None:
        self._replies.extend(replies)

    def complete(self, messages: Sequence[Message], schema: dict[str, Any] | None) -> Reply:
        self.calls.append(list(messages))
        if not self._replies:
            raise AssertionError(f"ScriptedModel: no reply left for call {len(self.calls)}")
        value = self._replies.popleft()
        if isinstance(value, Exception):
            raise value
        return _reply(value, self.spec)


class FunctionModel:
    """Answers with ``function(messages, schema)``, which returns text or a :class:`Reply`."""

    def __init__(
        self,
        function: Callable[[Sequence[Message], dict[str, Any] | None], str | Reply],
        spec: str = "function",
    ) -> None:
        self.spec = spec
        self.function = function
        self.calls: list[list[Message]] = []

    def complete(self, messages: Sequence[Message], schema: dict[str, Any] | None) -> Reply:
        self.calls.append(list(messages))
        return _reply(self.function(messages, schema), self.spec)


Step = dict[str, Any]


class _Server(ThreadingHTTPServer):
    # A backlog of 5 (the default) refuses part of a burst of 100 connections; the
    # refused clients wait a second before their retry, which a concurrency bench sees.
    request_queue_size = 256


class ScriptedOpenAIServer:
    """An OpenAI-compatible ``/v1/chat/completions`` server on 127.0.0.1.

    Each request takes the next step of the script:

    - ``{"content": "..."}``: a normal completion (``finish_reason`` may be set, e.g.
      ``"length"`` for a truncated answer; ``usage`` may override token counts);
    - ``{"status": 429, "headers": {"Retry-After": "1"}, "body": {...}}``: an HTTP error;
    - ``{"delay": 5, ...}``: sleep first (to provoke the client's timeout); like a real
      server, it still generates and sends the answer after the client gave up;
    - ``{"drip": 1.0, "content": ...}``: send the response one byte every ``drip`` seconds
      (no read timeout ever trips; only an overall deadline ends the wait);
    - ``{"content": ..., "cut": 300}``: cut the content after 300 characters, with the step's
      ``finish_reason`` (real servers often say ``"stop"`` even then);
    - ``{"endless": True}``: list ranking entries for the shown candidates over and over
      until the request's ``max_tokens`` (about 4 characters a token) runs out, then stop
      mid-entry with ``finish_reason="length"``, as a grammar without ``maxItems`` does.

    A callable step is called with the request body and returns a step. When the script
    is used up, ``default`` answers (HTTP 500 when ``None``). ``requests`` records every
    request body; ``finished`` counts answers fully sent. ``serial=True`` handles one request
    at a time, as llama.cpp's server does with one slot. ``routes`` answers other paths
    with fixed JSON, GET or POST (``{"/props": {"n_ctx": 2048, "total_slots": 1}}``, as
    llama.cpp's server does; ``/api/show`` as Ollama's); any other GET is HTTP 404.
    """

    def __init__(
        self,
        script: Iterable[Step | Callable[[dict[str, Any]], Step]] = (),
        default: Step | Callable[[dict[str, Any]], Step] | None = None,
        *,
        serial: bool = False,
        routes: dict[str, Any] | None = None,
    ) -> None:
        self.routes = dict(routes or {})
        self.script: deque[Step | Callable[[dict[str, Any]], Step]] = deque(script)
        self.default = default
        self.requests: list[dict[str, Any]] = []
        self.finished = 0
        self._serial = threading.Lock() if serial else None
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> ScriptedOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next(self, body: dict[str, Any]) -> Step:
        with self._lock:
            self.requests.append(body)
            step = self.script.popleft() if self.script else self.default
        if step is None:
            return {"status": 500, "body": {"error": {"message": "script exhausted"}}}
        return step(body) if callable(step) else step

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits 40 ms for an ACK

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(
                self,
                status: int,
                payload: dict[str, Any],
                headers: dict[str, str] | None = None,
                drip: float = 0.0,
            ) -> None:
                """Send a JSON response; with ``drip``, one byte every ``drip`` seconds."""
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                # writing fails when the client gave up (timeout and deadline tests)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                    if drip:
                        for i in range(len(data)):
                            self.wfile.write(data[i : i + 1])
                            self.wfile.flush()
                            time.sleep(drip)
                    else:
                        self.wfile.write(data)
                    with server._lock:
                        server.finished += 1

            def _route(self) -> bool:
                """Answer a fixed route (not a completion: ``finished`` is not counted)."""
                path = self.path.split("?", 1)[0]
                if path not in server.routes:
                    return False
                data = json.dumps(server.routes[path]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(data)
                return True

            def do_GET(self) -> None:
                if not self._route():
                    self.send_error(404)

            def do_POST(self) -> None:
                if self.path.split("?", 1)[0] in server.routes:
                    self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    self._route()
                    return
                if server._serial is None:
                    self._post()
                    return
                with server._serial:
                    self._post()

            def _post(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                step = server._next(body)
                if step.get("endless"):
                    step = {**step, **_endless(body)}
                if "cut" in step:
                    step = {**step, "content": str(step.get("content", ""))[: int(step["cut"])]}
                if step.get("delay"):
                    time.sleep(float(step["delay"]))
                if "status" in step:
                    error = step.get("body", {"error": {"message": f"HTTP {step['status']}"}})
                    self._send(int(step["status"]), error, step.get("headers"))
                    return
                content = str(step.get("content", ""))
                usage = step.get("usage") or {
                    "prompt_tokens": sum(
                        len(str(m.get("content", ""))) // 4 for m in body.get("messages", [])
                    ),
                    "completion_tokens": max(1, len(content) // 4),
                }
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "scripted"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": step.get("finish_reason", "stop"),
                            }
                        ],
                        "usage": usage,
                    },
                    drip=float(step.get("drip", 0.0)),
                )

        return Handler


def _endless(body: dict[str, Any]) -> Step:
    """Ranking entries for the shown keys, repeated until ``max_tokens`` is spent."""
    keys = [key for key, _ in prompt_candidates(body.get("messages", []))] or ["c1"]
    budget = 4 * int(body.get("max_tokens") or 256)
    text = '{"ranking": ['
    n = 0
    while len(text) < budget:
        text += json.dumps({"id": keys[n % len(keys)], "reason": "a good match"}) + ", "
        n += 1
    return {"content": text[:budget], "finish_reason": "length"}


_BLOCK = re.compile(r"<candidates>\n(.*?)</candidates>", flags=re.S)


def prompt_candidates(messages: Sequence[Any]) -> list[tuple[str, str]]:
    """``(key, title)`` of the candidates in a rerank prompt's data block, in the order shown.

    ``messages`` are chat messages (dicts with ``role`` and ``content``), as a model or a
    request body receives them; the first user message is read.
    """
    user = next((m["content"] for m in messages if m["role"] == "user"), "")
    block = _BLOCK.search(user)
    rows = [json.loads(line) for line in (block[1] if block else "").splitlines() if line]
    return [(row["id"], row["title"]) for row in rows]


def retrieval_order_step(body: dict[str, Any]) -> Step:
    """A well-behaved scripted reply for any rerank request: keeps the order the candidates
    were shown in and gives each a reason in the language the system prompt asks for
    (the local ranker's localized template), so suites can run end to end over HTTP.
    """
    from polyrank.agent._local import localized_reason

    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    match = re.search(r'language code "([a-z]{2})"', system)
    language = match[1] if match else "en"
    ranking = [
        {"id": key, "reason": localized_reason(language, query=title)}
        for key, title in prompt_candidates(body["messages"])
    ]
    return {"content": json.dumps({"ranking": ranking}, ensure_ascii=False)}
