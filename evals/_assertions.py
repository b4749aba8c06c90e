"""Assertion types of a suite's ``expect`` list, besides "metric OP threshold".

Each is an :class:`Assertion`: a name, a load-time check of its fields and an evaluate
function over one case (:class:`~evals._metrics.CaseContext`); the outcome is a dict with
``expect``, ``observed`` and ``passed`` (what the reports show).

==================  =========================================================================
``not_in_top``      none of ``value`` (ids or groups) in the top ``threshold``, anywhere
``contains``        reasons contain one of ``value`` (case-insensitive); ``threshold``: share
``not-contains``    no reason contains any of ``value``
``python``          ``value: module:function`` (or ``file.py:function`` next to the suite)
``latency``         every request within ``threshold`` ms
``cost``            every request within ``threshold`` USD (an unknown cost fails)
==================  =========================================================================

Metric expectations (``ndcg@5 >= 0.6``) are evaluated here too (:func:`evaluate`);
``thresholds: {ja: 0.4}`` checks each language on its own.
"""

from __future__ import annotations

import importlib
import importlib.util
import statistics
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyrank.agent.errors import ConfigError
from polyrank.evals._metrics import CaseContext, get_metric

if TYPE_CHECKING:
    from polyrank.evals._suite import Expectation

__all__ = ["ASSERTIONS", "Assertion", "evaluate", "load_function"]

Outcome = dict[str, Any]


@dataclass(frozen=True)
class Assertion:
    """An assertion type: ``check`` refuses bad fields when the suite loads (raise
    ValueError); ``evaluate`` judges one case."""

    name: str
    check: Callable[[Expectation], None]
    evaluate: Callable[[Expectation, CaseContext, Path], Outcome]


def _outcome(expect: Expectation, observed: Any, passed: bool) -> Outcome:
    if isinstance(observed, float):
        observed = round(observed, 4)
    elif isinstance(observed, dict):
        observed = {k: None if v is None else round(v, 4) for k, v in observed.items()}
    return {"expect": str(expect), "observed": observed, "passed": passed}


def _judge(
    expect: Expectation,
    per_language: Mapping[str, float | None],
    overall: Callable[[list[float]], float],
    empty: float | None = None,
    *,
    strict: bool = False,
) -> Outcome:
    """Judge values by language: one aggregate against ``threshold``, or with
    ``thresholds`` each language against its own. ``strict``: a missing value (a cost
    nobody knows) fails the expectation instead of being left out."""
    known = {lang: v for lang, v in per_language.items() if v is not None}
    if strict and len(known) < len(per_language):
        return _outcome(expect, "unknown", False)
    if expect.thresholds:
        passed = bool(known) and all(expect.holds(v, lang) for lang, v in known.items())
        return _outcome(expect, dict(per_language), passed)
    if not known:
        return _outcome(expect, empty, empty is not None and expect.holds(empty))
    value = overall(list(known.values()))
    return _outcome(expect, value, expect.holds(value))


def evaluate(expect: Expectation, ctx: CaseContext, base: Path) -> Outcome:
    """The outcome of one expectation on one case (``base``: the suite's folder)."""
    kind = ASSERTIONS.get(expect.type)
    if kind is not None:
        return kind.evaluate(expect, ctx, base)
    metric = get_metric(expect.type, ctx.k)
    if metric.scope == "case":
        value = metric.compute(ctx)
        return _outcome(expect, value, value is not None and expect.holds(float(value)))
    if metric.scope == "languages":
        per = {lang: v.get(metric.short) for lang, v in ctx.consistency.items()}
        return _judge(expect, per, statistics.mean, empty=1.0)  # one language agrees
    per = {lang: r.metrics.get(expect.type) for lang, r in ctx.languages.items()}
    if all(v is None for v in per.values()):
        return _outcome(expect, None, False)
    return _judge(expect, per, statistics.mean)


# -- the assertion types -------------------------------------------------------------------


def _needs_value(expect: Expectation) -> None:
    if not expect.value:
        raise ValueError(f"{expect.type} needs value: [...]")


def _check_not_in_top(expect: Expectation) -> None:
    _needs_value(expect)
    if expect.threshold is None or expect.threshold < 1:
        raise ValueError("not_in_top needs threshold: the depth (1 or more)")


def _not_in_top(expect: Expectation, ctx: CaseContext, base: Path) -> Outcome:
    depth = int(expect.limit())
    banned = set(expect.value or [])
    hits = sorted(
        {
            f"{lang}:{key}"
            for lang, r in ctx.languages.items()
            for key in [*r.ranking[:depth], *r.groups[:depth]]
            if key in banned
        }
    )
    return _outcome(expect, hits, not hits)


