"""Any LangChain chat model as a polyrank :class:`~agent._llm.ChatModel`.

``anthropic:MODEL``, ``ollama:MODEL``, ``mistralai:MODEL`` (and the other providers of
LangChain's ``init_chat_model``) work whenever the provider's package is installed; a
missing one is a :class:`~agent.errors.ConfigError` naming the package to install.
``langchain:PROVIDER:MODEL`` reaches any provider the same way (``langchain:openai:...``
too). A chat model object of your own: ``Agent(model=LangChainChat(chat))``.

The behaviour is the ``openai:`` backend's: structured output (``with_structured_output``,
JSON schema) where the model has it, else the prompt's JSON with re-asks; transport
retries with backoff for retryable faults (HTTP 429 and 5xx, timeouts, connection errors);
the request's deadline bounds every call, however slowly the server answers.
"""

from __future__ import annotations

import contextvars
import json
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

from polyrank.agent._llm import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_TIMEOUT,
    Message,
    Reply,
    ServerLimits,
    TransportPolicy,
    _convert,
    _deadline_passed,
    acall_with_transport_retries,
    call_with_transport_retries,
)
from polyrank.agent.errors import ConfigError, LLMError
from polyrank.agent.registry import LANGCHAIN_PROVIDERS as PROVIDERS

__all__ = ["PROVIDERS", "LangChainChat", "make_langchain", "provider_factory"]


def _status_error(exc: Exception) -> LLMError | None:
    """A provider SDK's HTTP error (anthropic, mistral...: a ``status_code``) as LLMError."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return None
    retryable = status in (408, 409, 429) or status >= 500
    return LLMError(
        f"the model server answered HTTP {status}: {exc}",
        retryable=retryable,
        hint=None if retryable else "check the model name and the provider's API key",
    )


def _as_llm_error(exc: Exception) -> LLMError:
    converted = _convert(exc)
    if str(converted.args[0]).startswith("the model call failed"):
        return _status_error(exc) or converted
    return converted


class LangChainChat:
    """A LangChain ``BaseChatModel`` behind polyrank's seam.

    Args:
        chat: the chat model (``init_chat_model(...)``, ``ChatAnthropic(...)``, a fake).
        spec: how traces and baselines name it (default ``langchain:CLASS``).
        timeout: seconds one call may take when the request has no deadline.
        transport: transport retries (attempts, backoff).
        structured: ask for structured output (``with_structured_output``) when the model
            has it; ``False`` sends the prompt alone and reads JSON from the text.
    """

    def __init__(
        self,
        chat: Any,
        spec: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: TransportPolicy | None = None,
        structured: bool = True,
    ) -> None:
        self.chat = chat
        self.spec = spec or f"langchain:{type(chat).__name__}"
        self.timeout = timeout
        self.transport = transport or TransportPolicy()
        self.structured = structured

    def __repr__(self) -> str:
        return f"LangChainChat({type(self.chat).__name__}, spec={self.spec!r})"

    @property
    def params(self) -> dict[str, Any]:
        """What changes an answer besides the messages (part of the reply-cache key)."""
        return {"class": type(self.chat).__name__, "structured": self.structured}

    async def aclose(self) -> None:
        """Nothing to close: the provider's client owns its connections."""

    def limits(self) -> ServerLimits:
        """Unknown: a provider's API says nothing about its context size or slots."""
        return ServerLimits()

    def _runnable(self, schema: dict[str, Any] | None) -> tuple[Any, bool]:
        """The runnable to invoke, and whether it answers ``{"raw", "parsed"}``."""
        if schema is None or not self.structured:
            return self.chat, False
        try:
            runnable = self.chat.with_structured_output(
                {"title": "answer", "description": "the answer", **schema},
                method="json_schema",
                include_raw=True,
            )
        except (NotImplementedError, ValueError, TypeError):
            return self.chat, False  # no structured output here: the prompt asks for JSON
        return runnable, True

    @staticmethod
    def _lc_messages(messages: Sequence[Message]) -> list[Any]:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
        return [kinds[m["role"]](content=m["content"]) for m in messages]

    def _reply(self, answer: Any, structured: bool, retries: int) -> Reply:
        message = answer["raw"] if structured else answer
        parsed = answer.get("parsed") if structured else None
        if parsed is not None:
            content = json.dumps(
                parsed.model_dump() if hasattr(parsed, "model_dump") else parsed,
                ensure_ascii=False,
            )
        else:
            raw = getattr(message, "content", "")
            content = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
        usage = getattr(message, "usage_metadata", None) or {}
        meta = getattr(message, "response_metadata", None) or {}
        return Reply(
            content=content,
            model=str(meta.get("model_name") or meta.get("model") or self.spec),
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
            finish_reason=meta.get("finish_reason") or meta.get("stop_reason"),
            transport_retries=retries,
        )

    def _invoke(self, runnable: Any, lc_messages: list[Any], deadline: float | None) -> Any:
        """One call, abandoned at the deadline (or ``timeout``) even if the provider's
        client keeps waiting; in the caller's context, so a LangChain run around it stays
        its parent."""
        limit = self.timeout if deadline is None else min(self.timeout, deadline - time.monotonic())
        if limit <= 0:
            raise LLMError("the request's deadline passed", retryable=False)
        done: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def run() -> None:
            try:
                done.put((True, runnable.invoke(lc_messages)))
            except BaseException as exc:  # handed to the caller's thread
                done.put((False, exc))

        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(run,), name="polyrank-llm-call", daemon=True
        ).start()
        try:
            ok, value = done.get(timeout=limit)
        except queue.Empty:
            raise _deadline_passed(limit) from None
        if not ok:
            raise value
        return value

    def complete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any] | None,
        deadline: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        """One call; ``max_tokens`` is not passed on (the provider's model has its own)."""
        runnable, structured = self._runnable(schema)
        lc_messages = self._lc_messages(messages)

        def call() -> Any:
            try:
                return self._invoke(runnable, lc_messages, deadline)
            except LLMError:
                raise
            except Exception as exc:
                raise _as_llm_error(exc) from exc

        answer, retries = call_with_transport_retries(call, self.transport, deadline)
        return self._reply(answer, structured, retries)

    async def acomplete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any] | None,
        deadline: float | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        """:meth:`complete` on the event loop (the model's ``ainvoke``)."""
        import asyncio

        runnable, structured = self._runnable(schema)
        lc_messages = self._lc_messages(messages)

        async def call() -> Any:
            limit = self.timeout
            if deadline is not None:
                limit = min(limit, deadline - time.monotonic())
            if limit <= 0:
                raise LLMError("the request's deadline passed", retryable=False)
            try:
                return await asyncio.wait_for(runnable.ainvoke(lc_messages), timeout=limit)
            except TimeoutError:
                raise _deadline_passed(limit) from None
            except LLMError:
                raise
            except Exception as exc:
                raise _as_llm_error(exc) from exc

        answer, retries = await acall_with_transport_retries(call, self.transport, deadline)
        return self._reply(answer, structured, retries)


