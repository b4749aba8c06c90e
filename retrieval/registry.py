"""One registry and one resolver for every backend spec string.

Usage::

    from polyrank.agent.registry import register, resolve
    register("llm", "mymodel", "mypkg.backend:factory")   # lazy: imported on first use
    llm = resolve("llm", "mymodel:large")                 # factory("large")

A spec is ``NAME`` or ``NAME:ARG`` (``openai:gpt-4o-mini``, ``e5-small``,
``chroma://HOST:PORT``). Kinds: ``llm``, ``embeddings``, ``store``, ``ranker``.

Plugins are entry points of the group ``polyrank``, named ``KIND.NAME``, read on the first
lookup; the built-in backends are declared the same way in polyrank's own
``pyproject.toml``::

    [project.entry-points.polyrank]
    "llm.mymodel" = "mypkg.backend:factory"

A name registered in code (:func:`register`) wins over an entry point of the same name.

Layering: this module and :mod:`polyrank.retrieval.errors` are the bottom layer; imports run one
way only, ``retrieval`` <- ``prompts`` <- ``agent`` <- ``evals``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from polyrank.retrieval.errors import ConfigError

__all__ = ["Factory", "check", "find", "names", "register", "resolve", "split_spec"]

Factory = Callable[..., Any]

_REGISTRY: dict[str, dict[str, Factory | str]] = {}
#: Entry-point names, kept apart so that code registrations win whatever the order.
_ENTRY_POINTS: dict[str, dict[str, str]] | None = None
ENTRY_POINT_GROUP = "polyrank"


def _entry_points() -> dict[str, dict[str, str]]:
    """``{kind: {name: "module:attr"}}`` from the installed entry points, read once."""
    global _ENTRY_POINTS
    if _ENTRY_POINTS is None:
        from importlib.metadata import entry_points

        found: dict[str, dict[str, str]] = {}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            kind, dot, name = point.name.partition(".")
            if dot and name:
                found.setdefault(kind, {}).setdefault(name.lower(), point.value)
        _ENTRY_POINTS = found
    return _ENTRY_POINTS


def _table(kind: str) -> dict[str, Factory | str]:
    return {**_entry_points().get(kind, {}), **_REGISTRY.get(kind, {})}


def register(kind: str, name: str, factory: Factory | str) -> None:
    """Register ``factory`` for specs of ``kind`` named ``name``.

    Args:
        kind: the backend family: ``llm``, ``embeddings``, ``store`` or ``ranker``.
        name: the spec name before the optional ``:ARG``.
        factory: a callable taking the spec argument (``None`` when absent), or a
            ``"module:attribute"`` string imported on first use.
    """
    _REGISTRY.setdefault(kind, {})[name] = factory


def names(kind: str) -> list[str]:
    """The registered names of ``kind`` (code and entry points), sorted."""
    return sorted(_table(kind))


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
    _, name, arg = find((kind,), spec)
    return name, arg


def find(kinds: tuple[str, ...], spec: str, what: str | None = None) -> tuple[str, str, str | None]:
    """``(kind, name, arg)``: the first of ``kinds`` that has ``spec``'s name registered
    (``--model`` names a ranker or an LLM); ``what`` names the spec in errors.

    Raises:
        ConfigError: no kind has the name (with a "did you mean" over all of them).
    """
    what = what or " or ".join(kinds)
    tables = {kind: _table(kind) for kind in kinds}
    known = sorted({name for table in tables.values() for name in table})
    if not spec or not spec.strip():
        raise ConfigError(f"empty {what} spec; choose one of: {', '.join(known)}")
    name, arg = split_spec(spec)
    if not known:
        raise ConfigError(
            f"no {what} backend is registered: polyrank's entry points are missing",
            hint="install polyrank (pip install -e . in a clone) instead of running it from "
            "a bare source tree",
        )
    for kind, table in tables.items():
        if name in table:
            return kind, name, arg
    close = difflib.get_close_matches(name, known, n=1)
    suggestion = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown {what} {spec!r}{suggestion} (known: {', '.join(known)})")


def resolve(kind: str, spec: str, **kwargs: Any) -> Any:
    """Build the backend of ``kind`` that ``spec`` names.

    Raises:
        ConfigError: the name is not registered (with a "did you mean" suggestion).
    """
    name, arg = check(kind, spec)
    return _load(_table(kind)[name])(arg, **kwargs)