def _found(reason: str, needles: list[str]) -> bool:
    folded = reason.casefold()
    return any(n.casefold() in folded for n in needles)


def _check_contains(expect: Expectation) -> None:
    _needs_value(expect)
    if expect.threshold is not None and not 0 <= expect.threshold <= 1:
        raise ValueError(f"{expect.type}: threshold is a share of reasons, 0 to 1")


def _contains(expect: Expectation, ctx: CaseContext, base: Path) -> Outcome:
    needles = expect.value or []
    per: dict[str, float | None] = {}
    pooled: list[bool] = []
    for lang, r in ctx.languages.items():
        found = [_found(reason, needles) for reason in r.reasons]
        pooled += found
        per[lang] = sum(found) / len(found) if found else None
    if expect.thresholds:
        return _judge(expect, per, statistics.mean)
    share = sum(pooled) / len(pooled) if pooled else 0.0
    return _outcome(expect, share, bool(pooled) and expect.holds(share))


def _check_not_contains(expect: Expectation) -> None:
    _needs_value(expect)
    if expect.threshold is not None or expect.thresholds:
        raise ValueError("not-contains takes no threshold: no reason may contain the value")


def _not_contains(expect: Expectation, ctx: CaseContext, base: Path) -> Outcome:
    needles = expect.value or []
    hits = [
        f"{lang} #{n}: {reason}"
        for lang, r in ctx.languages.items()
        for n, reason in enumerate(r.reasons, start=1)
        if _found(reason, needles)
    ]
    return _outcome(expect, hits, not hits)


def _check_python(expect: Expectation) -> None:
    if not expect.value or len(expect.value) != 1 or ":" not in expect.value[0]:
        raise ValueError("python needs value: 'module:function' (or 'file.py:function')")
    if expect.thresholds:
        raise ValueError("python takes no per-language thresholds (the function sees all)")


def load_function(path: str, base: Path) -> Callable[..., Any]:
    """The function ``module:function`` or ``file.py:function`` (a file relative to
    ``base``) names.

    Raises:
        ConfigError: naming the path and what is wrong with it.
    """
    where, _, name = path.rpartition(":")
    try:
        if where.endswith(".py"):
            file = (base / where).resolve()
            module = _load_file(file)
        else:
            module = importlib.import_module(where)
    except (ImportError, OSError, SyntaxError) as exc:
        raise ConfigError(f"python {path!r}: cannot import {where!r}: {exc}") from exc
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigError(f"python {path!r}: {where!r} has no function {name!r}")
    return function  # type: ignore[no-any-return]


def _load_file(file: Path) -> Any:
    """A Python file as a module, once (by its absolute path)."""
    key = f"polyrank_suite_{abs(hash(str(file)))}"
    if key in sys.modules:
        return sys.modules[key]
    if not file.is_file():
        raise ImportError(f"no such file {file}")
    spec = importlib.util.spec_from_file_location(key, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"{file} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[key]
        raise
    return module


def _python(expect: Expectation, ctx: CaseContext, base: Path) -> Outcome:
    path = (expect.value or [""])[0]
    function = load_function(path, base)
    try:
        result = function(ctx)
    except Exception as exc:
        raise ConfigError(f"python {path!r} failed on case {ctx.case.name!r}: {exc!r}") from exc
    if not isinstance(result, bool | int | float):
        raise ConfigError(
            f"python {path!r} returned {type(result).__name__} on case {ctx.case.name!r}; "
            "return a bool or a number"
        )
    value = float(result)
    return _outcome(expect, value, expect.holds(value))


def _check_limit(expect: Expectation) -> None:
    if expect.threshold is None:
        unit = "milliseconds" if expect.type == "latency" else "USD"
        raise ValueError(f"{expect.type} needs threshold: the most {unit} a request may take")
    if expect.value is not None:
        raise ValueError(f"{expect.type} takes no value")


def _limit(metric: str) -> Callable[[Expectation, CaseContext, Path], Outcome]:
    def evaluate(expect: Expectation, ctx: CaseContext, base: Path) -> Outcome:
        per = {lang: r.metrics.get(metric) for lang, r in ctx.languages.items()}
        return _judge(expect, per, max, strict=True)

    return evaluate


ASSERTIONS: dict[str, Assertion] = {
    a.name: a
    for a in (
        Assertion("not_in_top", _check_not_in_top, _not_in_top),
        Assertion("contains", _check_contains, _contains),
        Assertion("not-contains", _check_not_contains, _not_contains),
        Assertion("python", _check_python, _python),
        Assertion("latency", _check_limit, _limit("latency_ms")),
        Assertion("cost", _check_limit, _limit("cost")),
    )
}
