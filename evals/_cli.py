"""``polyrank eval``: run a suite, write reports, gate by exit code.

Exit codes: 0 every expectation met; 100 an expectation failed or a regression beyond the
tolerance; 1 a config or runtime error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from agent._cli import llm_options, positive_int, settings_of
from agent.errors import PolyrankError

__all__ = ["EXIT_ERROR", "EXIT_FAILED", "EXIT_OK", "add_parser", "main", "run"]

EXIT_OK, EXIT_ERROR, EXIT_FAILED = 0, 1, 100


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval",
        help="run a prompt regression suite (cross-language consistency, relevance, repairs)",
        description="Run every case of SUITE in every language, score relevance (nDCG, MRR, "
        "recall), cross-language consistency (RBO, RankC, Jaccard, top-1), reason language, "
        "repairs, fallbacks, position and language bias, diversity, latency and cost; write "
        "reports; compare with a baseline. Exit 0 pass, 100 failed expectation or regression, "
        "1 error.",
    )
    p.add_argument("suite", nargs="?", help="suite YAML (e.g. evals/suites/core.yaml)")
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
    p.add_argument(
        "--concurrency", type=positive_int, default=4, help="requests at once (default 4)"
    )
    p.add_argument("--json", type=Path, help="write everything as JSON here")
    p.add_argument("--md", type=Path, help="write a Markdown summary here")
    p.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    p.add_argument("--metric", help="metric of the HTML heatmap (default ndcg@k)")
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

    from evals._baseline import compare, update_baseline
    from evals._report import to_html, to_json, to_markdown
    from evals._runner import RunOptions, run_suite
    from evals._suite import load_suite, suite_schema

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
    loaded = load_suite(args.suite)
    settings = settings_of(args, store=None)  # --store here is the suite's own store
    if args.no_cache:
        settings = settings.model_copy(update={"cache": None})
    options = RunOptions(
        settings=settings,
        passes=args.passes,
        repeat=args.repeat,
        concurrency=args.concurrency,
        store=args.store,
    )
    console = Console(stderr=True)
    total = sum(len(c.variants) for c in loaded.suite.cases) * max(1, args.repeat)
    if console.is_terminal:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"eval {loaded.suite.name}", total=total)
            result = run_suite(
                loaded, options, progress=lambda done, _: bar.update(task, completed=done)
            )
    else:
        result = run_suite(loaded, options)
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
    failed = not result.passed or bool(comparison and comparison.regressions)
    return EXIT_FAILED if failed else EXIT_OK


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
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["eval", *(argv or [])] if argv is not None else None)
    try:
        return run(args)
    except PolyrankError as exc:
        print(f"polyrank: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
