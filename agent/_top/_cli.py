"""The ``polyrank`` command line, on top of :mod:`polyrank.agent` and :mod:`polyrank.evals`
(``polyrank eval`` is :mod:`polyrank.evals._cli`; the options both use are
:mod:`polyrank.agent._options`).

The environment is read in one place, :class:`polyrank.agent._config.Settings`, built once per
command from the options (options win): ``POLYRANK_STORE``, ``POLYRANK_EMBEDDINGS``,
``POLYRANK_MODEL``, ``POLYRANK_TIMEOUT``, ``POLYRANK_CACHE``, ``OPENAI_BASE_URL``,
``OPENAI_API_KEY``.

Exit codes: 0 ok; 1 error (bad input, configuration, store); 2 usage; 3 the LLM failed and
the local ranker answered (``--allow-fallback`` makes that 0); 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from polyrank.agent._options import (
    EXIT_ERROR,
    EXIT_FALLBACK,
    EXIT_INTERRUPTED,
    EXIT_OK,
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
    from polyrank.agent._config import Settings
    from polyrank.retrieval import Candidate, Store

__all__ = ["main"]

#: Requests in 8 languages, by sample user (``agent/sample/users``), with a domain filter.
DEMO_REQUESTS: tuple[tuple[str, str, str | None], ...] = (
    ("Quiero aprender a programar", "ana", "books"),
    ("送给喜欢徒步的朋友的礼物", "wei", "products"),
    ("Ein spannender Krimi für den Urlaub", "lena", "books"),
    ("東京で食べたいラーメン", "kenji", None),
    ("un film romantique à Paris", "claire", "films"),
    ("хочу фильм о космосе", "olga", "films"),
    ("조용한 피아노 음악 추천해 주세요", "minjun", "music"),
    ("a gift for a friend who loves hiking", "john", "products"),
)
USER_HELP = "user profile: a YAML or JSON file, or a sample user's name (ana, kenji, lena...)"

PROGRESS_THRESHOLD = 200


def _prompts_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prompts",
        help="a folder with your own system.j2/rerank.j2 (+ .yaml) templates; rendered "
        "sandboxed, its versions recorded in every result",
    )


def price(value: str) -> tuple[float, str]:
    """argparse type: a finite amount of at least 0, in euros or with a currency code
    ("30", "30 CHF", "3000JPY")."""
    import math
    import re

    from polyrank.retrieval import RATES_TO_EUR

    match = re.fullmatch(r"\s*([0-9.,]+)\s*([A-Za-z]{3})?\s*", value)
    try:
        number = float(match[1].replace(",", ".")) if match else float("nan")
    except ValueError:
        number = float("nan")
    if match is None or not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value!r} is not an amount (e.g. 30 or '30 CHF')")
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    currency = (match[2] or "EUR").upper()
    if currency not in RATES_TO_EUR:
        known = ", ".join(sorted(RATES_TO_EUR))
        raise argparse.ArgumentTypeError(f"unknown currency {currency!r} (known: {known})")
    return number, currency


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        try:
            return check(value)
        except PolyrankError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _language(value: str) -> str:
    from polyrank.retrieval import language_code

    return language_code(value)


def _region(value: str) -> str:
    from polyrank.retrieval import region_code

    return region_code(value)


LANGUAGE = _checked(_language)
REGION = _checked(_region)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        help="store folder or chroma://HOST:PORT (env POLYRANK_STORE; default .polyrank/store)",
    )
    parser.add_argument(
        "--embeddings",
        help="embedding spec: fusion, e5-small, use-m3, openai:MODEL (env POLYRANK_EMBEDDINGS;"
        " default: the one the store was built with, else fusion). For a large catalogue"
        " or many requests at once, use-m3: it ingests about 9x faster than fusion (352"
        " against 37 items/s on 2 cores) and encodes a query in a twentieth of the CPU, at"
        " nearly its cross-lingual quality (MRR@10 0.908 against 0.919; python -m polyrank"
        ".evals.bench)",
    )


class _MovedOption(argparse.Action):
    """``search --language``: one meaning per option name (``recommend --language`` is the
    answer's language), so the filter is ``--only-language`` in both commands."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        parser.error(
            "--language: in search, filter by language with --only-language "
            "(--language is recommend's answer language)"
        )


