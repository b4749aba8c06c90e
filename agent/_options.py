"""The building blocks of polyrank's command lines (``polyrank`` and ``polyrank eval``):
exit codes, ``-v``, ``--trace``, the LLM options and the run's settings from them.

Below both command lines (:mod:`polyrank._cli` composes them), so that neither imports
the other.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from polyrank.agent._llm import DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from polyrank.agent._config import Settings

__all__ = [
    "EXIT_ERROR",
    "EXIT_FALLBACK",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "LOG_FORMAT",
    "MAX_COUNT",
    "TraceFile",
    "configure_logging",
    "llm_options",
    "positive_int",
    "settings_of",
    "trace_option",
    "verbosity_options",
]

EXIT_OK, EXIT_ERROR, EXIT_FALLBACK, EXIT_INTERRUPTED = 0, 1, 3, 130
#: Log format of ``-v``: every line says it is polyrank's and which part spoke.
LOG_FORMAT = "polyrank: %(levelname)s %(name)s: %(message)s"


def verbosity_options(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose`` (repeatable) on every command."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log to stderr what polyrank does: -v steps, repairs and fallbacks; -vv every "
        "LLM call (tokens, latency) too",
    )


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (tests replace it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(verbosity: int) -> None:
    """Send the ``polyrank`` loggers to stderr at INFO (``-v``) or DEBUG (``-vv``); without
    ``-v`` they stay as the application set them (quiet by default)."""
    root = logging.getLogger("polyrank")
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)  # one command, one setting (main runs many in tests)
        root.setLevel(logging.NOTSET)
    if verbosity > 0:
        root.addHandler(_StderrHandler())
        root.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


def trace_option(parser: argparse.ArgumentParser) -> None:
    """``--trace FILE`` for commands that may call an LLM."""
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help="write one JSON line per request to FILE: its trace and every LLM call "
        "(messages with the system prompt, raw reply, tokens, latency, repairs)",
    )


class TraceFile:
    """``--trace FILE``: one JSON line per request, flushed after each."""

    def __init__(self, path: str | None) -> None:
        """Open ``path`` now, so a folder that is not there fails before any work."""
        self._handle: Any = None
        if path is not None:
            try:
                self._handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - close()
            except OSError as exc:
                from polyrank.agent.errors import ConfigError

                raise ConfigError(f"--trace {path}: cannot write: {exc.strerror}") from None

    def write(self, rec: Any, **where: Any) -> None:
        if self._handle is None:
            return
        line = {
            **where,
            "query": rec.query,
            "user": rec.user_id,
            "items": [i.id for i in rec.items],
            "trace": rec.trace.model_dump(mode="json"),
        }
        self._handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def llm_options(parser: argparse.ArgumentParser) -> None:
    """``--timeout``, ``--max-tokens`` and ``--allow-fallback`` for commands that may call
    an LLM."""
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds one request may spend on the LLM, retries and re-asks included; then "
        f"the local ranker answers (env POLYRANK_TIMEOUT; default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        help="answer budget of one LLM call in tokens (default: sized from k and the reason limit)",
    )
    parser.add_argument(
        "--context",
        type=int,
        help="the model server's context size in tokens when it does not say (llama.cpp "
        "and Ollama do); prompt and answer are budgeted within it (default 8192)",
    )
    parser.add_argument(
        "--allow-fallback",
        action="store_true",
        help=f"exit 0 when the LLM fails and the local ranker answers (default: a warning "
        f"on stderr and exit {EXIT_FALLBACK})",
    )


def settings_of(args: argparse.Namespace, **given: Any) -> Settings:
    """The run's settings: these options, then the environment (checked, nothing loaded)."""
    from polyrank.agent._config import Settings

    for name in ("model", "store", "embeddings", "timeout", "max_tokens", "prompts", "context"):
        given.setdefault(name, getattr(args, name, None))
    return Settings.load(**given)


#: Largest count an option takes (--k, --passes, --repeat, --concurrency): beyond it a
#: number is a typo (--k 99999999999999999999 was reported as a damaged store).
MAX_COUNT = 10_000


def positive_int(value: str) -> int:
    """argparse type: a whole number from 1 to :data:`MAX_COUNT`."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    if number > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_COUNT}, got {value[:40]}")
    return number
