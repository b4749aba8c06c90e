"""Baselines: rankings and metrics per template version, model and case; diffs as moves."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from polyrank.agent.errors import ConfigError
from polyrank.evals._runner import EvalRun
from polyrank.retrieval.support import TooLarge, read_bounded

__all__ = ["Comparison", "baseline_key", "compare", "update_baseline"]

COMPARED = ("ndcg@{k}", "mrr", "recall@{k}", "reason_language")


def baseline_key(run: EvalRun) -> str:
    return f"{run.suite}|{run.template}|{run.model}"


def _entry(run: EvalRun) -> dict[str, Any]:
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "k": run.k,
        "cases": {
            c.name: {
                lang: {
                    "ranking": r.ranking,
                    "groups": r.groups,
                    "metrics": r.metrics,
                    "consistency": c.consistency.get(lang, {}),
                }
                for lang, r in c.languages.items()
            }
            for c in run.cases
        },
    }


class _Language(BaseModel):
    ranking: list[str]
    groups: list[str] = []
    metrics: dict[str, float] = {}
    consistency: dict[str, float] = {}


class _Entry(BaseModel):
    created: str = ""
    k: int | None = None
    cases: dict[str, dict[str, _Language]]


class _Baseline(BaseModel):
    """The shape of a baseline file, checked before it is compared with (a malformed one
    gave KeyError, TypeError and AttributeError tracebacks)."""

    version: int = 1
    entries: dict[str, _Entry]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_bounded(path).decode("utf-8"))
    except FileNotFoundError:
        return {"version": 1, "entries": {}}
    except (OSError, TooLarge) as exc:
        raise ConfigError(f"{path}: cannot read the baseline: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"{path}: not a polyrank baseline (nested too deeply)") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not a polyrank baseline ({exc})") from exc
    if not isinstance(data, dict) or "entries" not in data:
        raise ConfigError(f"{path}: not a polyrank baseline (no 'entries')")
    try:
        _Baseline.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{path}: not a polyrank baseline: {where}: {first['msg']}",
            hint="write a new one with --update-baseline (or remove the file)",
        ) from exc
    return data


def update_baseline(run: EvalRun, path: str | Path) -> None:
    """Store this run as the baseline for its suite, template version and model (atomic)."""
    path = Path(path)
    data = _read(path)
    data["entries"][baseline_key(run)] = _entry(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1, sort_keys=True)
    os.replace(tmp, path)


@dataclass
class Comparison:
    key: str
    found: bool
    tolerance: float
    moves: list[str] = field(default_factory=list)
    deltas: list[dict[str, Any]] = field(default_factory=list)

    @property
    def regressions(self) -> list[dict[str, Any]]:
        return [d for d in self.deltas if d["regression"]]


def compare(run: EvalRun, path: str | Path, tolerance: float) -> Comparison:
    """Moves ("case X, de: item Y 2→7") and metric deltas against the stored baseline."""
    key = baseline_key(run)
    entry = _read(Path(path))["entries"].get(key)
    comparison = Comparison(key=key, found=entry is not None, tolerance=tolerance)
    if entry is None:
        return comparison
    metrics = [m.format(k=run.k) for m in COMPARED] + ["consistency.rbo"]
    for case in run.cases:
        before_case = entry["cases"].get(case.name, {})
        for lang, result in case.languages.items():
            before = before_case.get(lang)
            if before is None:
                continue
            now = {g: n + 1 for n, g in enumerate(result.ranking)}
            for n, item in enumerate(before["ranking"], start=1):
                after = now.get(item)
                if after != n:
                    comparison.moves.append(
                        f"case {case.name}, {lang}: {item} {n}→{after if after else 'out'}"
                    )
            for item in result.ranking:
                if item not in before["ranking"]:
                    comparison.moves.append(f"case {case.name}, {lang}: {item} new→{now[item]}")
            old_values = {
                **before["metrics"],
                **{f"consistency.{m}": v for m, v in before.get("consistency", {}).items()},
            }
            new_values = {
                **result.metrics,
                **{f"consistency.{m}": v for m, v in case.consistency.get(lang, {}).items()},
            }
            for metric in metrics:
                if metric not in old_values or metric not in new_values:
                    continue
                delta = new_values[metric] - old_values[metric]
                if abs(delta) < 1e-9:
                    continue
                comparison.deltas.append(
                    {
                        "case": case.name,
                        "language": lang,
                        "metric": metric,
                        "before": old_values[metric],
                        "after": new_values[metric],
                        "delta": round(delta, 6),
                        "regression": delta < -tolerance,
                    }
                )
    return comparison
