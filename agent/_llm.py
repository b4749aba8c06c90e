"""LLM backends. One seam: ``complete(messages, schema) -> Reply``.

``openai:MODEL`` talks to any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp's
server, LM Studio, Azure) through langchain-openai's ``ChatOpenAI``. SDK exceptions become
:class:`~agent.errors.LLMError` here, with ``retryable`` and ``retry_after`` set, and
transport faults are retried with backoff (tenacity), honouring ``Retry-After``. Output
problems are not this module's business: the reranker re-asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import json
import math
import queue
import threading
import time
import weakref
import zlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from polyrank.agent._server import (
    ServerLimits,
    context_from_error,
    fetch_limits,
    is_format_refusal,
    learn_context,
    remember_mode,
    remembered_mode,
)
from polyrank.agent.errors import ConfigError, LLMError
from polyrank.retrieval.support import credentials, redact

__all__ = [
    "ChatModel",
    "Message",
    "OpenAIChat",
    "Reply",
    "ServerLimits",
    "TransportPolicy",
    "chat_model",
]

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_TOKENS = 1500
#: Largest reply body read from a model server, in bytes after decompression. A rerank
#: reply at the default 1,500 tokens is under 10 KB (30 KB with every character
#: \u-escaped); a 100 MB reply took 6.1 GB and 45.6 s, a 1 MB gzip bomb 5.4 GB.
MAX_REPLY_BYTES = 2**20
#: Characters of a server's error text kept in an error message (a 5 MB 401 body became
#: a 5 MB warning and trace field).
MAX_ERROR_CHARS = 500
#: Largest token count believed from a reply's ``usage`` (the longest context windows are
#: about 10^6 tokens); a count beyond it, negative or not a whole number is read as 0.
MAX_USAGE_TOKENS = 100_000_000
#: The current call's deadline (``time.monotonic()``), read by the HTTP transport while it
#: reads a reply: a server that drips bytes is left at the deadline.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "polyrank_deadline", default=None
)


def bounded_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


class BadReply(Exception):
    """A reply polyrank will not read: too large, nested too deeply, an unknown encoding,
    or read past the call's deadline (raised in the HTTP transport; not retried)."""


