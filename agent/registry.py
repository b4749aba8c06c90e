"""One registry and one resolver for every backend spec string.

Usage::

    from agent.registry import register, resolve
    register("llm", "mymodel", "mypkg.backend:factory")   # lazy: imported on first use
    llm = resolve("llm", "mymodel:large")                 # factory("large")

A spec is ``NAME`` or ``NAME:ARG`` (``openai:gpt-4o-mini``, ``e5-small``, ``local``).
Built-in backends register through the same call a plugin would.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from agent.errors import ConfigError

__all__ = ["Factory", "check", "names", "register", "resolve", "split_spec"]

Factory = Callable[..., Any]

_REGISTRY: dict[str, dict[str, Factory | str]] = {}


def register(kind: str, name: str, factory: Factory | str) -> None:
    """Register ``factory`` for specs of ``kind`` named ``name``.

    Args:
        kind: the backend family: ``llm``, ``embeddings`` or ``store``.
        name: the spec name before the optional ``:ARG``.
        factory: a callable taking the spec argument (``None`` when absent), or a
            ``"module:attribute"`` string imported on first use.
    """
    _REGISTRY.setdefault(kind, {})[name] = factory


def names(kind: str) -> list[str]:
    """The registered names of ``kind``, sorted."""
    return sorted(_REGISTRY.get(kind, {}))


def split_spec(spec: str) -> tuple[str, str | None]:
    """Split ``NAME:ARG`` into its parts; ``ARG`` is ``None`` when absent."""
    name, sep, arg = spec.strip().partition(":")
    return name.strip().lower(), (arg.strip() if sep else None)


def _load(factory: Factory | str) -> Factory:
    if callable(factory):
        return factory
    module_name, _, attr = factory.partition(":")
    loaded: Factory = getattr(importlib.import_module(module_name), attr)
    return loaded


def check(kind: str, spec: str) -> tuple[str, str | None]:
    """``(name, arg)`` of a registered spec, without building anything.

    Raises:
        ConfigError: the name is not registered (with a "did you mean" suggestion).
    """
    if not spec or not spec.strip():
        raise ConfigError(f"empty {kind} spec; choose one of: {', '.join(names(kind))}")
    name, arg = split_spec(spec)
    table = _REGISTRY.get(kind, {})
    if name not in table:
        close = difflib.get_close_matches(name, table, n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown {kind} {spec!r}{suggestion} (known: {', '.join(names(kind))})")
    return name, arg


def resolve(kind: str, spec: str, **kwargs: Any) -> Any:
    """Build the backend of ``kind`` that ``spec`` names.

    Raises:
        ConfigError: the name is not registered (with a "did you mean" suggestion).
    """
    name, arg = check(kind, spec)
    return _load(_REGISTRY[kind][name])(arg, **kwargs)


# Built-in backends, registered exactly as a plugin would register its own.
register("embeddings", "e5-small", "retrieval._embeddings:make_e5")
register("embeddings", "use-m3", "retrieval._embeddings:make_use")
register("embeddings", "fusion", "retrieval._embeddings:make_fusion")
register("embeddings", "openai", "retrieval._embeddings:make_openai")
register("llm", "openai", "agent._llm:make_openai")
