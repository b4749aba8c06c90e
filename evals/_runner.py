"""Run a suite: every case in every language, scored per language and across languages."""

from __future__ import annotations

import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyrank.agent._config import Settings
from polyrank.agent._llm import ChatModel
from polyrank.agent._rerank import RerankConfig
from polyrank.agent._result import Recommendation
from polyrank.agent.errors import ConfigError
from polyrank.evals._assertions import evaluate
from polyrank.evals._metrics import (
    CaseContext,
    Metric,
    PairContext,
    RequestContext,
    rbo,
    top1_agreement,
)
from polyrank.evals._metrics import metrics as registered
from polyrank.evals._suite import Case, Expectation, LoadedSuite
from polyrank.retrieval import Store, StoreReader, load_catalog

__all__ = ["CaseResult", "EvalRun", "LanguageResult", "RunOptions", "run_suite"]

log = logging.getLogger("polyrank.evals")


@dataclass(frozen=True)
class RunOptions:
    """How to run a suite. ``None`` means the suite's default.

    ``settings`` (:class:`polyrank.agent.Settings`: server, key, timeout, cache, prompts) are the
    run's; their model replaces the suite's only when it was given (an option or
    ``POLYRANK_MODEL``). ``model`` replaces both, and may be a :class:`ChatModel` object.
    """

    settings: Settings = field(default_factory=Settings.load)
    model: str | ChatModel | None = None
    passes: int | None = None
    repeat: int = 1
    concurrency: int = 4
    store: str | None = None
    allow_fallback: bool = False


def concurrency(wanted: int, agent: Any) -> int:
    """Requests at once: ``wanted``, but no more than the model server's slots when it says
    (against a one-slot llama.cpp server, 4 at once measured queue time: median 73.7 s,
    and requests ran past their deadline)."""
    llm: ChatModel | None = agent.llm
    slots = llm.limits().slots if llm is not None else None
    if slots is not None and slots < wanted:
        log.info("concurrency %d: the model server has %d slot(s)", slots, slots)
        return max(1, slots)
    return max(1, wanted)


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
    fallback_reason: str | None = None  # why the LLM's answer was not used
    #: Shown reasons the LLM wrote (the others are the local ranker's).
    model_reasons: int = 0


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
    metrics: dict[str, float] = field(default_factory=dict)  # the ``case`` metrics
    #: RBO between every pair of the case's languages (both ways; 1 on the diagonal).
    matrix: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(e["passed"] for e in self.expectations)

    @property
    def fallbacks(self) -> dict[str, str]:
        """Why the local ranker answered, by language (empty: the model answered)."""
        return {
            lang: r.fallback_reason or "unknown" for lang, r in self.languages.items() if r.fallback
        }


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
    summary: dict[str, dict[str, float | str]]  # language -> metric -> value
    overall: dict[str, Any]
    seconds: float
    allow_fallback: bool = False

    @property
    def fallbacks(self) -> list[dict[str, str]]:
        """Every request the local ranker answered for the model: case, language, why."""
        return [
            {"case": c.name, "language": lang, "reason": reason}
            for c in self.cases
            for lang, reason in c.fallbacks.items()
        ]

    @property
    def expectations_met(self) -> bool:
        return all(c.passed for c in self.cases)

    @property
    def passed(self) -> bool:
        """Every expectation met, by the model's own answers (unless ``allow_fallback``:
        an answer of the local ranker in its place does not count as the model's)."""
        return self.expectations_met and (self.allow_fallback or not self.fallbacks)

    @property
    def failed_expectations(self) -> list[tuple[str, dict[str, Any]]]:
        return [(c.name, e) for c in self.cases for e in c.expectations if not e["passed"]]


def _key(item_id: str, group: str, labels: dict[str, int]) -> str:
    return item_id if item_id in labels else group


def _metric_error(metric: Metric, where: str, exc: Exception) -> ConfigError:
    return ConfigError(f"metric {metric.name!r} failed on {where}: {exc!r}")