def make_langchain(
    provider: str,
    model: str | None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    callbacks: list[Any] | None = None,
    **options: Any,
) -> LangChainChat:
    """``PROVIDER:MODEL`` through LangChain's ``init_chat_model``.

    ``base_url`` and ``api_key`` (``OPENAI_BASE_URL``/``OPENAI_API_KEY``) are passed only
    to OpenAI-compatible providers; the others read their own (``ANTHROPIC_API_KEY``...).

    Raises:
        ConfigError: no model named, an unknown provider, or its package is missing
            (naming the package to install).
    """
    spec = f"{provider}:{model}" if model else provider
    if not model:
        raise ConfigError(f"the {provider} backend needs a model: '{provider}:MODEL'")
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = {"temperature": 0.0, **options}
    if provider in ("openai", "azure_openai"):
        kwargs.update(max_retries=0, timeout=timeout, max_tokens=max_tokens)
        if base_url:
            kwargs["base_url"] = base_url
        if api_key:
            kwargs["api_key"] = api_key
    if callbacks:
        kwargs["callbacks"] = callbacks
    try:
        chat = init_chat_model(model, model_provider=provider, **kwargs)
    except ImportError as exc:
        package = PROVIDERS.get(provider) or f"langchain-{provider.replace('_', '-')}"
        raise ConfigError(
            f"model {spec!r} needs the package {package}, which is not installed",
            hint=f"pip install {package}",
        ) from exc
    except ValueError as exc:  # an unknown provider, or a bad option for it
        raise ConfigError(f"model {spec!r}: {str(exc).splitlines()[0]}") from exc
    return LangChainChat(chat, spec, timeout=timeout)


def provider_factory(provider: str) -> Any:
    """The registry factory of one provider's spec name (``anthropic:MODEL``)."""

    def make(arg: str | None, **options: Any) -> LangChainChat:
        options.pop("base_url", None)  # OPENAI_* settings are not this provider's
        options.pop("api_key", None)
        return make_langchain(provider, arg, **options)

    return make


def make_any(arg: str | None, **options: Any) -> LangChainChat:
    """``langchain:PROVIDER:MODEL``: any provider of ``init_chat_model``."""
    provider, _, model = (arg or "").partition(":")
    if not provider or not model:
        raise ConfigError(
            f"'langchain:{arg or ''}': write langchain:PROVIDER:MODEL "
            "(e.g. langchain:anthropic:claude-3-5-haiku-latest)"
        )
    return make_langchain(provider.strip().lower(), model.strip(), **options)
