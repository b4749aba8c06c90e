"""``polyrank eval``: run a suite, write reports, gate by exit code.

Exit codes: 0 every expectation met; 100 an expectation failed or a regression beyond the
tolerance (``--failed-exit-code`` or ``POLYRANK_FAILED_EXIT_CODE`` change it); 3 the LLM
failed and the local ranker answered for it in some request (the run did not test the
model; ``--allow-fallback`` accepts that); 1 a config or runtime error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyrank.agent._options import (
    TraceFile,
    configure_logging,
    llm_options,
    positive_int,
    settings_of,
    trace_option,
    verbosity_options,
)
from polyrank.agent.errors import PolyrankError

if TYPE_CHECKING:
    from polyrank.evals._runner import EvalRun

__all__ = ["EXIT_ERROR", "EXIT_FAILED", "EXIT_FALLBACK", "EXIT_OK", "add_parser", "main", "run"]

EXIT_OK, EXIT_ERROR, EXIT_FALLBACK, EXIT_FAILED = 0, 1, 3, 100
#: The environment variable that changes the exit code of a failed expectation (promptfoo's
#: PROMPTFOO_FAILED_TEST_EXIT_CODE), e.g. 0 to report without failing a CI job.
FAILED_EXIT_CODE_ENV = "POLYRANK_FAILED_EXIT_CODE"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval",
        help="run a prompt regression suite (cross-language consistency, relevance, repairs)",
        description="Run every case of SUITE in every language, score relevance (nDCG, MRR, "
        "recall), cross-language consistency (RBO, RankC, Jaccard, top-1), reason language, "
        "repairs, fallbacks, position and language bias, diversity, latency and cost; write "
        "reports; compare with a baseline. Exit 0 pass, 100 failed expectation or regression "
        "(--failed-exit-code), 3 the LLM failed and the local ranker answered "
        "(--allow-fallback), 1 error.",
    )
    p.add_argument(
        "suite",
        nargs="?",
        help="suite YAML, or the name of a shipped suite (core: evals/suites/core.yaml)",
    )
    p.add_argument(
        "--model",
        help="override the suite's model: local, openai:MODEL (env POLYRANK_MODEL)",
    )
    p.add_argument("--passes", type=positive_int, help="override the suite's shuffled passes")
    p.add_argument(
        "--prompts",
        help="evaluate the templates in this folder instead of the "
        "shipped ones (their name@version keys the baseline)",
    )
    p.add_argument("--repeat", type=positive_int, default=1, help="run N times; report stability")
    llm_options(p)
    trace_option(p)
    p.add_argument(
        "--concurrency", type=positive_int, default=4, help="requests at once (default 4)"
    )
    p.add_argument("--json", type=Path, help="write everything as JSON here")
    p.add_argument("--md", type=Path, help="write a Markdown summary here")
    p.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    p.add_argument(
        "--metric", help="per-request metric of the HTML heatmap (default ndcg@K; checked)"
    )
    p.add_argument(
        "--failed-exit-code",
        type=int,
        metavar="N",
        help=f"exit code of a failed expectation or regression (env {FAILED_EXIT_CODE_ENV}; "
        f"default {EXIT_FAILED})",
    )
    p.add_argument("--baseline", type=Path, help="compare with this baseline file")
    p.add_argument(
        "--update-baseline", action="store_true", help="store this run in the --baseline file"
    )
    p.add_argument("--tolerance", type=float, help="allowed metric drop (default from suite)")
    p.add_argument(
        "--store",
        help="store for the suite's catalogue, kept in step with it: items not in the "
        "catalogue are deleted (default .polyrank/eval/NAME-HASH, one per suite file)",
    )
    p.add_argument("--no-cache", action="store_true", help="do not use the LLM reply cache")
    p.add_argument(
        "--schema",
        nargs="?",
        const="-",
        metavar="FILE",
        help="print (or write) the suite JSON Schema and exit",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from polyrank.evals._baseline import compare, update_baseline
    from polyrank.evals._report import to_html, to_json, to_markdown
    from polyrank.evals._runner import RunOptions, run_suite
    from polyrank.evals._suite import load_suite, suite_schema

    if args.schema:
        text = json.dumps(suite_schema(), indent=2) + "\n"
        if args.schema == "-":
            sys.stdout.write(text)
        else:
            Path(args.schema).write_text(text, encoding="utf-8")
        return EXIT_OK
    if not args.suite:
        print("polyrank eval: error: SUITE is required (or --schema)", file=sys.stderr)
        return EXIT_ERROR
    if args.update_baseline and not args.baseline:
        print("polyrank eval: error: --update-baseline needs --baseline FILE", file=sys.stderr)
        return EXIT_ERROR
    failed_code = _failed_exit_code(args.failed_exit_code)
    loaded = load_suite(args.suite)
    if args.metric:
        _check_heatmap_metric(args.metric, loaded.suite.defaults.k)
    settings = settings_of(args, store=None)  # --store here is the suite's own store
    if args.no_cache:
        settings = settings.model_copy(update={"cache": None})
    options = RunOptions(
        settings=settings,
        passes=args.passes,
        repeat=args.repeat,
        concurrency=args.concurrency,
        store=args.store,
        allow_fallback=args.allow_fallback,
    )
    console = Console(stderr=True)
    total = sum(len(c.variants) for c in loaded.suite.cases) * max(1, args.repeat)
    trace = TraceFile(args.trace)

    def record(case: str, language: str, repeat: int, rec: Any) -> None:
        trace.write(rec, case=case, language=language, repeat=repeat)

    try:
        if console.is_terminal:
            from rich.progress import Progress

            with Progress(console=console, transient=True) as bar:
                name = loaded.suite.name
                task = bar.add_task(f"eval {name}: building the suite's store", total=total)
                result = run_suite(
                    loaded,
                    options,
                    progress=lambda done, _: bar.update(
                        task, completed=done, description=f"eval {name}: {total} requests"
                    ),
                    record=record,
                )
        else:
            result = run_suite(loaded, options, record=record)
    finally:
        trace.close()
    tolerance = (
        args.tolerance if args.tolerance is not None else loaded.suite.defaults.regression_tolerance
    )
    comparison = None
    if args.baseline and not args.update_baseline:
        comparison = compare(result, args.baseline, tolerance)
    if args.json:
        args.json.write_text(
            json.dumps(to_json(result, comparison), ensure_ascii=False, indent=1), encoding="utf-8"
        )
    if args.html:
        args.html.write_text(to_html(result, comparison, args.metric), encoding="utf-8")
    markdown = to_markdown(result, comparison)
    if args.md:
        args.md.write_text(markdown, encoding="utf-8")
    _show(markdown)
    if args.update_baseline:
        update_baseline(result, args.baseline)
        print(
            f"\nbaseline updated: {args.baseline} [{result.suite}|{result.template}|{result.model}]"
        )
    if result.fallbacks:
        _say_fallbacks(result)
        if not args.allow_fallback:
            return EXIT_FALLBACK
    failed = not result.expectations_met or bool(comparison and comparison.regressions)
    return failed_code if failed else EXIT_OK


def _failed_exit_code(option: int | None) -> int:
    """The exit code of a failed expectation: the option, the environment, or 100."""
    from polyrank.agent.errors import ConfigError

    where, value = "--failed-exit-code", option
    if value is None:
        text = os.environ.get(FAILED_EXIT_CODE_ENV)
        if text is None or not text.strip():
            return EXIT_FAILED
        where = FAILED_EXIT_CODE_ENV
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{where}={text!r}: not a whole number") from None
    if not 0 <= value <= 255:
        raise ConfigError(f"{where}={value}: an exit code is 0 to 255")
    return value


def _check_heatmap_metric(name: str, k: int) -> None:
    """``--metric`` names a registered per-request metric (the heatmap's cells are one
    request each), checked before the run."""
    from polyrank.agent.errors import ConfigError
    from polyrank.evals._metrics import get_metric, metrics

    try:
        metric = get_metric(name, k)
    except ValueError as exc:
        raise ConfigError(f"--metric: {exc}") from None
    if metric.scope != "request":
        shown = ", ".join(m.at(k) for m in metrics("request"))
        raise ConfigError(
            f"--metric {name!r} is not one number per case and language (scope "
            f"{metric.scope!r}); the heatmap shows one of: {shown}"
        )


def _say_fallbacks(result: EvalRun) -> None:
    """One line on stderr: how many requests the local ranker answered, and why."""
    from polyrank.agent._terminal import clean

    fallbacks = result.fallbacks
    reasons = list(dict.fromkeys(f["reason"] for f in fallbacks))
    kind = "warning" if result.allow_fallback else "error"
    verdict = (
        "allowed by --allow-fallback"
        if result.allow_fallback
        else "the run did not test the model (--allow-fallback to accept)"
    )
    print(
        f"polyrank eval: {kind}: the LLM failed in {len(fallbacks)} of "
        f"{result.overall['requests']} requests and the local ranker answered "
        f"({clean('; '.join(reasons[:3]))}{'; …' if len(reasons) > 3 else ''}); {verdict}",
        file=sys.stderr,
    )


def _show(markdown: str) -> None:
    """The summary on stdout: rendered (tables, headings) on a terminal, Markdown as is when
    piped or redirected (CI logs, files)."""
    if not sys.stdout.isatty():
        print(markdown, end="")
        return
    from rich.console import Console
    from rich.markdown import Markdown

    Console(file=sys.stdout, force_terminal=True).print(Markdown(markdown))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="polyrank")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    verbosity_options(sub.choices["eval"])
    args = parser.parse_args(["eval", *(argv or [])] if argv is not None else None)
    configure_logging(args.verbose)
    try:
        return run(args)
    except PolyrankError as exc:
        print(f"polyrank: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
