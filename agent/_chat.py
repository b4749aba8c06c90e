"""``polyrank chat``: a conversation with the recommender, in any language.

:class:`ChatSession` holds the conversation and answers one line at a time (testable without
a terminal); :func:`run_repl` puts it behind prompt_toolkit (history, multi-line editing,
Ctrl-C cancels, Ctrl-D leaves) and rich tables.
"""

from __future__ import annotations

import difflib
import re
import statistics
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from polyrank.agent._agent import Agent
from polyrank.agent._followup import (
    FollowUp,
    followup_languages,
    interpret,
    interpret_with_llm,
    looks_like_follow_up,
    notes,
)
from polyrank.agent._money import amount, format_money, price_text
from polyrank.agent._profile import UserProfile, load_profile, locale_hints
from polyrank.agent._ranking import Ranking
from polyrank.agent._result import RankedItem, Recommendation
from polyrank.agent.errors import ConfigError, PolyrankError
from polyrank.retrieval import Filters, to_eur

__all__ = ["ChatSession", "Event", "Request", "run_repl"]

HELP = """Type a request in any language. Follow-ups refine the last answer:
  "more like 2", "exclude 3", "not this one", "cheaper", "something else", "only films",
  "not in Spanish" (in {languages}; with an LLM, in any wording).
Commands:
  /help            this help
  /user FILE       switch user profile            /lang CODE|auto  answer in this language
  /k N             items per answer               /model SPEC      local or openai:MODEL
  /why N           why item N: scores, what the model saw, repairs
  /prompt          the last prompt sent to the model
  /more            more results for the last request
  /reset           forget the conversation        /exit            leave (or Ctrl-D)
Alt-Enter (or Esc, Enter) inserts a new line; Ctrl-C cancels a running request."""


@dataclass(frozen=True)
class Request:
    """The request as it stands after the follow-ups so far."""

    query: str
    filters: Filters = field(default_factory=Filters)
    like: str | None = None  # an item id: "more like this"


@dataclass(frozen=True)
class Event:
    """One thing to show: ``text``, ``error``, ``answer`` (with ``recommendation``), ``exit``."""

    kind: str
    text: str = ""
    recommendation: Recommendation | None = None