def _valid_count(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value == int(value) and 0 <= value <= MAX_USAGE_TOKENS


def _checked_usage(usage: Any) -> bool:
    """Set every token count in ``usage`` (nested details too) that cannot be true to 0;
    says whether any was."""
    changed = False
    if isinstance(usage, dict):
        for key, value in usage.items():
            if isinstance(value, dict):
                changed |= _checked_usage(value)
            elif key.endswith("tokens") and value is not None and not _valid_count(value):
                usage[key] = 0
                changed = True
    return changed


def _checked_body(content: bytes) -> bytes:
    """A JSON reply body with its usage checked; ``BadReply`` when it nests too deeply
    (the SDK's parser would raise RecursionError)."""
    try:
        data = json.loads(content)
    except RecursionError:
        raise BadReply("the model server's reply is nested too deeply to read") from None
    except ValueError:
        return content  # not JSON: the SDK says so
    if isinstance(data, dict) and _checked_usage(data.get("usage")):
        return json.dumps(data).encode()
    return content


class _Body:
    """A reply body read with a bound on its decompressed size."""

    def __init__(self, encoding: str | None) -> None:
        name = (encoding or "identity").strip().lower()
        self._inflate: Any = None
        if name in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif name == "deflate":
            self._inflate = zlib.decompressobj()
        elif name not in ("identity", ""):
            raise BadReply(f"the model server sent its reply in an encoding not read: {name}")
        self.data = bytearray()

    def feed(self, chunk: bytes) -> None:
        if self._inflate is None:
            self.data += chunk
        else:
            while chunk:
                self.data += self._inflate.decompress(chunk, MAX_REPLY_BYTES + 1 - len(self.data))
                if len(self.data) > MAX_REPLY_BYTES:
                    break
                chunk = self._inflate.unconsumed_tail
        if len(self.data) > MAX_REPLY_BYTES:
            raise BadReply(
                f"the model server's reply is larger than {MAX_REPLY_BYTES // 2**20} MiB; "
                "not read further"
            )


def _past(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise BadReply("the request's deadline passed while the reply was being read")


def _httpx() -> Any:
    """The httpx the OpenAI SDK uses (recent ones ship their own fork, ``httpx2``)."""
    import openai._base_client as base

    return vars(base).get("httpx2") or vars(base)["httpx"]


def _response(raw: Any, body: _Body, request: Any) -> Any:
    httpx = _httpx()
    dropped = (b"content-encoding", b"content-length", b"transfer-encoding")
    headers = [(k, v) for k, v in raw.headers.raw if k.lower() not in dropped]
    content = bytes(body.data)
    if "json" in raw.headers.get("content-type", "") or content[:1] in (b"{", b"["):
        content = _checked_body(content)
    return httpx.Response(raw.status_code, headers=headers, content=content, request=request)


def _transports() -> tuple[type[Any], type[Any]]:
    """The bounded HTTP transports (classes built on first use: httpx loads lazily)."""
    httpx = _httpx()

    class Bounded(httpx.BaseTransport):  # type: ignore[name-defined,misc]
        """Reads each reply whole, within MAX_REPLY_BYTES and the call's deadline."""

        def __init__(self) -> None:
            self._inner = httpx.HTTPTransport()

        def handle_request(self, request: Any) -> Any:
            request.headers["Accept-Encoding"] = "gzip, deflate"  # the ones bounded here
            deadline = _DEADLINE.get()
            raw = self._inner.handle_request(request)
            try:
                body = _Body(raw.headers.get("content-encoding"))
                for chunk in raw.stream:  # type: ignore[union-attr]
                    _past(deadline)
                    body.feed(chunk)
            finally:
                raw.close()
            return _response(raw, body, request)  # type: ignore[no-any-return]

        def close(self) -> None:
            self._inner.close()

    class AsyncBounded(httpx.AsyncBaseTransport):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self._inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: Any) -> Any:
            request.headers["Accept-Encoding"] = "gzip, deflate"
            deadline = _DEADLINE.get()
            raw = await self._inner.handle_async_request(request)
            try:
                body = _Body(raw.headers.get("content-encoding"))
                async for chunk in raw.stream:  # type: ignore[union-attr]
                    _past(deadline)
                    body.feed(chunk)
            finally:
                await raw.aclose()
            return _response(raw, body, request)  # type: ignore[no-any-return]

        async def aclose(self) -> None:
            await self._inner.aclose()

    return Bounded, AsyncBounded


@functools.cache
def _transport_classes() -> tuple[type[Any], type[Any]]:
    return _transports()


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Reply:
    """What a model answered, with its token counts."""

    content: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    cached: bool = False
    transport_retries: int = 0


@runtime_checkable
class ChatModel(Protocol):
    """The LLM seam: everything polyrank uses of a chat model.

    ``deadline`` is a ``time.monotonic()`` instant after which a call (its transport
    retries included) gives up; ``max_tokens`` the answer budget of this call (at most the
    model's own setting). A model of your own may implement only ``complete(messages,
    schema)``: :func:`chat_model` adapts it (``acomplete`` then runs it in a thread).
    """

    spec: str

    @property
    def params(self) -> dict[str, Any]:
        """What changes an answer besides the messages (part of the reply-cache key)."""
        ...

    def complete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any] | None,
        *,
        deadline: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply: ...

    async def acomplete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any] | None,
        *,
        deadline: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply: ...

    async def aclose(self) -> None:
        """Close the running event loop's connections (nothing to do for most models)."""
        ...

    def limits(self) -> ServerLimits:
        """What the server says it can take (context size, slots); unknown by default."""
        ...


