"""Reports: JSON (everything), Markdown (a PR comment) and one self-contained HTML page."""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

import jinja2

from polyrank.agent._terminal import clean
from polyrank.evals._baseline import Comparison
from polyrank.evals._runner import EvalRun

__all__ = ["to_html", "to_json", "to_markdown"]

SUMMARY_METRICS = (
    "ndcg@{k}", "sensible@3", "mrr", "recall@{k}", "consistency.rbo", "consistency.rankc",
    "consistency.jaccard", "consistency.top1", "reason_language", "validity", "model_reasons",
    "fallback_rate", "position_tau", "intra_list_distance", "language_spread", "latency_ms",
    "tokens", "cost",
)  # fmt: skip


def to_json(run: EvalRun, comparison: Comparison | None = None) -> dict[str, Any]:
    data = dataclasses.asdict(run)
    data["passed"] = run.passed
    data["fallbacks"] = run.fallbacks
    if comparison is not None:
        data["baseline"] = {**dataclasses.asdict(comparison), "regressions": comparison.regressions}
    return data


def _short(metric: str) -> str:
    """A column head that wraps: ``consistency.jaccard`` may break after the dot."""
    return metric.replace(".", ".\u200b").replace("_", "_\u200b")


#: What Markdown (and GitHub's HTML in it) can read as markup mid-line: emphasis, code,
#: links and images ("[", "(" escaped, so "![p](…)" stays text), tags, table cells.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()|<~])")


def _md(value: object) -> str:
    """Untrusted text (ids, names, the model spec) for Markdown: control characters
    removed (an OSC sequence in an id reached stdout), punctuation escaped (an id
    ``![p](http://…)`` became an image in the report), one line."""
    text = clean(str(value)).replace("\n", " ").replace("\r", " ")
    return _MARKDOWN.sub(r"\\\1", text)


def _code(value: object) -> str:
    """Untrusted text inside a code span: cleaned, one line, no backtick to end it."""
    return clean(str(value)).replace("`", "'").replace("\n", " ").replace("\r", " ")


def _metrics(run: EvalRun) -> list[str]:
    return [m.format(k=run.k) for m in SUMMARY_METRICS]


def to_markdown(run: EvalRun, comparison: Comparison | None = None) -> str:
    regressed = comparison is not None and bool(comparison.regressions)
    lines = [
        f"## polyrank eval: {_md(run.suite)} — "
        f"{'PASS' if run.passed and not regressed else 'FAIL'}",
        "",
        f"model `{_code(run.model)}` · template `{_code(run.template)}` · k={run.k} · "
        f"passes={run.passes} · "
        f"{run.overall['cases_passed']}/{run.overall['cases']} cases passed · "
        f"fallback rate {run.overall['fallback_rate']} · {run.seconds} s",
        "",
    ]
    if run.overall.get("model_reason_share") is not None:
        lines += [
            f"shown reasons the model wrote: {run.overall['model_reasons']} of "
            f"{run.overall['reasons_shown']} (the rest are the local ranker's)",
            "",
        ]
    metrics = [m for m in _metrics(run) if any(m in row for row in run.summary.values())][:10]
    lines.append("| language | " + " | ".join(metrics) + " |")
    lines.append("| --- |" + " ---: |" * len(metrics))
    for lang, row in run.summary.items():
        cells = " | ".join(_md(row.get(m, "–")) for m in metrics)
        lines.append(f"| {_md(lang)} | {cells} |")
    failed = run.failed_expectations
    if failed:
        lines += ["", "### Failed expectations", ""]
        lines += [
            f"- `{_code(case)}`: {_md(e['expect'])} (observed {_md(e['observed'])})"
            for case, e in failed
        ]
    fallbacks = run.fallbacks
    if fallbacks:
        verdict = (
            "allowed (--allow-fallback)"
            if run.allow_fallback
            else "the run fails: these are the local ranker's answers, not the model's"
        )
        lines += ["", f"### Fell back to the local ranker: {len(fallbacks)} request(s), {verdict}"]
        lines.append("")
        lines += [
            f"- `{_code(f['case'])}`, {_md(f['language'])}: {_md(f['reason'])}"
            for f in fallbacks[:30]
        ]
        if len(fallbacks) > 30:
            lines.append(f"- … {len(fallbacks) - 30} more")
    if comparison is not None:
        lines += ["", f"### Baseline `{_code(comparison.key)}`", ""]
        if not comparison.found:
            lines.append("No baseline for this suite, template version and model.")
        else:
            lines.append(
                f"{len(comparison.regressions)} regression(s) beyond "
                f"{comparison.tolerance}; {len(comparison.moves)} move(s)."
            )
            lines += [
                f"- **{_md(d['case'])}, {_md(d['language'])}: {_md(d['metric'])} "
                f"{d['before']:.2f}→{d['after']:.2f}**"
                for d in comparison.regressions
            ]
            lines += [f"- {_md(m)}" for m in comparison.moves[:30]]
            if len(comparison.moves) > 30:
                lines.append(f"- … {len(comparison.moves) - 30} more moves")
    return "\n".join(lines) + "\n"


#: Viridis at five stops: a sequential scale that people with any common colour-vision
#: deficiency read in the same order, and that stays ordered in grey.
SCALE = ((0.0, (68, 1, 84)), (0.25, (59, 82, 139)), (0.5, (33, 145, 140)),
         (0.75, (94, 201, 98)), (1.0, (253, 231, 37)))  # fmt: skip


def colour(value: float) -> str:
    """The scale's colour of ``value`` (0..1; clamped) as ``#rrggbb``."""
    v = min(1.0, max(0.0, float(value)))
    for (x0, c0), (x1, c1) in itertools.pairwise(SCALE):
        if v <= x1:
            t = (v - x0) / (x1 - x0)
            return "#" + "".join(
                f"{round(a + (b - a) * t):02x}" for a, b in zip(c0, c1, strict=True)
            )
    return "#{:02x}{:02x}{:02x}".format(*SCALE[-1][1])


def ink(value: float) -> str:
    """Text colour readable on :func:`colour` of ``value``."""
    return "#ffffff" if value < 0.55 else "#1b1f24"


def to_html(run: EvalRun, comparison: Comparison | None = None, metric: str | None = None) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    languages = sorted({lang for c in run.cases for lang in c.languages})
    shown = metric or f"ndcg@{run.k}"

    def zero_languages(case: Any) -> list[str]:
        """Languages where the case scores 0 on the heatmap's metric: a case can meet
        every expectation and still rank nothing relevant somewhere."""
        return [
            lang
            for lang, result in case.languages.items()
            if shown in result.metrics and result.metrics[shown] == 0
        ]

    return env.get_template("report.html.j2").render(
        zero_languages=zero_languages,
        colour=colour,
        ink=ink,
        short=_short,
        run=run,
        comparison=comparison,
        languages=languages,
        metric=shown,
        summary_metrics=_metrics(run),
    )
