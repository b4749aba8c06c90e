"""The quality figures of issue 18 from ``polyrank eval --json`` runs, by group of cases.

``python -m polyrank.evals.halves RUN.json [RUN.json ...]`` prints, for each run and each
group (core.yaml's ``fresh-*`` tune half and ``fresh2-*`` second tune set apart from its
older cases; every other suite's cases as one group): requests, mean nDCG@k, sensible
top-3 count, top-1 agreement with the reference language (pooled over languages) and the
share of reasons that state a fact, with "tagged x, y" lists counted and not. It is how
the figures in the README's quality table and the issue notes are made, so a next round
compares like with like.

A reason "states a fact" when one of its `` · `` parts is more than what the item is (the
domain, language and year line of :func:`polyrank.agent._local.facts`), a bare price or a
converted one without the request's bound ("≈ 23 CHF"): a proxy, not a grader.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from polyrank.agent._local import facts
from polyrank.agent._locale import in_language
from polyrank.retrieval import Candidate, load_catalog

__all__ = ["Figures", "group_of", "main", "states_a_fact", "summarise"]

#: The sample catalogue, whose items the shipped suites rank.
CATALOG = Path(__file__).resolve().parent.parent / "agent" / "sample" / "catalog.jsonl"


@dataclass
class Figures:
    """One group's figures."""

    cases: int = 0
    requests: int = 0
    ndcg: float = 0.0
    sensible: int = 0
    graded: int = 0
    top1: float = 0.0
    facts: float = 0.0
    facts_without_tag_lists: float = 0.0
    failed: list[str] = field(default_factory=list)


def group_of(case_name: str) -> str:
    """``fresh`` for core.yaml's tune half (``fresh-*``), ``fresh2`` for its second tune set
    (``fresh2-*``), else ``cases``."""
    if case_name.startswith("fresh2-"):
        return "fresh2"
    return "fresh" if case_name.startswith("fresh-") else "cases"


def _candidates(catalog: Path) -> dict[str, Candidate]:
    return {
        i.id: Candidate(
            id=i.id,
            group=i.group_key,
            score=0.0,
            title=i.title,
            description=i.description,
            language=i.language or "en",
            domain=i.domain,
            tags=i.tags,
            attributes=i.attributes,
        )
        for i in load_catalog(catalog)
    }


def states_a_fact(reason: str, candidate: Candidate | None, language: str, tags: bool) -> bool:
    """Whether ``reason`` says more than what the item is (see the module doc); a "tagged"
    list counts only with ``tags``."""
    head = facts(candidate, language) if candidate is not None else ""
    template = str(in_language("reasons", language).get("tagged", "") or "")
    prefix = template.split("{tags}")[0].strip() if "{tags}" in template else ""
    for part in (p.strip() for p in reason.split(" · ")):
        if not part or part == head:
            continue
        bounded = "≤" in part or "≥" in part
        if part.startswith("≈") and not bounded:
            continue
        if prefix and part.startswith(prefix):
            if tags:
                return True
            continue
        if not bounded and len(part) < 18 and any(ch.isdigit() for ch in part):
            continue  # a bare price ("12,00 €")
        return True
    return False


def summarise(run: dict[str, Any], catalog: Path = CATALOG) -> dict[str, Figures]:
    """Each group's figures in one ``polyrank eval --json`` run."""
    items = _candidates(catalog)
    sums: dict[str, dict[str, list[float]]] = {}
    out: dict[str, Figures] = {}
    for case in run["cases"]:
        group = group_of(case["name"])
        figures = out.setdefault(group, Figures())
        acc = sums.setdefault(group, {"ndcg": [], "top1": [], "facts": [], "plain": []})
        figures.cases += 1
        for language, answer in case["languages"].items():
            figures.requests += 1
            metrics = answer.get("metrics", {})
            if metrics.get("ndcg@5") is not None:
                acc["ndcg"].append(metrics["ndcg@5"])
            if metrics.get("sensible@3") is not None:
                figures.graded += 1
                figures.sensible += int(metrics["sensible@3"])
            for item_id, reason in zip(answer["ranking"], answer["reasons"], strict=False):
                candidate = items.get(item_id)
                acc["facts"].append(states_a_fact(reason, candidate, language, tags=True))
                acc["plain"].append(states_a_fact(reason, candidate, language, tags=False))
        acc["top1"] += [v["top1"] for v in (case.get("consistency") or {}).values()]
        figures.failed += [
            f"{case['name']}: {e['expect']} (observed {e['observed']})"
            for e in case.get("expectations", [])
            if not e["passed"]
        ]
    for group, figures in out.items():
        acc = sums[group]
        figures.ndcg = round(_mean(acc["ndcg"]), 4)
        figures.top1 = round(_mean(acc["top1"]), 3)
        figures.facts = round(100 * _mean(acc["facts"]), 1)
        figures.facts_without_tag_lists = round(100 * _mean(acc["plain"]), 1)
    return out


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m polyrank.evals.halves",
        description="Issue 18's figures (nDCG@5, sensible top-3, top-1 agreement, facts "
        "share) per group of cases of `polyrank eval --json` runs.",
    )
    parser.add_argument("runs", nargs="+", type=Path, help="JSON files of polyrank eval --json")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    args = parser.parse_args(argv)
    report: dict[str, dict[str, Any]] = {}
    for path in args.runs:
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
            groups = summarise(run)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"{path}: not a polyrank eval --json run ({exc})", file=sys.stderr)
            return 1
        report[str(path)] = {g: asdict(f) for g, f in groups.items()}
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    for path, shown in report.items():
        print(path)
        for group, f in shown.items():
            print(
                f"  {group}: {f['cases']} cases, {f['requests']} requests · nDCG@5 {f['ndcg']}"
                f" · sensible {f['sensible']} of {f['graded']} · top-1 agreement {f['top1']}"
                f" · facts {f['facts']}% ({f['facts_without_tag_lists']}% without tag lists)"
                f" · {len(f['failed'])} expectations failed"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