def _filter_options(parser: argparse.ArgumentParser, *, language_flag: str) -> None:
    """The filters (:class:`polyrank.retrieval.Filters`), the same for search and recommend."""
    group = parser.add_argument_group("filters")
    group.add_argument("--domain", action="append", help="only this domain (repeatable)")
    group.add_argument(
        language_flag,
        dest="only_language",
        action="append",
        type=LANGUAGE,
        help="only items in this language (repeatable)",
    )
    group.add_argument(
        "--exclude-language",
        action="append",
        type=LANGUAGE,
        help="no items in this language (repeatable)",
    )
    group.add_argument(
        "--region", type=REGION, help="only items available in this region (e.g. DE)"
    )
    from polyrank.retrieval.support import RATES_AS_OF

    group.add_argument(
        "--max-price",
        type=price,
        metavar="AMOUNT",
        help="only items priced at most this: euros, or with a currency code ('30 CHF'); "
        f"converted with approximate rates of {RATES_AS_OF}",
    )
    group.add_argument("--exclude", action="append", help="leave out this item id (repeatable)")


def _filters(args: argparse.Namespace) -> Any:
    """The :class:`polyrank.retrieval.Filters` of the filter options (:func:`_filter_options`)."""
    from polyrank.retrieval import Filters, to_eur

    return Filters(
        domains=args.domain or (),
        languages=args.only_language or (),
        region=args.region,
        exclude_ids=args.exclude or (),
        exclude_languages=args.exclude_language or (),
        max_price_eur=to_eur(*args.max_price) if args.max_price else None,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polyrank",
        description="Multilingual recommendations: retrieve from a Chroma catalogue, rerank "
        "with an LLM or the local ranker, explain in the user's language.",
    )
    from polyrank.retrieval import __version__

    parser.add_argument("--version", action="version", version=f"polyrank {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser(
        "ingest",
        help="validate a JSONL catalogue and upsert it into the store",
        description="Validate every line of a JSONL catalogue, then upsert it. A bad file is "
        "rejected whole, listing each bad line, and nothing is created or written; unchanged "
        "items are not re-embedded. One writer at a time: a second ingest waits for the first.",
    )
    ingest.add_argument("file", nargs="?", help="catalogue file, one JSON item per line")
    ingest.add_argument(
        "--sync",
        action="store_true",
        help="also delete stored items that are no longer in the file (says how many); "
        "refused when that is every item or more than half of them",
    )
    ingest.add_argument(
        "--allow-delete-all",
        action="store_true",
        help="with --sync: delete even when that is every stored item or more than half",
    )
    ingest.add_argument(
        "--repair",
        action="store_true",
        help="rebuild the store's index from what it holds (after an interrupted or "
        "overlapping write, or 'Error finding id'); no file needed",
    )
    _common(ingest)

    delete = sub.add_parser(
        "delete",
        help="delete items from the store by id",
        description="Delete the items with these ids (all their data) from the store.",
    )
    delete.add_argument("ids", nargs="+", metavar="ID", help="item id")
    _common(delete)

    search = sub.add_parser(
        "search",
        help="multilingual search of the catalogue",
        description="Find the best catalogue items for QUERY, in any language. Items "
        "stored in several languages come back once, shown in the query's language.",
    )
    search.add_argument("query", help="the request, in any language")
    search.add_argument("--k", type=positive_int, default=10, help="how many results (default 10)")
    _filter_options(search, language_flag="--only-language")
    search.add_argument("--language", action=_MovedOption, help=argparse.SUPPRESS)
    search.add_argument("--json", action="store_true", help="print JSON (see README)")
    _common(search)

    rec = sub.add_parser(
        "recommend",
        help="recommend items for a request, explained in the user's language",
        description="Retrieve candidates, rerank them with the LLM (or the local ranker) for "
        "the user, and explain each choice in the request's language. If the LLM fails, the "
        "local ranker answers and the output says so.",
    )
    rec.add_argument("query", help="the request, in any language")
    rec.add_argument("--user", help=USER_HELP)
    rec.add_argument("--k", type=positive_int, default=5, help="how many items (default 5)")
    rec.add_argument(
        "--model",
        help="local or openai:MODEL (env POLYRANK_MODEL; base URL and key from "
        "OPENAI_BASE_URL / OPENAI_API_KEY)",
    )
    rec.add_argument(
        "--passes", type=positive_int, help="shuffled LLM passes merged against position bias"
    )
    rec.add_argument(
        "--language", type=LANGUAGE, help="answer in this language instead of detecting it"
    )
    _filter_options(rec, language_flag="--only-language")
    rec.add_argument("--json", action="store_true", help="print the result and trace as JSON")
    _prompts_option(rec)
    llm_options(rec)
    trace_option(rec)
    _common(rec)

    chat = sub.add_parser(
        "chat",
        help="chat with the recommender in any language (follow-ups refine the last answer)",
        description="An interactive session: type requests in any language, refine them "
        'with follow-ups ("more like 2", "cheaper", "only films", "not in Spanish")'
        ", and use /help for the commands. History is kept in .polyrank/chat_history.",
    )
    chat.add_argument("--user", help=USER_HELP)
    chat.add_argument(
        "--model",
        help="local or openai:MODEL (env POLYRANK_MODEL)",
    )
    chat.add_argument("--k", type=positive_int, default=5, help="items per answer (default 5)")
    _prompts_option(chat)
    llm_options(chat)
    _common(chat)

    probe = sub.add_parser(
        "probe",
        help="check a model before trusting it: validity, position following, reasons",
        description="Ask the model a few built-in requests in several languages, each shown "
        "in two shuffled orders, and report the structured-output mode the server took, its "
        "context size and slots, valid replies, whether the model picks items or positions, "
        "whether its reasons are in the request's language and its own words, tokens and "
        "latency per request, and a verdict: use it, use it for reasons only, or use the "
        f"local ranker. Exit 0 for 'use it', else {EXIT_FALLBACK}. The verdict is remembered "
        "for the model at this server: a model found not reading is not asked to rank "
        "(the local ranker answers, and the trace says why), and one fit for reasons only "
        "explains the local ranker's choices, until it is probed again.",
    )
    probe.add_argument(
        "--model", help="openai:MODEL (env POLYRANK_MODEL; server from OPENAI_BASE_URL)"
    )
    probe.add_argument("--json", action="store_true", help="print the report as JSON")
    probe.add_argument(
        "--forget", action="store_true", help="drop the remembered verdict instead of probing"
    )
    llm_options(probe)

    from polyrank.evals._cli import add_parser as add_eval_parser

    add_eval_parser(sub)

    demo = sub.add_parser(
        "demo",
        help="ingest the sample catalogue and recommend for sample users in 8 languages",
        description="Ingest the sample catalogue shipped with polyrank (466 items in 16 "
        "languages) into the store, then show recommendations for sample users with "
        "requests in 8 languages, each explained in the user's language. Works from any "
        "folder; the store goes to .polyrank/store there (or --store).",
    )
    demo.add_argument(
        "--catalog", help="catalogue to ingest instead of the sample (default: the sample)"
    )
    demo.add_argument("--k", type=positive_int, default=3, help="results per request (default 3)")
    demo.add_argument(
        "--model",
        help="local or openai:MODEL (env POLYRANK_MODEL)",
    )
    llm_options(demo)
    trace_option(demo)
    _common(demo)
    for command in sub.choices.values():
        verbosity_options(command)
    return parser


