"""polyrank evals: prompt regression suites scored for relevance and cross-language
consistency, with baselines and reports.

Usage::

    from polyrank.evals import RunOptions, load_suite, run_suite, to_markdown
    from polyrank.agent import Settings

    run = run_suite(load_suite("evals/suites/core.yaml"),
                    RunOptions(settings=Settings.load(model="local")))
    print(to_markdown(run), run.passed)

A metric is an object with a name, a scope and a compute function, registered through
one call that the built-ins use too::

    evals.register_metric("title_len", lambda ctx: len(ctx.recommendation.items[0].title))

(scopes: ``request`` gets a :class:`RequestContext`, ``languages`` a :class:`PairContext`,
``case`` a :class:`CaseContext`). A suite whose expectation names an unknown metric, or a
``@K`` its ``k`` does not compute, is refused when loaded; a suite's own metrics come from
its ``plugins``. Modules load on first use, so ``import evals`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyrank.retrieval.support import lazy_attributes

if TYPE_CHECKING:
    from polyrank.evals._baseline import Comparison, compare, update_baseline
    from polyrank.evals._metrics import (
        CaseContext,
        Metric,
        PairContext,
        RequestContext,
        jaccard_at_k,
        kendall_tau,
        metric_names,
        metrics,
        rank_c,
        rbo,
        register_metric,
        relevance_metrics,
        top1_agreement,
        unregister_metric,
    )
    from polyrank.evals._report import to_html, to_json, to_markdown
    from polyrank.evals._runner import CaseResult, EvalRun, LanguageResult, RunOptions, run_suite
    from polyrank.evals._suite import (
        Case,
        Expectation,
        LoadedSuite,
        Suite,
        load_suite,
        shipped_suites,
        suite_schema,
    )

__all__ = [
    "Case",
    "CaseContext",
    "CaseResult",
    "Comparison",
    "EvalRun",
    "Expectation",
    "LanguageResult",
    "LoadedSuite",
    "Metric",
    "PairContext",
    "RequestContext",
    "RunOptions",
    "Suite",
    "compare",
    "jaccard_at_k",
    "kendall_tau",
    "load_suite",
    "metric_names",
    "metrics",
    "rank_c",
    "rbo",
    "register_metric",
    "relevance_metrics",
    "run_suite",
    "shipped_suites",
    "suite_schema",
    "to_html",
    "to_json",
    "to_markdown",
    "top1_agreement",
    "unregister_metric",
    "update_baseline",
]

_LAZY = {
    "__version__": "polyrank.retrieval._version",
    **dict.fromkeys(["Comparison", "compare", "update_baseline"], "polyrank.evals._baseline"),
    **dict.fromkeys(
        [
            "CaseContext",
            "Metric",
            "PairContext",
            "RequestContext",
            "jaccard_at_k",
            "kendall_tau",
            "metric_names",
            "metrics",
            "rank_c",
            "rbo",
            "register_metric",
            "relevance_metrics",
            "top1_agreement",
            "unregister_metric",
        ],
        "polyrank.evals._metrics",
    ),
    **dict.fromkeys(["to_html", "to_json", "to_markdown"], "polyrank.evals._report"),
    **dict.fromkeys(
        ["CaseResult", "EvalRun", "LanguageResult", "RunOptions", "run_suite"],
        "polyrank.evals._runner",
    ),
    **dict.fromkeys(
        [
            "Case",
            "Expectation",
            "LoadedSuite",
            "Suite",
            "load_suite",
            "shipped_suites",
            "suite_schema",
        ],
        "polyrank.evals._suite",
    ),
}

__getattr__ = lazy_attributes(__name__, _LAZY)