@dataclass
class ChatSession:
    """Conversation state and the answer to each line."""

    make_agent: Callable[[str], Agent]
    model: str = "local"
    user: UserProfile | None = None
    k: int = 5
    language: str | None = None
    request: Request | None = None
    last: Recommendation | None = None
    shown: list[str] = field(default_factory=list)
    #: How the model read the last follow-up (cost, prompt, or why it could not).
    followup: Ranking | None = None
    _agent: Agent | None = None
    _epoch: int = 0  # bumped by cancel(): answers of cancelled requests are dropped
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        """Drop the answer of the request running now (Ctrl-C)."""
        with self._lock:
            self._epoch += 1

    @property
    def agent(self) -> Agent:
        if self._agent is None:
            self._agent = self.make_agent(self.model)
        return self._agent

    # -- one line -------------------------------------------------------------------
    def handle(self, line: str) -> list[Event]:
        """Answer one line. Never raises for a bad command or a failing backend."""
        text = line.strip()
        if not text:
            return []
        try:
            if text.startswith("/"):
                return self._command(text)
            return self._message(text)
        except PolyrankError as exc:
            return [Event("error", str(exc).splitlines()[0])]
        except Exception as exc:  # the session survives anything; the message says what
            return [Event("error", f"{type(exc).__name__}: {exc}")]

    def _message(self, text: str) -> list[Event]:
        if self.request is None or self.last is None:
            return self._run(Request(query=text), None)
        follow = self._interpret(text)
        if follow is None:  # looks like a follow-up, and nothing read it: say so
            note = notes(self.session_language)["not_understood"].format(text=text)
            return [Event("text", note)]
        if follow.kind == "new":
            self.shown = []
            return self._run(Request(query=follow.query or text), None)
        return self._run(self._apply(follow), follow)

    @property
    def session_language(self) -> str:
        """The language the chat speaks: ``/lang``, else that of the last answer."""
        return self.language or (self.last.trace.request_language if self.last else "en")

    def _interpret(self, text: str) -> FollowUp | None:
        """The message as a follow-up (``kind="new"``: a new request), or ``None`` when it
        looks like a follow-up that neither the model nor the phrase tables understood
        (:func:`~agent._followup.looks_like_follow_up`)."""
        self.followup = None
        language = self.last.trace.request_language if self.last else None
        agent = self.agent
        template = agent.prompts.get("followup")
        llm = agent.llm_ranker
        if llm is not None and template is not None and self.request and self.last:
            found, self.followup = interpret_with_llm(
                llm,
                text,
                last_query=self.request.query,
                last_titles=[i.title for i in self.last.items],
                language=language or "",
                template=template,
            )
            if found is not None:
                return found  # the model's reading, "new" included, stands
        found = interpret(text, language)
        shown = len(self.last.items) if self.last else 0
        if found.kind == "new" and looks_like_follow_up(text, shown=shown):
            return None
        return found

    def _item(self, rank: int) -> Any:
        if self.last is None or not 1 <= rank <= len(self.last.items):
            count = len(self.last.items) if self.last else 0
            raise ConfigError(f"there is no item {rank} (the last answer has {count})")
        return self.last.items[rank - 1]

    def _apply(self, follow: FollowUp) -> Request:
        assert self.request is not None and self.last is not None
        request = self.request
        filters = request.filters
        excluded = list(filters.exclude_ids)
        if follow.query and follow.query != request.query:
            # Another request: what was shown or excluded for the last one no longer applies.
            request = replace(request, query=follow.query, like=None)
            excluded, self.shown = [], []
        if follow.more_like:
            request = replace(request, like=self._item(follow.more_like).id)
            excluded += self.shown
        for rank in follow.exclude_ranks:
            excluded.append(self._item(rank).id)
        if follow.something_else:
            excluded += self.shown
        if follow.cheaper:
            prices = [
                p
                for i in self.last.items
                if (p := to_eur(i.attributes.get("price"), i.attributes.get("currency")))
            ]
            if not prices:
                raise ConfigError("the last answer has no prices to undercut")
            filters = filters.model_copy(update={"max_price_eur": statistics.median(prices) * 0.99})
        if follow.only_domains and tuple(follow.only_domains) != filters.domains:
            # Another domain: "more like #N" and a price ceiling from the old one no longer fit.
            request = replace(request, like=None)
            filters = filters.model_copy(
                update={"domains": tuple(follow.only_domains), "max_price_eur": None}
            )
        if follow.only_languages:
            filters = filters.model_copy(update={"languages": tuple(follow.only_languages)})
        if follow.exclude_languages:
            merged = dict.fromkeys([*filters.exclude_languages, *follow.exclude_languages])
            filters = filters.model_copy(update={"exclude_languages": tuple(merged)})
        filters = filters.model_copy(update={"exclude_ids": tuple(dict.fromkeys(excluded))})
        return replace(request, filters=filters)

    def _run(self, request: Request, follow: FollowUp | None) -> list[Event]:
        epoch = self._epoch
        rec = self.agent.recommend(
            request.query,
            self.user,
            self.k,
            language=self.language,
            filters=request.filters,
            like=request.like,
        )
        with self._lock:
            if epoch != self._epoch:
                return []  # cancelled while it ran
            self.request, self.last = request, rec
            self.shown = list(dict.fromkeys([*self.shown, *(i.id for i in rec.items)]))
        language = rec.trace.request_language
        note = follow.describe(language) if follow is not None else ""
        if not rec.items:
            left = notes(language)["nothing_left"].format(what=note or request.query)
            return [Event("text", left)]
        return [Event("answer", note, rec)]

    # -- slash commands, all in one place ----------------------------------------------
    def _command(self, text: str) -> list[Event]:
        name, _, arg = text[1:].partition(" ")
        arg = arg.strip()
        commands: dict[str, Callable[[str], list[Event]]] = {
            "help": self._cmd_help,
            "user": self._cmd_user,
            "lang": self._cmd_lang,
            "k": self._cmd_k,
            "model": self._cmd_model,
            "why": self._cmd_why,
            "prompt": self._cmd_prompt,
            "more": self._cmd_more,
            "reset": self._cmd_reset,
            "exit": lambda a: [Event("exit")],
            "quit": lambda a: [Event("exit")],
        }
        handler = commands.get(name.lower())
        if handler is None:
            close = difflib.get_close_matches(name.lower(), commands, n=1)
            hint = f"; did you mean /{close[0]}?" if close else "; /help lists the commands"
            return [Event("error", f"unknown command /{name}{hint}")]
        return handler(arg)

    def _cmd_help(self, arg: str) -> list[Event]:
        return [Event("text", HELP.format(languages=" ".join(followup_languages())))]

    def _cmd_user(self, arg: str) -> list[Event]:
        if not arg:
            return [Event("error", "usage: /user FILE")]
        self.user = load_profile(Path(arg).expanduser())
        self._cmd_reset("")
        langs = ", ".join(self.user.languages)
        return [Event("text", f"user {self.user.id} ({self.user.locale}; reads {langs})")]

    def _cmd_lang(self, arg: str) -> list[Event]:
        if arg.lower() == "auto":
            self.language = None
            return [Event("text", "language: detected from each request")]
        if len(arg) != 2 or not arg.isalpha():
            return [Event("error", "usage: /lang CODE (ISO 639-1, e.g. es) or /lang auto")]
        self.language = arg.lower()
        return [Event("text", f"language: {self.language}")]

    def _cmd_k(self, arg: str) -> list[Event]:
        if not arg.isdigit() or not 1 <= int(arg) <= 50:
            return [Event("error", "usage: /k N (1 to 50)")]
        self.k = int(arg)
        return [Event("text", f"{self.k} items per answer")]

    def _cmd_model(self, arg: str) -> list[Event]:
        if not arg:
            return [Event("text", f"model: {self.model}")]
        agent = self.make_agent(arg)  # raises ConfigError for a bad spec: the old one stays
        self.model, self._agent = arg, agent
        return [Event("text", f"model: {agent.model}")]

    def _cmd_why(self, arg: str) -> list[Event]:
        if not arg.isdigit():
            return [Event("error", "usage: /why N")]
        item = self._item(int(arg))
        assert self.last is not None
        trace = self.last.trace
        lines = [
            f"#{item.rank} {item.title} [{item.language}, {item.domain}]",
            f"  retrieval score {item.retrieval_score:.3f} · final score {item.score:.3f}",
            f"  ranker {trace.ranker}"
            + (f" (fallback: {trace.fallback_reason})" if trace.fallback else ""),
            f"  reason: {item.reason}",
        ]
        if trace.understood:
            lines.append(f"  understood: {trace.understood}")
        if trace.last_prompt:
            seen = [ln for ln in trace.last_prompt.splitlines() if item.title in ln]
            lines.append(f"  the model saw: {seen[0] if seen else '(not in the last window)'}")
        repairs = ", ".join(f"{k} {v}" for k, v in trace.repairs.items()) or "none"
        lines.append(
            f"  repairs: {repairs}; re-asks {trace.usage.reasks}; "
            f"transport retries {trace.usage.transport_retries}"
        )
        read = self.followup
        if read is not None:
            usage = read.usage
            lines.append(
                f"  the follow-up was read by {read.ranker}: "
                + (
                    f"failed ({read.failure.splitlines()[0]}), the phrase table answered"
                    if read.failure
                    else f"{usage.llm_calls} call(s), {usage.cached_calls} cached, "
                    f"{usage.prompt_tokens + usage.completion_tokens} tokens, "
                    f"re-asks {usage.reasks}"
                )
            )
        return [Event("text", "\n".join(lines))]

    def _cmd_prompt(self, arg: str) -> list[Event]:
        if self.last is None:
            return [Event("error", "no request yet")]
        if not self.last.trace.last_prompt:
            return [Event("text", "the local ranker answered; no prompt was rendered")]
        return [Event("text", self.last.trace.last_prompt)]

    def _cmd_more(self, arg: str) -> list[Event]:
        if self.request is None:
            return [Event("error", "no request yet")]
        follow = FollowUp(something_else=True)  # /more is "something else" for the same ask
        return self._run(self._apply(follow), follow)

    def _cmd_reset(self, arg: str) -> list[Event]:
        self.request, self.last, self.shown = None, None, []
        return [Event("text", "conversation reset")]


