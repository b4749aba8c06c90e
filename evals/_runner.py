"""Run a suite: every case in every language, scored per language and across languages."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent._config import Settings
from agent._llm import ChatModel
from agent._rerank import RerankConfig
from agent._result import Recommendation
from agent.errors import ConfigError
from evals._metrics import (
    intra_list_distance,
    jaccard_at_k,
    kendall_tau,
    rank_c,
    rbo,
    relevance_metrics,
    top1_agreement,
)
from evals._suite import Case, Expectation, LoadedSuite
from retrieval import Store, is_in_language, load_catalog

__all__ = ["CaseResult", "EvalRun", "LanguageResult", "RunOptions", "run_suite"]

LOCAL_TEMPLATE = "local-ranker@1"
#: Repairs that mean the model's answer was not usable as it came.
STRUCTURAL_REPAIRS = (
    "invalid_output",
    "truncated",
    "salvaged",
    "invented_id",
    "duplicate_id",
    "missing_id",
)


@dataclass(frozen=True)
class RunOptions:
    """How to run a suite. ``None`` means the suite's default.

    ``settings`` (:class:`agent.Settings`: server, key, timeout, cache, prompts) are the
    run's; their model replaces the suite's only when it was given (an option or
    ``POLYRANK_MODEL``). ``model`` replaces both, and may be a :class:`ChatModel` object.
    """

    settings: Settings = field(default_factory=Settings.load)
    model: str | ChatModel | None = None
    passes: int | None = None
    repeat: int = 1
    concurrency: int = 4
    store: str | None = None


@dataclass
class LanguageResult:
    language: str
    query: str
    ranking: list[str]  # item ids, best first
    groups: list[str]  # their groups (what consistency compares)
    titles: list[str]
    item_languages: list[str]
    reasons: list[str]
    metrics: dict[str, float]
    repairs: dict[str, int]
    fallback: bool
    ranker: str
    template: str
    gold_input_position: int | None = None  # 1-based position of the best gold item, if any
    gold_top1: bool = False
    promotions: dict[str, list[float]] = field(default_factory=dict)  # same/other language
    repeats: list[list[str]] = field(default_factory=list)  # group rankings of each repeat


@dataclass
class CaseResult:
    name: str
    system: str | None
    reference: str
    languages: dict[str, LanguageResult]
    consistency: dict[str, dict[str, float]]  # language -> metric vs the reference
    pairwise: dict[str, float]
    stability: dict[str, float]
    expectations: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return all(e["passed"] for e in self.expectations)


@dataclass
class EvalRun:
    suite: str
    path: str
    model: str
    template: str
    k: int
    passes: int
    repeat: int
    rbo_p: float
    cases: list[CaseResult]
    summary: dict[str, dict[str, float]]  # language -> metric -> value
    overall: dict[str, Any]
    seconds: float

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    @property
    def failed_expectations(self) -> list[tuple[str, dict[str, Any]]]:
        return [(c.name, e) for c in self.cases for e in c.expectations if not e["passed"]]


def _key(item_id: str, group: str, labels: dict[str, int]) -> str:
    return item_id if item_id in labels else group


def _score_language(
    case: Case, language: str, recs: Sequence[Recommendation], k: int, store: Store
) -> LanguageResult:
    rec = recs[0]
    labels = case.relevant
    keys = [_key(i.id, i.group, labels) for i in rec.items]
    metrics = relevance_metrics(keys, labels, k) if labels else {}
    reasons = [i.reason for i in rec.items]
    in_language = [is_in_language(r, language) for r in reasons]
    trace = rec.trace
    metrics["reason_language"] = sum(in_language) / len(in_language) if in_language else 1.0
    # Valid means usable as answered: no repair beyond putting ids in order (a reply that
    # lists 2 of 20 ids, invents or repeats ids, or had to be salvaged or re-asked is not).
    invalid = sum(trace.repairs.get(kind, 0) for kind in STRUCTURAL_REPAIRS)
    metrics["validity"] = 0.0 if trace.fallback or invalid else 1.0
    metrics["fallback_rate"] = 1.0 if trace.fallback else 0.0
    metrics["latency_ms"] = trace.latency_ms.get("total", 0.0)
    metrics["tokens"] = float(trace.prompt_tokens + trace.completion_tokens)
    metrics["cost"] = trace.cost
    # position bias: does the output copy the input order?
    position = {cid: n for n, cid in enumerate(trace.candidate_ids)}
    inputs = [position.get(i.id, len(position)) for i in rec.items]
    metrics["position_tau"] = kendall_tau(inputs, list(range(len(inputs))))
    # diversity
    vectors = store.vectors([i.id for i in rec.items])
    if len(vectors) >= 2:
        matrix = np.vstack([v / (np.linalg.norm(v) or 1.0) for v in vectors.values()])
        metrics["intra_list_distance"] = intra_list_distance(matrix)
    n = max(1, len(rec.items))
    metrics["language_spread"] = len({i.language for i in rec.items}) / n
    metrics["domain_spread"] = len({i.domain for i in rec.items}) / n
    # candidate-language bias: how far items move up, by whether they are in the request's
    # language (positive = promoted)
    promotions: dict[str, list[float]] = {"same": [], "other": []}
    for out_pos, item in enumerate(rec.items):
        moved = float(position.get(item.id, out_pos) - out_pos)
        promotions["same" if item.language == language else "other"].append(moved)
    # accuracy by the best gold item's input position
    gold_pos = None
    gold_top1 = False
    if labels:
        best_grade = max(labels.values())
        groups = {item.id: item.group_key for item in store.get(trace.candidate_ids)}
        gold = [
            cid
            for cid in trace.candidate_ids
            if labels.get(_key(cid, groups.get(cid, cid), labels)) == best_grade
        ]
        if gold:
            gold_pos = position[gold[0]] + 1
            gold_top1 = bool(rec.items) and rec.items[0].id == gold[0]
    return LanguageResult(
        language=language,
        query=rec.query,
        ranking=[i.id for i in rec.items],
        groups=[i.group for i in rec.items],
        titles=[i.title for i in rec.items],
        item_languages=[i.language for i in rec.items],
        reasons=reasons,
        metrics={m: round(v, 6) for m, v in metrics.items()},
        repairs=dict(trace.repairs),
        fallback=trace.fallback,
        ranker=trace.ranker,
        template=trace.prompt_template or LOCAL_TEMPLATE,
        gold_input_position=gold_pos,
        gold_top1=gold_top1,
        promotions=promotions,
        repeats=[[i.group for i in r.items] for r in recs],
    )


def _consistency(
    case: Case, results: dict[str, LanguageResult], k: int, p: float
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    ref = results[case.reference_language].groups
    versus: dict[str, dict[str, float]] = {}
    for lang, result in results.items():
        if lang == case.reference_language:
            continue
        versus[lang] = {
            "rbo": round(rbo(ref, result.groups, p), 6),
            "rankc": round(rank_c(ref, result.groups), 6),
            "jaccard": round(jaccard_at_k(ref, result.groups, k), 6),
            "top1": top1_agreement(ref, result.groups),
        }
    langs = sorted(results)
    pairs = [(a, b) for i, a in enumerate(langs) for b in langs[i + 1 :]]
    pairwise: dict[str, float] = {}
    if pairs:
        for name, fn in (
            ("rbo", lambda a, b: rbo(a, b, p)),
            ("rankc", rank_c),
            ("jaccard", lambda a, b: jaccard_at_k(a, b, k)),
            ("top1", top1_agreement),
        ):
            pairwise[name] = round(
                statistics.mean(fn(results[a].groups, results[b].groups) for a, b in pairs), 6
            )
    return versus, pairwise


def _stability(results: dict[str, LanguageResult], p: float) -> dict[str, float]:
    top1: list[float] = []
    agreement: list[float] = []
    for result in results.values():
        runs = result.repeats
        if len(runs) < 2:
            continue
        top1.append(sum(top1_agreement(runs[0], r) for r in runs[1:]) / (len(runs) - 1))
        agreement.extend(rbo(a, b, p) for i, a in enumerate(runs) for b in runs[i + 1 :])
    if not top1:
        return {}
    return {"top1": round(statistics.mean(top1), 6), "rbo": round(statistics.mean(agreement), 6)}


def _observe(
    name: str, case: Case, results: dict[str, LanguageResult], versus: dict[str, dict[str, float]]
) -> float | None:
    if name.startswith("consistency."):
        metric = name.split(".", 1)[1]
        values = [v[metric] for v in versus.values() if metric in v]
        return statistics.mean(values) if values else 1.0
    values = [r.metrics[name] for r in results.values() if name in r.metrics]
    return statistics.mean(values) if values else None


def _expectations(
    case: Case,
    results: dict[str, LanguageResult],
    versus: dict[str, dict[str, float]],
    common: Sequence[Expectation] = (),
) -> list[dict[str, Any]]:
    out = []
    for expect in [*common, *case.expect]:
        if expect.type == "not_in_top":
            depth = int(expect.threshold)
            banned = set(expect.value or [])
            hits = sorted(
                {
                    f"{lang}:{key}"
                    for lang, r in results.items()
                    for key in [*r.ranking[:depth], *r.groups[:depth]]
                    if key in banned
                }
            )
            out.append({"expect": str(expect), "observed": hits, "passed": not hits})
            continue
        observed = _observe(expect.type, case, results, versus)
        out.append(
            {
                "expect": str(expect),
                "observed": None if observed is None else round(observed, 4),
                "passed": observed is not None and expect.holds(observed),
            }
        )
    return out


def _summary(cases: Sequence[CaseResult], k: int) -> dict[str, dict[str, float]]:
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for case in cases:
        for lang, result in case.languages.items():
            for metric, value in result.metrics.items():
                per[lang][metric].append(value)
            for metric, value in case.consistency.get(lang, {}).items():
                per[lang][f"consistency.{metric}"].append(value)
    summary: dict[str, dict[str, float]] = {}
    for lang, metrics in sorted(per.items()):
        row = {m: round(statistics.mean(v), 4) for m, v in metrics.items() if m != "cost"}
        row["latency_ms"] = round(statistics.median(metrics["latency_ms"]), 1)
        row["cost"] = round(sum(metrics["cost"]), 6)
        row["cases"] = float(len(metrics["latency_ms"]))
        summary[lang] = row
    return summary


def _overall(cases: Sequence[CaseResult]) -> dict[str, Any]:
    results = [r for c in cases for r in c.languages.values()]
    repairs: dict[str, int] = defaultdict(int)
    for r in results:
        for kind, n in r.repairs.items():
            repairs[kind] += n
    buckets: dict[str, list[float]] = defaultdict(list)
    for r in results:
        if r.gold_input_position is not None:
            low = (r.gold_input_position - 1) // 5 * 5 + 1
            buckets[f"{low}-{low + 4}"].append(1.0 if r.gold_top1 else 0.0)
    same = [m for r in results for m in r.promotions.get("same", [])]
    other = [m for r in results for m in r.promotions.get("other", [])]
    return {
        "requests": len(results),
        "fallback_rate": round(statistics.mean(1.0 if r.fallback else 0.0 for r in results), 4),
        "validity": round(statistics.mean(r.metrics["validity"] for r in results), 4),
        "repairs": dict(repairs),
        "position_tau": round(statistics.mean(r.metrics["position_tau"] for r in results), 4),
        "top1_accuracy_by_gold_input_position": {
            b: round(statistics.mean(v), 4)
            for b, v in sorted(buckets.items(), key=lambda kv: int(kv[0].split("-")[0]))
        },
        "candidate_language_bias": {
            "same_language_mean_move": round(statistics.mean(same), 4) if same else None,
            "other_language_mean_move": round(statistics.mean(other), 4) if other else None,
        },
        "cases_passed": sum(c.passed for c in cases),
        "cases": len(cases),
    }


def eval_store_path(loaded: LoadedSuite) -> Path:
    """The default store of a suite: one per suite file and catalogue (two suites with
    the same name in different files shared one store, each ranking the other's items)."""
    import hashlib

    key = f"{loaded.path.resolve()}\n{loaded.catalog.resolve()}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path(".polyrank") / "eval" / f"{loaded.suite.name}-{digest}"


def run_suite(
    loaded: LoadedSuite,
    options: RunOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalRun:
    """Run every case in every language (``repeat`` times) and score the results."""
    options = options or RunOptions()
    suite = loaded.suite
    defaults = suite.defaults
    k = defaults.k
    passes = options.passes or defaults.passes
    settings = options.settings
    given = settings.model if "model" in settings.model_fields_set else None
    model = options.model or given or defaults.model
    started = time.perf_counter()
    store_path = options.store or str(eval_store_path(loaded))
    items = load_catalog(loaded.catalog)
    known = {i.id for i in items} | {i.group_key for i in items}
    unknown = [
        f"case {c.name!r}, relevant: {key!r}"
        for c in suite.cases
        for key in [*c.relevant, *(v for e in c.expect for v in e.value or [])]
        if key not in known
    ]
    if unknown:
        raise ConfigError(
            f"{loaded.path}: labels name items not in {loaded.catalog.name}:\n  "
            + "\n  ".join(unknown)
        )
    store = Store.open(store_path)
    # The store mirrors the suite's catalogue: what left it leaves the store (a deleted
    # item was still ranked first on the next run). A store named with --store keeps the
    # guard against deleting most of it (it may be a catalogue's own store by mistake).
    store.ingest(items, sync=True, allow_delete_all=options.store is None)
    agents = [
        settings.agent(
            store,
            model=model,
            candidates=defaults.candidates,
            rerank=RerankConfig(passes=passes, seed=repeat),
        )
        for repeat in range(max(1, options.repeat))
    ]
    jobs = [
        (case, lang, r)
        for case in suite.cases
        for lang in case.variants
        for r in range(len(agents))
    ]
    done = 0

    def run(job: tuple[Case, str, int]) -> Recommendation:
        case, lang, r = job
        user = loaded.users.get(case.user) if case.user else None
        return agents[r].recommend(
            case.variants[lang],
            user,
            k,
            language=lang,
            passes=passes,
            filters=case.filters,
        )

    recs: dict[tuple[str, str], list[Recommendation]] = defaultdict(list)
    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
        for job, rec in zip(jobs, pool.map(run, jobs), strict=True):
            recs[(job[0].name, job[1])].append(rec)
            done += 1
            if progress:
                progress(done, len(jobs))
    cases: list[CaseResult] = []
    for case in suite.cases:
        results = {
            lang: _score_language(case, lang, recs[(case.name, lang)], k, store)
            for lang in case.variants
        }
        versus, pairwise = _consistency(case, results, k, defaults.rbo_p)
        cases.append(
            CaseResult(
                name=case.name,
                system=case.system,
                reference=case.reference_language,
                languages=results,
                consistency=versus,
                pairwise=pairwise,
                stability=_stability(results, defaults.rbo_p),
                expectations=_expectations(case, results, versus, defaults.expect),
            )
        )
    templates = {r.template for c in cases for r in c.languages.values()}
    model_name = model if isinstance(model, str) else model.spec
    return EvalRun(
        suite=suite.name,
        path=str(loaded.path),
        model=model_name,
        template=",".join(sorted(templates)),
        k=k,
        passes=passes,
        repeat=max(1, options.repeat),
        rbo_p=defaults.rbo_p,
        cases=cases,
        summary=_summary(cases, k),
        overall=_overall(cases),
        seconds=round(time.perf_counter() - started, 2),
    )