def _score_language(
    case: Case, language: str, recs: Sequence[Recommendation], k: int, store: StoreReader
) -> LanguageResult:
    rec = recs[0]
    labels = case.relevant
    trace = rec.trace
    ctx = RequestContext(case=case, language=language, recommendation=rec, k=k, store=store)
    metrics: dict[str, float] = {}
    for metric in registered("request"):
        try:
            value = metric.compute(ctx)
        except Exception as exc:
            raise _metric_error(metric, f"case {case.name!r}, {language}", exc) from exc
        if value is not None:
            metrics[metric.at(k)] = float(value)
    position = {cid: n for n, cid in enumerate(trace.candidate_ids)}
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
        reasons=[i.reason for i in rec.items],
        metrics={m: round(v, 6) for m, v in metrics.items()},
        repairs=dict(trace.repairs),
        fallback=trace.fallback,
        ranker=trace.ranker,
        template=trace.version,
        gold_input_position=gold_pos,
        gold_top1=gold_top1,
        promotions=promotions,
        repeats=[[i.group for i in r.items] for r in recs],
        fallback_reason=trace.fallback_reason,
        model_reasons=len({i.id for i in rec.items} & set(trace.model_reasons)),
    )


def _consistency(
    case: Case, results: dict[str, LanguageResult], k: int, p: float
) -> tuple[dict[str, dict[str, float]], dict[str, float], dict[str, dict[str, float]]]:
    """Each ``languages`` metric of every non-reference language against the reference,
    its mean over every pair of languages, and the RBO of every pair (a symmetric
    language x language matrix, 1 on the diagonal)."""
    across = registered("languages")

    def scores(a: Sequence[str], b: Sequence[str], where: str) -> dict[str, float]:
        ctx = PairContext(reference=a, other=b, k=k, rbo_p=p)
        out: dict[str, float] = {}
        for metric in across:
            try:
                value = metric.compute(ctx)
            except Exception as exc:
                raise _metric_error(metric, where, exc) from exc
            if value is not None:
                out[metric.short] = round(float(value), 6)
        return out

    ref = results[case.reference_language].groups
    versus = {
        lang: scores(ref, result.groups, f"case {case.name!r}, {lang}")
        for lang, result in results.items()
        if lang != case.reference_language
    }
    langs = sorted(results)
    pairs = [(a, b) for i, a in enumerate(langs) for b in langs[i + 1 :]]
    pairwise: dict[str, float] = {}
    matrix: dict[str, dict[str, float]] = {lang: {lang: 1.0} for lang in langs}
    if pairs:
        each = [
            scores(results[a].groups, results[b].groups, f"case {case.name!r}, {a}/{b}")
            for a, b in pairs
        ]
        for name in each[0]:
            values = [e[name] for e in each if name in e]
            pairwise[name] = round(statistics.mean(values), 6)
        for (a, b), e in zip(pairs, each, strict=True):
            if "rbo" in e:
                matrix[a][b] = matrix[b][a] = e["rbo"]
    return versus, pairwise, matrix


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


def _case_metrics(ctx: CaseContext) -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in registered("case"):
        try:
            value = metric.compute(ctx)
        except Exception as exc:
            raise _metric_error(metric, f"case {ctx.case.name!r}", exc) from exc
        if value is not None:
            out[metric.at(ctx.k)] = round(float(value), 6)
    return out


def _expectations(
    ctx: CaseContext, common: Sequence[Expectation], base: Path
) -> list[dict[str, Any]]:
    return [evaluate(expect, ctx, base) for expect in [*common, *ctx.case.expect]]


