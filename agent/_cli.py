"""The ``polyrank`` command line.

Environment variables are read here and nowhere else: ``POLYRANK_STORE`` (store folder or
``chroma://HOST:PORT``), ``POLYRANK_EMBEDDINGS`` (embedding spec), ``POLYRANK_MODEL``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from agent.errors import PolyrankError

if TYPE_CHECKING:
    from retrieval import Candidate

__all__ = ["main"]

DEMO_QUERIES: tuple[str, ...] = (
    "a gift for a friend who loves hiking",
    "Quiero aprender a programar",
    "送给喜欢徒步的朋友的礼物",
    "Ein spannender Krimi für den Urlaub",
    "東京で食べたいラーメン",
    "un film romantique à Paris",
    "фильм о космосе",
    "음악 추천: 조용한 피아노",
)

PROGRESS_THRESHOLD = 200


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=os.environ.get("POLYRANK_STORE"),
        help="store folder or chroma://HOST:PORT (env POLYRANK_STORE; default .polyrank/store)",
    )
    parser.add_argument(
        "--embeddings",
        default=os.environ.get("POLYRANK_EMBEDDINGS"),
        help="embedding spec: fusion, e5-small, use-m3, openai:MODEL (env POLYRANK_EMBEDDINGS;"
        " default: the one the store was built with, else fusion)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polyrank",
        description="Multilingual recommendations: retrieve from a Chroma catalogue, rerank "
        "with an LLM or the local ranker, explain in the user's language.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser(
        "ingest",
        help="validate a JSONL catalogue and upsert it into the store",
        description="Validate every line of a JSONL catalogue, then upsert it. A bad file is "
        "rejected whole, listing each bad line; unchanged items are not re-embedded.",
    )
    ingest.add_argument("file", help="catalogue file, one JSON item per line")
    _common(ingest)

    search = sub.add_parser(
        "search",
        help="multilingual search of the catalogue",
        description="Find the best catalogue items for QUERY, in any language. Items "
        "stored in several languages come back once, shown in the query's language.",
    )
    search.add_argument("query", help="the request, in any language")
    search.add_argument("--k", type=int, default=10, help="how many results (default 10)")
    search.add_argument("--domain", action="append", help="only this domain (repeatable)")
    search.add_argument("--language", action="append", help="only items in this language")
    search.add_argument("--region", help="only items available in this region (e.g. DE)")
    search.add_argument("--exclude", action="append", help="leave out this item id")
    search.add_argument("--json", action="store_true", help="print JSON (see README)")
    _common(search)

    demo = sub.add_parser(
        "demo",
        help="ingest the sample catalogue and run multilingual searches",
        description="Ingest the sample catalogue (if given) and show searches in 8 languages.",
    )
    demo.add_argument("--catalog", default="data/catalog.jsonl", help="catalogue to ingest")
    demo.add_argument("--k", type=int, default=3, help="results per query (default 3)")
    _common(demo)
    return parser


def _progress_bar(total: int) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    if total < PROGRESS_THRESHOLD or not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task("embedding", total=None)
    bar.start()

    def update(done: int, todo: int) -> None:
        bar.update(task, completed=done, total=todo)

    return update, bar.stop


def _agent(args: argparse.Namespace) -> Any:
    from agent._agent import Agent

    return Agent(store=args.store, embeddings=args.embeddings)


def _ingest(agent: Any, path: str) -> None:
    from retrieval import load_catalog

    items = load_catalog(path)
    update, stop = _progress_bar(len(items))
    try:
        report = agent.store.ingest(items, progress=update)
    finally:
        stop()
    rate = report.embedded / report.seconds if report.seconds and report.embedded else 0.0
    print(
        f"ingested {report.total} items from {path}: {report.added} added, {report.updated} "
        f"updated, {report.unchanged} unchanged; embedded {report.embedded} with "
        f"{agent.store.embedder.spec} in {report.seconds:.1f}s"
        + (f" ({rate:.0f} items/s)" if rate else "")
    )


def candidate_json(rank: int, c: Candidate) -> dict[str, Any]:
    """The stable JSON shape of one search result (documented in the README)."""
    return {
        "rank": rank,
        "id": c.id,
        "group": c.group,
        "score": round(c.score, 4),
        "title": c.title,
        "language": c.language,
        "domain": c.domain,
        "variants": [{"id": v.id, "language": v.language, "title": v.title} for v in c.variants],
    }


def _print_results(query: str, results: Sequence[Candidate], seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{query}  ({seconds * 1000:.0f} ms)", title_justify="left")
    for column in ("#", "title", "lang", "domain", "score", "also in"):
        table.add_column(column)
    for rank, c in enumerate(results, start=1):
        others = sorted({v.language for v in c.variants} - {c.language})
        table.add_row(str(rank), c.title, c.language, c.domain, f"{c.score:.3f}", " ".join(others))
    Console(width=max(100, Console().width)).print(table)


def _search(args: argparse.Namespace) -> int:
    from retrieval import detect_language

    agent = _agent(args)
    started = time.perf_counter()
    results = agent.search(
        args.query,
        k=args.k,
        domains=args.domain,
        languages=args.language,
        region=args.region,
        exclude_ids=args.exclude,
    )
    seconds = time.perf_counter() - started
    if args.json:
        guess = detect_language(args.query)
        payload = {
            "query": args.query,
            "language": guess.code if guess else None,
            "embeddings": agent.store.embedder.spec,
            "k": args.k,
            "results": [candidate_json(r, c) for r, c in enumerate(results, start=1)],
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        _print_results(args.query, results, seconds)
    return 0


def _demo(args: argparse.Namespace) -> int:
    agent = _agent(args)
    if args.catalog:
        _ingest(agent, args.catalog)
    for query in DEMO_QUERIES:
        started = time.perf_counter()
        results = agent.search(query, k=args.k)
        _print_results(query, results, time.perf_counter() - started)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 error, 2 usage)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "ingest":
            _ingest(_agent(args), args.file)
            return 0
        if args.command == "search":
            return _search(args)
        if args.command == "demo":
            return _demo(args)
    except PolyrankError as exc:
        print(f"polyrank: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("polyrank: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees one