# -- the terminal -----------------------------------------------------------------------
def _price(item: RankedItem, language: str, home: str | None, locale: str | None) -> str:
    """The item's price as the Agent wrote it (:attr:`RankedItem.price`); for an item it
    did not fill, the same format (:func:`~agent._money.price_text`: the user's currency,
    "≈" when converted)."""
    if item.price is not None:
        return item.price
    return price_text(item.attributes, language, currency=home, locale=locale) or ""


def _reason(item: RankedItem, language: str, price: str) -> str:
    """The reason without the price the price column already shows: a list part of the
    reason that is the price ("book, 28,99 €"), in the column's format or in the item's own
    currency, is left out; one that sets it against the ceiling ("≈ 8 € (≤ 15 €)") keeps
    the ceiling ("≤ 15 €"). A price inside a sentence stays."""
    reason = item.reason
    found = amount(item.attributes)
    forms = {price, format_money(*found, language)} if found else {price}
    for form in sorted((f for f in forms if f), key=lambda f: (-len(f), f)):
        part = rf"(\s*[,·]\s*){re.escape(form)}(?:\s*\(([^()]*)\))?(?=\s*(?:[,·]|$))"
        reason = re.sub(part, lambda m: f"{m[1]}{m[2]}" if m[2] else "", reason)
    return reason