def _summary(cases: Sequence[CaseResult], k: int) -> dict[str, dict[str, float | str]]:
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for case in cases:
        for lang, result in case.languages.items():
            for metric, value in result.metrics.items():
                per[lang][metric].append(value)
            for metric, value in case.consistency.get(lang, {}).items():
                per[lang][f"consistency.{metric}"].append(value)
    summary: dict[str, dict[str, float | str]] = {}
    for lang, metrics in sorted(per.items()):
        row: dict[str, float | str] = {
            m: round(statistics.mean(v), 4) for m, v in metrics.items() if m != "cost"
        }
        requests = len(metrics["latency_ms"])
        row["latency_ms"] = round(statistics.median(metrics["latency_ms"]), 1)
        # A model without a known price has no cost: "unknown", never a made-up 0.
        known = metrics.get("cost", [])
        row["cost"] = round(sum(known), 6) if len(known) == requests else "unknown"
        row["cases"] = float(requests)
        summary[lang] = row
    return summary


def _overall(cases: Sequence[CaseResult]) -> dict[str, Any]:
    results = [r for c in cases for r in c.languages.values()]
    asked = [r for r in results if "model_reasons" in r.metrics]
    own, shown = sum(r.model_reasons for r in asked), sum(len(r.reasons) for r in asked)
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
        # Pooled over the requests an LLM was asked in (a local run has none).
        "model_reasons": own,
        "reasons_shown": shown,
        "model_reason_share": round(own / shown, 4) if shown else None,
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
        "consistency_matrix": _overall_matrix(cases),
    }


def _overall_matrix(cases: Sequence[CaseResult]) -> dict[str, dict[str, float]]:
    """Mean RBO of each pair of languages over the cases that have both."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for case in cases:
        for a, row in case.matrix.items():
            for b, value in row.items():
                values[a][b].append(value)
    return {
        a: {b: round(statistics.mean(v), 4) for b, v in sorted(row.items())}
        for a, row in sorted(values.items())
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
    record: Callable[[str, str, int, Recommendation], None] | None = None,
) -> EvalRun:
    """Run every case in every language (``repeat`` times) and score the results.

    ``progress(done, total)`` once the suite's store is built (``done`` 0), then after
    each request; ``record(case, language, repeat,
    recommendation)`` with each (``--trace FILE``), in the calling thread.
    """
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
        for key in [
            *c.relevant,
            *(v for e in c.expect if e.type == "not_in_top" for v in e.value or []),
        ]
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
    if progress:  # the store is built: the requests start (a bar can say which is which)
        progress(0, sum(len(c.variants) for c in suite.cases) * max(1, options.repeat))
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
    log.info(
        "suite %s: %d cases, %d requests, model %s, store %s",
        suite.name, len(suite.cases), len(jobs),
        model if isinstance(model, str) else model.spec, store_path,
    )  # fmt: skip

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
    with ThreadPoolExecutor(max_workers=concurrency(options.concurrency, agents[0])) as pool:
        for job, rec in zip(jobs, pool.map(run, jobs), strict=True):
            recs[(job[0].name, job[1])].append(rec)
            if record:
                record(job[0].name, job[1], job[2], rec)
            if rec.trace.fallback:
                log.info("case %s, %s: fell back (%s)", job[0].name, job[1],
                         rec.trace.fallback_reason)  # fmt: skip
            done += 1
            if progress:
                progress(done, len(jobs))
    cases: list[CaseResult] = []
    for case in suite.cases:
        results = {
            lang: _score_language(case, lang, recs[(case.name, lang)], k, store)
            for lang in case.variants
        }
        versus, pairwise, matrix = _consistency(case, results, k, defaults.rbo_p)
        ctx = CaseContext(case=case, languages=results, consistency=versus, k=k)
        cases.append(
            CaseResult(
                name=case.name,
                system=case.system,
                reference=case.reference_language,
                languages=results,
                consistency=versus,
                pairwise=pairwise,
                stability=_stability(results, defaults.rbo_p),
                expectations=_expectations(ctx, defaults.expect, loaded.path.parent),
                metrics=_case_metrics(ctx),
                matrix=matrix,
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
        allow_fallback=options.allow_fallback,
    )