def _progress_lines() -> Callable[[int, int], None]:
    """Progress for a log (not a terminal): a line at each tenth of the way, with the rate."""
    started = time.perf_counter()
    shown = -1

    def update(done: int, todo: int) -> None:
        nonlocal shown
        tenth = done * 10 // max(1, todo)
        if tenth == shown:
            return
        shown = tenth
        seconds = time.perf_counter() - started
        rate = f", {done / seconds:.0f} items/s" if seconds > 0 and done else ""
        print(f"polyrank: embedded {done}/{todo} items{rate}", file=sys.stderr, flush=True)

    return update


def _progress_bar(total: int) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A bar on a terminal; lines on stderr otherwise (CI logs), for a large catalogue."""
    if total < PROGRESS_THRESHOLD:
        return None, lambda: None
    if not sys.stderr.isatty():
        return _progress_lines(), lambda: None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("embedding", total=None)
    bar.start()

    def update(done: int, todo: int) -> None:
        bar.update(task, completed=done, total=todo)

    return update, bar.stop


def _ingest_command(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if args.repair:
        if args.file or args.sync or args.allow_delete_all:
            raise SystemExit("polyrank ingest: error: --repair takes no file and no --sync")
        store = _open_store(settings)
        reembedded = store.repair()
        print(f"repaired {store.folder or settings.store}: {store.count()} items re-indexed, "
              f"{reembedded} embedded again")  # fmt: skip
        return EXIT_OK
    if not args.file:
        raise SystemExit("polyrank ingest: error: a catalogue file is needed (or --repair)")
    from polyrank.retrieval import load_catalog

    items = load_catalog(args.file)  # a rejected file creates nothing
    if args.allow_delete_all and not args.sync:
        raise SystemExit("polyrank ingest: error: --allow-delete-all needs --sync")
    _ingest(
        settings.open_store(create=True),
        args.file,
        items,
        sync=args.sync,
        allow_delete_all=args.allow_delete_all,
    )
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    store = _open_store(settings_of(args))
    deleted = store.delete(args.ids)
    unknown = [i for i in args.ids if i not in set(deleted)]
    print(f"deleted {len(deleted)} item(s)" + (f"; not in the store: {', '.join(unknown)}"
                                               if unknown else ""))  # fmt: skip
    return EXIT_OK if deleted or not unknown else EXIT_ERROR


def _open_store(settings: Settings) -> Store:
    """The existing store the settings name (never created here)."""
    from polyrank.agent.registry import check

    if settings.embeddings:
        check("embeddings", settings.embeddings)  # a typo is named before the store is opened
    store = settings.open_store(create=False)
    if store.read_only_copy is not None:
        print(
            f"note: the store {store.folder} is read-only; reading a temporary copy",
            file=sys.stderr,
        )
    return store


def _ingest(
    store: Store,
    path: str,
    items: Any = None,
    *,
    sync: bool = False,
    allow_delete_all: bool = False,
) -> None:
    from polyrank.retrieval import load_catalog

    items = load_catalog(path) if items is None else items
    update, stop = _progress_bar(len(items))
    try:
        report = store.ingest(items, progress=update, sync=sync, allow_delete_all=allow_delete_all)
    finally:
        stop()
    rate = report.embedded / report.seconds if report.seconds and report.embedded else 0.0
    print(
        f"ingested {report.total} items from {path}: {report.added} added, {report.updated} "
        f"updated, {report.unchanged} unchanged; embedded {report.embedded} with "
        f"{store.embedder.spec} in {report.seconds:.1f}s"
        + (f" ({rate:.0f} items/s)" if rate else "")
    )
    if report.deleted:
        print(f"deleted {report.deleted} item(s) no longer in {path}")
    if report.truncated:
        print(
            f"note: {report.truncated} long passage(s) were cut to the encoder's window "
            "(512 tokens) before embedding; the full text stays in the store",
            file=sys.stderr,
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

    from polyrank.agent._terminal import plain

    table = Table(title=plain(f"{query}  ({seconds * 1000:.0f} ms)"), title_justify="left")
    for column in ("#", "title", "lang", "domain", "score", "also in"):
        table.add_column(column)
    for rank, c in enumerate(results, start=1):
        others = sorted({v.language for v in c.variants} - {c.language})
        table.add_row(
            str(rank),
            plain(c.title),
            plain(c.language),
            plain(c.domain),
            f"{c.score:.3f}",
            plain(" ".join(others)),
        )
    Console(width=max(100, Console().width)).print(table)


def _search(args: argparse.Namespace) -> int:
    from polyrank.retrieval import detect_language

    agent = _make_agent(settings_of(args, model="local"))  # search needs no model
    started = time.perf_counter()
    results = agent.search(args.query, k=args.k, filters=_filters(args))
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
    return EXIT_OK


def _print_recommendation(rec: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from polyrank.agent._terminal import plain

    t = rec.trace
    ranker = t.ranker + (" (fallback: " + (t.fallback_reason or "") + ")" if t.fallback else "")
    title = plain(f"{rec.query}  [{t.request_language}, user {rec.user_id or '-'}]")
    if t.understood:  # under the request it was read from, not above it
        relaxed = f" (relaxed: {', '.join(t.relaxed)})" if t.relaxed else ""
        title.append("\n").append(plain(f"understood: {t.understood}{relaxed}"))
    table = Table(
        title=title,
        title_justify="left",
        caption=plain(
            f"ranker {ranker} · {t.latency_ms.get('total', 0):.0f} ms · "
            f"{t.usage.prompt_tokens + t.usage.completion_tokens} tokens · "
            + ("cost unknown" if t.cost is None else f"${t.cost:.6f}")
        ),
        caption_justify="left",
    )
    for column in ("#", "title", "lang", "domain", "price", "reason"):
        table.add_column(column, overflow="fold")
    for item in rec.items:
        table.add_row(
            str(item.rank),
            plain(item.title),
            plain(item.language),
            plain(item.domain),
            plain(item.price or ""),
            plain(item.reason),
        )
    console = Console(width=max(110, Console().width))
    console.print(table)


def _filled_store(settings: Settings) -> Store:
    """The existing, non-empty store the settings name (readers never create one)."""
    store = _open_store(settings)
    if store.count() == 0:
        from polyrank.agent.errors import ConfigError

        raise ConfigError(
            f"the store {settings.store or '.polyrank/store'} is empty",
            hint="ingest a catalogue first (polyrank ingest FILE), or run polyrank demo",
        )
    return store


def _make_agent(settings: Settings, store: Store | None = None) -> Any:
    """The agent of this command, on ``store`` or on the store the settings name."""
    return settings.agent(store if store is not None else _filled_store(settings))


def _fell_back(recs: Sequence[Any], args: argparse.Namespace) -> int:
    """A one-line warning per distinct LLM failure; the exit code that tells the truth."""
    reasons = list(dict.fromkeys(r.trace.fallback_reason for r in recs if r.trace.fallback))
    if not reasons:
        return EXIT_OK
    from polyrank.agent._terminal import clean

    for reason in reasons:
        print(
            f"polyrank: warning: the LLM failed ({clean(reason or '')}); the local ranker answered",
            file=sys.stderr,
        )
    return EXIT_OK if getattr(args, "allow_fallback", False) else EXIT_FALLBACK


def _waiting(agent: Any) -> contextlib.AbstractContextManager[Any]:
    """A spinner on a terminal while an LLM ranks (a slow model left it blank)."""
    if agent.llm is None or not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    from polyrank.agent._terminal import plain

    return Console(stderr=True).status(plain(f"asking {agent.model}…"))


def _recommend(args: argparse.Namespace) -> int:
    from polyrank.agent._profile import load_profile

    settings = settings_of(args)  # cheap checks first
    user = load_profile(args.user) if args.user else None
    trace = TraceFile(args.trace)
    try:
        agent = _make_agent(settings)
        with _waiting(agent):
            rec = agent.recommend(
                args.query,
                user,
                k=args.k,
                passes=args.passes,
                language=args.language,
                filters=_filters(args),
            )
        trace.write(rec)
    finally:
        trace.close()
    if args.json:
        print(json.dumps(rec.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_recommendation(rec)
    return _fell_back([rec], args)


def _chat(args: argparse.Namespace) -> int:
    from pathlib import Path

    from polyrank.agent._chat import ChatSession, run_repl
    from polyrank.agent._profile import load_profile

    settings = settings_of(args)
    user = load_profile(args.user) if args.user else None
    store = _filled_store(settings)
    session = ChatSession(
        make_agent=lambda model: _make_agent(settings.model_copy(update={"model": model}), store),
        model=settings.model,
        user=user,
        k=args.k,
    )
    session.agent  # noqa: B018 - build the model now, so a bad --model fails before the prompt
    return run_repl(session, Path(".polyrank") / "chat_history")


def _demo(args: argparse.Namespace) -> int:
    from polyrank.agent._sample import CATALOG, user
    from polyrank.retrieval import Filters, load_catalog

    settings = settings_of(args)
    catalog = args.catalog or str(CATALOG)
    TraceFile(args.trace).close()  # a trace file that cannot be written fails first
    items = load_catalog(catalog)  # a rejected file creates no store
    store = settings.open_store(create=True)
    where = store.folder or settings.store
    print(
        f"polyrank demo: ingesting {'the sample catalogue' if not args.catalog else catalog} "
        f"into {where} (the first run embeds every item: about a minute; later runs skip "
        "unchanged items)",
        file=sys.stderr,
    )
    _ingest(store, catalog, items)
    agent = _make_agent(settings, store)
    print(
        f"polyrank demo: {len(DEMO_REQUESTS)} requests in 8 languages, ranked by "
        f"{agent.model}, each explained in the request's language",
        file=sys.stderr,
    )
    recs = []
    trace = TraceFile(args.trace)
    try:
        for query, name, domain in DEMO_REQUESTS:
            filters = Filters(domains=(domain,) if domain else ())
            recs.append(agent.recommend(query, user(name), k=args.k, filters=filters))
            trace.write(recs[-1])
            _print_recommendation(recs[-1])
    finally:
        trace.close()
    store_option = f" --store {where}" if settings.store else ""
    print(
        "\nTry next:\n"
        f"  polyrank chat --user ana{store_option}          "
        "# chat in any language; follow-ups like 'more like 2', 'cheaper'\n"
        f"  polyrank recommend '东京的拉面' --user kenji{store_option}\n"
        f"  polyrank search 'regalo para un amante del café'{store_option}\n"
        "  polyrank recommend ... --model openai:MODEL   "
        "# with OPENAI_BASE_URL (any OpenAI-compatible server) or OPENAI_API_KEY"
    )
    return _fell_back(recs, args)


def run() -> NoReturn:
    """The ``polyrank`` command: :func:`main`, then exit without the interpreter's
    teardown, which spent 0.2 s of every call freeing chromadb's and the models' objects
    one by one. Exit handlers still run (atexit, weakref finalizers: a read-only store's
    temporary copy is removed) and output is flushed."""
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (module docstring)."""
    args = _parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        if args.command == "ingest":
            return _ingest_command(args)
        if args.command == "delete":
            return _delete(args)
        if args.command == "search":
            return _search(args)
        if args.command == "recommend":
            return _recommend(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "chat":
            return _chat(args)
        if args.command == "probe":
            from polyrank.agent._probe import run as run_probe

            return run_probe(args)
        if args.command == "eval":
            from polyrank.evals._cli import run as run_eval

            return run_eval(args)
    except PolyrankError as exc:
        from polyrank.agent._terminal import clean

        print(f"polyrank: error: {clean(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("polyrank: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees one