def render(
    console: Any, event: Event, home_currency: str | None = None, locale: str | None = None
) -> None:
    """Print one event. ``home_currency`` and ``locale``: the user's, for prices."""
    from rich.table import Table
    from rich.text import Text

    from polyrank.agent._terminal import plain

    if event.kind == "error":
        console.print(Text.assemble(("error: ", "red"), plain(event.text)), highlight=False)
    elif event.kind == "text":
        console.print(plain(event.text), highlight=False)
    elif event.kind == "answer" and event.recommendation is not None:
        rec = event.recommendation
        language = rec.trace.request_language
        table = Table(
            show_lines=False,
            expand=False,
            title=plain(event.text) if event.text else None,
            title_justify="left",
        )
        for column in ("#", "title", "lang", "domain", "price", "reason"):
            table.add_column(column, overflow="fold")
        for item in rec.items:
            price = _price(item, language, home_currency, locale)
            table.add_row(
                str(item.rank),
                plain(item.title),
                plain(item.language),
                plain(item.domain),
                plain(price),
                plain(_reason(item, language, price)),
            )
        console.print(table)
        t = rec.trace
        ranker = t.ranker + (" (fallback)" if t.fallback else "")
        console.print(
            plain(
                f"ranker {ranker} · {t.latency_ms.get('total', 0):.0f} ms · "
                f"{t.usage.prompt_tokens + t.usage.completion_tokens} tokens · "
                f"{t.request_language}",
                style="dim",
            ),
            highlight=False,
        )


def _linked(path: Path) -> bool:
    """Whether ``path`` or its folder is a symbolic link."""
    return path.is_symlink() or path.parent.is_symlink()


def run_repl(session: ChatSession, history_file: Path) -> int:
    """The interactive loop. Returns the exit code."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings
    from rich.console import Console
    from rich.text import Text

    from polyrank.agent._terminal import plain

    console = Console()
    history: History
    if _linked(history_file):  # planted links were written through
        console.print(
            plain(f"note: {history_file} is a symbolic link; this session's history is not saved"),
            highlight=False,
        )
        history = InMemoryHistory()
    else:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        history = FileHistory(str(history_file))
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    prompt: PromptSession[str] = PromptSession(
        history=history, key_bindings=bindings, multiline=False
    )
    who = f" · user {session.user.id}" if session.user else ""
    banner = f" · model {session.model}{who} · /help for commands, Ctrl-D to leave"
    # The profile id and model are text, not markup (an id "[/bold]" crashed chat).
    console.print(Text.assemble(("polyrank chat", "bold"), plain(banner)), highlight=False)
    pool = ThreadPoolExecutor(max_workers=4)  # a cancelled request may still be finishing
    try:
        while True:
            try:
                line = prompt.prompt("› ")
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line
            except EOFError:
                break
            future = pool.submit(session.handle, line)
            try:
                with console.status("thinking…", spinner="dots"):
                    events = future.result()
            except KeyboardInterrupt:
                session.cancel()
                console.print("[yellow]cancelled[/yellow]")
                continue
            if any(e.kind == "exit" for e in events):
                break
            user = session.user
            currency = user and locale_hints(user.locale, user.languages[0]).currency
            for event in events:
                render(console, event, currency or None, user.locale if user else None)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    console.print("bye")
    return 0