class _OneSided:
    """A model that implements only ``complete(messages, schema)`` (and perhaps an async
    ``acomplete`` of the same form) as a full :class:`ChatModel`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.spec: str = inner.spec
        acomplete = getattr(inner, "acomplete", None)
        self._acomplete = acomplete if inspect.iscoroutinefunction(acomplete) else None

    def __repr__(self) -> str:
        return f"chat_model({self.inner!r})"

    @property
    def params(self) -> dict[str, Any]:
        params = getattr(self.inner, "params", None)
        return dict(params) if isinstance(params, dict) else {}

    def complete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any] | None,
        *,
        deadline: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        reply: Reply = self.inner.complete(messages, schema)
        return reply

    async def acomplete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any] | None,
        *,
        deadline: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        if self._acomplete is not None:
            reply: Reply = await self._acomplete(messages, schema)
            return reply
        return await asyncio.to_thread(self.inner.complete, messages, schema)

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if inspect.iscoroutinefunction(close):
            await close()

    def limits(self) -> ServerLimits:
        return ServerLimits()


_MEMBERS = ("complete", "acomplete", "aclose", "limits", "params")


def chat_model(model: Any) -> ChatModel:
    """``model`` as a full :class:`ChatModel`: itself when it implements the whole seam
    (``OpenAIChat``, ``LangChainChat``), else adapted (a model with only ``complete``).

    Raises:
        ConfigError: ``model`` has no ``complete`` method or no ``spec``.
    """
    if isinstance(model, _OneSided):
        return model
    if not callable(getattr(model, "complete", None)) or not isinstance(
        getattr(model, "spec", None), str
    ):
        raise ConfigError(
            f"model {model!r} is not a chat model: it needs a 'spec' string and a "
            "complete(messages, schema) method"
        )
    if all(hasattr(model, name) for name in _MEMBERS) and inspect.iscoroutinefunction(
        model.acomplete
    ):
        return model  # type: ignore[no-any-return]
    return _OneSided(model)


@dataclass(frozen=True)
class TransportPolicy:
    """Transport retries: attempts in all, exponential backoff, Retry-After honoured."""

    attempts: int = 4
    initial_wait: float = 0.5
    max_wait: float = 20.0
    max_retry_after: float = 30.0


def _convert(exc: Exception) -> LLMError:
    """An SDK exception as an LLMError, saying whether a retry can help."""
    import httpx
    import openai

    if isinstance(exc, LLMError):
        return exc
    bad: BaseException | None = exc
    while bad is not None and not isinstance(bad, BadReply):
        bad = bad.__cause__ or bad.__context__
    if bad is not None:
        return LLMError(bounded_text(str(bad)), retryable=False)
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return LLMError(f"the model server timed out: {exc}", retryable=True)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        root: BaseException = exc  # the SDK's "Connection error." hides the reason
        while root.__cause__ is not None or root.__context__ is not None:
            root = root.__cause__ or root.__context__  # type: ignore[assignment]
        request = getattr(exc, "request", None)
        where = f" at {request.url}" if request is not None else ""
        return LLMError(
            f"cannot reach the model server{where}: {bounded_text(str(root))}", retryable=True
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retry_after: float | None = None
        header = exc.response.headers.get("retry-after") if exc.response is not None else None
        if header:
            try:
                retry_after = float(header)
            except ValueError:
                retry_after = None
        retryable = status in (408, 409, 429) or status >= 500
        return LLMError(
            f"the model server answered HTTP {status}: {bounded_text(exc.message)}",
            retryable=retryable,
            retry_after=retry_after,
            hint=None if retryable else "check the model name, API key and base URL",
        )
    return LLMError(f"the model call failed: {bounded_text(repr(exc))}", retryable=False)


def _retry_options(policy: TransportPolicy, deadline: float | None) -> dict[str, Any]:
    """tenacity options for :func:`call_with_transport_retries` and its async twin."""
    backoff = wait_exponential_jitter(
        multiplier=policy.initial_wait, max=policy.max_wait, jitter=0.1
    )

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, LLMError) and exc.retry_after is not None:
            seconds = min(exc.retry_after, policy.max_retry_after)
        else:
            seconds = float(backoff(state))
        if deadline is not None:
            seconds = max(0.0, min(seconds, deadline - time.monotonic()))
        return seconds

    attempts = stop_after_attempt(policy.attempts)

    def stop(state: RetryCallState) -> bool:
        return attempts(state) or (deadline is not None and time.monotonic() >= deadline)

    return {
        "stop": stop,
        "wait": wait,
        "retry": retry_if_exception(lambda e: isinstance(e, LLMError) and e.retryable),
        "reraise": True,
    }


def _retries(retrying: Retrying | AsyncRetrying) -> int:
    return int(retrying.statistics.get("attempt_number", 1)) - 1


def call_with_transport_retries(
    call: Callable[[], Any], policy: TransportPolicy, deadline: float | None = None
) -> tuple[Any, int]:
    """Run ``call()``; retry retryable LLMErrors. Returns (result, retries made).

    With ``deadline`` (a ``time.monotonic()`` instant), no wait reaches past it and no
    attempt starts after it.
    """
    retrying = Retrying(**_retry_options(policy, deadline))

    def attempt() -> Any:
        try:
            return call()
        except Exception as exc:
            raise _convert(exc) from exc

    try:
        result = retrying(attempt)
    except LLMError as exc:
        exc.retries = _retries(retrying)
        raise
    return result, _retries(retrying)


async def acall_with_transport_retries(
    call: Callable[[], Awaitable[Any]], policy: TransportPolicy, deadline: float | None = None
) -> tuple[Any, int]:
    """:func:`call_with_transport_retries` for a coroutine function (waits do not block
    the event loop)."""
    retrying = AsyncRetrying(**_retry_options(policy, deadline))

    async def attempt() -> Any:
        try:
            return await call()
        except Exception as exc:
            raise _convert(exc) from exc

    try:
        result: Any = await retrying(attempt)
    except LLMError as exc:
        exc.retries = _retries(retrying)
        raise
    return result, _retries(retrying)


def _deadline_passed(remaining: float) -> LLMError:
    return LLMError(
        f"the model server did not finish within the request's deadline ({remaining:.1f} s left)",
        retryable=False,
    )


@dataclass
class OpenAIChat:
    """An OpenAI-compatible chat model through langchain-openai.

    Args:
        model: the model name the server knows.
        base_url: the server (``http://127.0.0.1:8080/v1``); ``None`` means OpenAI's.
        api_key: the key; servers that need none accept any string.
        timeout: seconds per HTTP call.
        max_tokens: answer budget, sent as ``max_tokens`` and ``max_completion_tokens``
            (llama.cpp's server reads only the former).
        json_mode: ``json_schema`` (structured output) or ``json_object`` for servers that
            lack json_schema; a server that refuses json_schema is switched automatically.
        callbacks: LangChain callback handlers of the chat model; its runs nest under the
            caller's LangChain run when there is one (a tracer sees one tree).
    """

    model: str
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    json_mode: Literal["json_schema", "json_object"] = "json_schema"
    transport: TransportPolicy = field(default_factory=TransportPolicy)
    callbacks: list[Any] | None = field(default=None, repr=False, compare=False)
    _schema_works: bool = field(default=False, init=False, repr=False)
    #: Per event loop: (ChatOpenAI, its async HTTP client). A pooled connection made on
    #: a loop that has ended fails on the next one ("Event loop is closed").
    _per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = field(
        default_factory=weakref.WeakKeyDictionary, init=False, repr=False, compare=False
    )

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else "None"
        url = repr(redact(self.base_url, [self.api_key])) if self.base_url else "None"
        return (
            f"OpenAIChat(model={self.model!r}, base_url={url}, api_key={key}, "
            f"timeout={self.timeout!r}, max_tokens={self.max_tokens!r}, "
            f"json_mode={self.json_mode!r})"
        )

    def __post_init__(self) -> None:
        self.spec = f"openai:{self.model}"
        self._client = self._chat()
        if self.json_mode == "json_schema" and remembered_mode(self.base_url, self.model):
            # this server refused json_schema before (in any process): no request spent
            self.json_mode = remembered_mode(self.base_url, self.model)  # type: ignore[assignment]
        self._limits: ServerLimits | None = None

    def limits(self) -> ServerLimits:
        """The server's context size and slots (asked once per process; unknown for
        OpenAI's own API), with what a context-length error stated since."""
        self._limits = fetch_limits(self.base_url, self.model, self.api_key)
        return self._limits

    def _chat(self, **extra: Any) -> Any:
        import openai
        from langchain_openai import ChatOpenAI

        extra.setdefault(
            "http_client", openai.DefaultHttpxClient(transport=_transport_classes()[0]())
        )
        return ChatOpenAI(
            model=self.model,
            base_url=self.base_url,
            api_key=self.api_key or "unused",  # type: ignore[arg-type]
            timeout=self.timeout,
            max_retries=0,  # our own transport loop retries, honouring Retry-After
            temperature=self.temperature,
            max_tokens=self.max_tokens,  # type: ignore[call-arg]
            callbacks=self.callbacks,
            **extra,
        )

    def _async_chat(self) -> Any:
        """The ChatOpenAI whose async HTTP connections belong to the running event loop."""
        loop = asyncio.get_running_loop()
        pair = self._per_loop.get(loop)
        if pair is None:
            import openai

            http = openai.DefaultAsyncHttpxClient(transport=_transport_classes()[1]())
            pair = self._per_loop[loop] = (self._chat(http_async_client=http), http)
        return pair[0]

    async def aclose(self) -> None:
        """Close the running event loop's HTTP connections (``recommend_many`` does so
        before its loop ends; call it before yours ends to avoid ResourceWarnings)."""
        pair = self._per_loop.pop(asyncio.get_running_loop(), None)
        if pair is not None:
            await pair[1].aclose()

    @property
    def params(self) -> dict[str, Any]:
        """What changes an answer besides the messages (part of the reply-cache key)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "json_mode": self.json_mode,
            "base_url": self.base_url,
        }

    def _body(self, schema: dict[str, Any] | None, max_tokens: int | None) -> dict[str, Any]:
        answer = min(self.max_tokens, max_tokens) if max_tokens else self.max_tokens
        body: dict[str, Any] = {"max_tokens": answer, "max_completion_tokens": answer}
        if self._limits is not None and self._limits.server == "llama.cpp":
            body["cache_prompt"] = True  # its prefix cache serves the next pass and window
        if schema is not None:
            if self.json_mode == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": schema, "strict": True},
                }
            else:
                # llama-cpp-python constrains JSON mode with this schema; others ignore it.
                body["response_format"] = {"type": "json_object", "schema": schema}
        return body

    def _invoke(self, lc_messages: list[Any], body: dict[str, Any], deadline: float | None) -> Any:
        """One HTTP call, abandoned at ``deadline`` even if the server keeps dripping bytes
        (httpx's timeouts are per read, so a slow trickle never trips them)."""
        if deadline is None:
            return self._client.invoke(lc_messages, extra_body=body)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LLMError("the request's deadline passed", retryable=False)
        done: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def run() -> None:
            _DEADLINE.set(deadline)  # the transport leaves a dripping reply at the deadline
            try:
                limit = min(self.timeout, remaining)
                reply = self._client.invoke(lc_messages, extra_body=body, timeout=limit)
                done.put((True, reply))
            except BaseException as exc:  # handed to the caller's thread
                done.put((False, exc))

        # In the caller's context: a LangChain run around this call stays its parent.
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(run,), name="polyrank-llm-call", daemon=True
        ).start()
        try:
            ok, value = done.get(timeout=remaining)
        except queue.Empty:
            raise _deadline_passed(remaining) from None
        if not ok:
            raise value
        return value

    async def _ainvoke(
        self, lc_messages: list[Any], body: dict[str, Any], deadline: float | None
    ) -> Any:
        """:meth:`_invoke` on the event loop: the coroutine is cancelled at ``deadline``."""
        chat = self._async_chat()
        if deadline is None:
            return await chat.ainvoke(lc_messages, extra_body=body)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LLMError("the request's deadline passed", retryable=False)
        limit = min(self.timeout, remaining)
        call = chat.ainvoke(lc_messages, extra_body=body, timeout=limit)
        token = _DEADLINE.set(deadline)
        try:
            return await asyncio.wait_for(call, timeout=remaining)
        except TimeoutError:
            raise _deadline_passed(remaining) from None
        finally:
            _DEADLINE.reset(token)

    def _refused_schema(self, schema: dict[str, Any] | None, exc: Exception) -> bool:
        """Whether ``exc`` is the server refusing json_schema (llama-cpp-python answers
        HTTP 500 "Input should be 'text' or 'json_object'"): then switch to JSON mode with
        the schema (llama-cpp-python's form) before trying again, so a retry after a
        transport fault does not ask with json_schema again, and remember it for this
        server. A context-length error or a transient 5xx switches nothing; a context
        size the error states is learned (the next prompts are budgeted within it)."""
        status = getattr(exc, "status_code", None)
        message = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '') or ''}"
        context = context_from_error(message)
        if context is not None:
            self._limits = learn_context(self.base_url, self.model, context)
        if (
            schema is None
            or self.json_mode != "json_schema"
            or self._schema_works
            or not is_format_refusal(status, message)
        ):
            return False
        self.json_mode = "json_object"
        remember_mode(self.base_url, self.model, "json_object")
        return True

    @staticmethod
    def _lc_messages(messages: Sequence[Message]) -> list[Any]:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
        return [kinds[m["role"]](content=m["content"]) for m in messages]

    @contextlib.contextmanager
    def _redacted(self) -> Iterator[None]:
        """Messages reach traces, captions and logs: no secrets in an LLMError's."""
        try:
            yield
        except LLMError as exc:
            exc.args = (redact(str(exc.args[0]), [self.api_key]), *exc.args[1:])
            raise

    def complete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any] | None,
        *,
        deadline: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        """One chat completion. ``deadline``: a ``time.monotonic()`` instant after which the
        call and its transport retries give up (the request's overall deadline);
        ``max_tokens``: this call's answer budget, at most the model's ``max_tokens``."""
        lc_messages = self._lc_messages(messages)

        def call() -> Any:
            try:
                message = self._invoke(lc_messages, self._body(schema, max_tokens), deadline)
            except Exception as exc:
                if not self._refused_schema(schema, exc):
                    raise
                return self._invoke(lc_messages, self._body(schema, max_tokens), deadline)
            if schema is not None and self.json_mode == "json_schema":
                self._schema_works = True
            return message

        with self._redacted():
            message, retries = call_with_transport_retries(call, self.transport, deadline)
        return self._reply(message, retries)

    async def acomplete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any] | None,
        *,
        deadline: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        """:meth:`complete` without blocking the event loop (langchain's ``ainvoke``)."""
        lc_messages = self._lc_messages(messages)

        async def call() -> Any:
            try:
                message = await self._ainvoke(lc_messages, self._body(schema, max_tokens), deadline)
            except Exception as exc:
                if not self._refused_schema(schema, exc):
                    raise
                return await self._ainvoke(lc_messages, self._body(schema, max_tokens), deadline)
            if schema is not None and self.json_mode == "json_schema":
                self._schema_works = True
            return message

        with self._redacted():
            message, retries = await acall_with_transport_retries(call, self.transport, deadline)
        return self._reply(message, retries)

    def _reply(self, message: Any, retries: int) -> Reply:
        usage = getattr(message, "usage_metadata", None) or {}
        meta = getattr(message, "response_metadata", None) or {}
        content = (
            message.content if isinstance(message.content, str) else json.dumps(message.content)
        )
        return Reply(
            content=content,
            model=str(meta.get("model_name") or self.model),
            prompt_tokens=_count(usage.get("input_tokens")),
            completion_tokens=_count(usage.get("output_tokens")),
            finish_reason=meta.get("finish_reason"),
            transport_retries=retries,
        )


def _count(value: object) -> int:
    """A token count from a reply's usage: 0 when absent or not believable."""
    return int(value) if _valid_count(value) else 0  # type: ignore[call-overload]


def make_openai(
    arg: str | None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    **options: Any,
) -> OpenAIChat:
    if not arg:
        raise ConfigError("the openai backend needs a model: 'openai:MODEL'")
    if not base_url and not api_key:  # built in code: the environment, as the SDK reads it
        from polyrank.agent._config import openai_environment

        base_url, api_key = openai_environment()
    base_url, api_key = credentials(f"openai:{arg}", base_url, api_key)
    return OpenAIChat(arg, base_url=base_url, api_key=api_key, **options)
