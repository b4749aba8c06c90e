"""The chat: session logic (unit) and the real REPL in a real terminal (pexpect + pyte)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pexpect
import pyte
import pytest

from polyrank.agent import Agent, ConfigError
from polyrank.agent._chat import ChatSession
from polyrank.agent._followup import notes
from polyrank.agent._money import format_money, price_text
from polyrank.agent._profile import load_profile
from polyrank.agent._result import RankedItem, Recommendation, Trace
from polyrank.agent.testing import FunctionModel, prompt_candidates
from polyrank.retrieval import Store, to_eur
from tests.conftest import ROOT

USERS = ROOT / "data" / "users"


def session_for(store: Store, user: str | None = "ana", **kwargs: Any) -> ChatSession:
    def make(model: str) -> Agent:
        return Agent(store=store, model=model)

    profile = load_profile(USERS / f"{user}.yaml") if user else None
    return ChatSession(make_agent=make, user=profile, **kwargs)


def answer(events: list[Any]) -> Any:
    kinds = [e.kind for e in events]
    assert kinds == ["answer"], [(e.kind, e.text) for e in events]
    return events[0].recommendation


def test_follow_ups_refine_the_last_answer(use_store: Store) -> None:
    chat = session_for(use_store)
    first = answer(chat.handle("Quiero aprender a programar"))
    assert first.trace.request_language == "es"

    similar = answer(chat.handle("más como el 2"))
    anchor = first.items[1]
    assert {i.id for i in similar.items}.isdisjoint({i.id for i in first.items})
    assert {i.domain for i in similar.items} == {anchor.domain}
    assert any(anchor.title in i.reason for i in similar.items)  # "parecido a «…»"

    no_english = answer(chat.handle("que no estén en inglés"))
    assert "en" not in {i.language for i in no_english.items}

    before = [
        to_eur(i.attributes.get("price"), i.attributes.get("currency")) for i in no_english.items
    ]
    cheaper = answer(chat.handle("más baratos"))
    ceiling = sorted(p for p in before if p)[len([p for p in before if p]) // 2]
    for item in cheaper.items:
        price = to_eur(item.attributes.get("price"), item.attributes.get("currency"))
        assert price is not None and price <= ceiling

    films = answer(chat.handle("solo películas"))
    assert {i.domain for i in films.items} == {"films"}


def test_exclude_and_something_else(use_store: Store) -> None:
    chat = session_for(use_store, user="john")
    first = answer(chat.handle("hiking gear"))
    dropped = first.items[2]
    second = answer(chat.handle("exclude 3"))
    assert dropped.group not in {i.group for i in second.items}
    third = answer(chat.handle("something else"))
    shown = {i.id for i in first.items} | {i.id for i in second.items}
    assert shown.isdisjoint({i.id for i in third.items})


def test_a_new_request_starts_over(use_store: Store) -> None:
    chat = session_for(use_store)
    answer(chat.handle("solo películas"))  # no previous answer: a plain request
    answer(chat.handle("cheaper"))
    fresh = answer(chat.handle("東京で食べたいラーメン"))
    assert fresh.trace.request_language == "ja"
    assert chat.request is not None and chat.request.filters.max_price_eur is None


def test_italian_follow_ups_refine_the_last_request(use_store: Store) -> None:
    """Was: "più economico" was not in any phrase table and ran as a new request."""
    chat = session_for(use_store, user=None)
    first = answer(chat.handle("Vorrei un giallo da leggere"))
    assert first.trace.request_language == "it"
    events = chat.handle("più economico")
    answer(events)
    assert events[0].text == "più economico"  # the note, in the session's language
    assert chat.request is not None and chat.request.query == "Vorrei un giallo da leggere"
    assert chat.request.filters.max_price_eur is not None
    answer(chat.handle("togli il terzo"))
    assert len(chat.request.filters.exclude_ids) == 1


def test_more_like_gives_each_item_its_own_reason(use_store: Store) -> None:
    """Was: five items, one reason ("similar to “…”, as you asked · product")."""
    chat = session_for(use_store, user="john")
    first = answer(chat.handle("hiking gear"))
    similar = answer(chat.handle("more like 3"))
    reasons = [i.reason for i in similar.items]
    assert len(reasons) > 1 and len(set(reasons)) == len(reasons), reasons
    assert all(first.items[2].title in r for r in reasons)  # each still says what it is like


@pytest.mark.parametrize(
    ("request_text", "line", "language"),
    [
        ("Quiero aprender a programar", "levnější", "es"),  # Czech: no phrase table
        ("hiking gear", "#2", "en"),
        ("hiking gear", "more expensive", "en"),  # a change the chat cannot make
        ("東京で食べたいラーメン", "三番目", "ja"),
    ],
)
def test_a_follow_up_that_is_not_understood_is_said_so(
    use_store: Store, request_text: str, line: str, language: str
) -> None:
    chat = session_for(use_store, user=None)
    first = answer(chat.handle(request_text))
    before = chat.request
    events = chat.handle(line)
    assert [e.kind for e in events] == ["text"]
    assert events[0].text == notes(language)["not_understood"].format(text=line)
    assert chat.request is before and chat.last is first  # nothing ran
    answer(chat.handle("un film romantique à Paris"))  # a real new request still runs
    assert chat.request is not None and chat.request.query == "un film romantique à Paris"


def test_slash_commands(use_store: Store, tmp_path: Path) -> None:
    chat = session_for(use_store, user=None)
    help_text = chat.handle("/help")[0].text
    assert "/why N" in help_text
    tables = "(in ar de el en es fr hi id it ja ko nl pl pt ru sv th tr vi zh;"  # phrase tables
    assert tables in help_text
    assert chat.handle("/k 3")[0].text == "3 items per answer"
    assert len(answer(chat.handle("ramen")).items) == 3
    assert chat.handle("/lang de")[0].text == "language: de"
    assert answer(chat.handle("ramen")).trace.request_language == "de"
    why = chat.handle("/why 1")[0].text
    assert "retrieval score" in why and "repairs: none" in why
    assert "no prompt was rendered" in chat.handle("/prompt")[0].text
    more = answer(chat.handle("/more"))
    assert chat.last is more
    assert chat.handle("/user " + str(USERS / "kenji.yaml"))[0].text.startswith("user kenji")
    assert chat.request is None  # a new user starts a new conversation
    assert chat.handle("/reset")[0].text == "conversation reset"
    assert chat.handle("/exit")[0].kind == "exit"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/bogus", "unknown command /bogus"),
        ("/hepl", "did you mean /help?"),
        ("/k zero", "usage: /k N"),
        ("/why 1", "there is no item 1"),
        ("/user /no/such/file.yaml", "no such profile file"),
        ("/model opneai:x", "did you mean 'openai'"),
        ("/lang spanish", "usage: /lang CODE"),
    ],
)
def test_errors_are_one_line_and_the_session_goes_on(
    use_store: Store, line: str, message: str
) -> None:
    chat = session_for(use_store, user=None)
    events = chat.handle(line)
    assert [e.kind for e in events] == ["error"] and message in events[0].text
    assert "\n" not in events[0].text
    assert answer(chat.handle("ramen"))  # still alive


def test_failing_backend_keeps_the_session(use_store: Store) -> None:
    def broken(model: str) -> Agent:
        raise ConfigError("the model server is down")

    chat = ChatSession(make_agent=broken)
    assert chat.handle("ramen")[0].kind == "error"
    assert chat.handle("/help")[0].kind == "text"


def test_llm_interprets_follow_ups_into_structured_changes(use_store: Store) -> None:
    def model(messages: Any, schema: Any) -> str:
        text = messages[-1]["content"]
        if "Turn their message into JSON" in text:
            assert "Last answer, by rank:" in text and "1. " in text
            return json.dumps({"kind": "refine", "only_domains": ["books"], "cheaper": False})
        keys = [key for key, _ in prompt_candidates(messages)]
        return json.dumps(
            {"ranking": [{"id": k, "reason": "Muy buena opción para empezar."} for k in keys]}
        )

    fake = FunctionModel(model)
    chat = ChatSession(make_agent=lambda spec: Agent(store=use_store, model=fake))
    answer(chat.handle("quiero aprender algo nuevo"))
    refined = answer(chat.handle("mejor algo para leer, por favor"))  # no phrase rule matches
    assert {i.domain for i in refined.items} == {"books"}
    assert refined.trace.ranker == "function"


def test_a_follow_up_reply_is_re_asked_cached_and_shown_like_a_ranking(
    use_store: Store, tmp_path: Path
) -> None:
    """Was: the follow-up called the model once and `except Exception: return None` — no
    re-ask, no cache, no record. Now it takes the LLM ranker's loop (agent._reply's parser)."""
    good = json.dumps({"kind": "refine", "only_domains": ["books"]})
    follow_replies = iter(['{"kind": "refine", "only_domains": "books"}', good, good])
    follow_calls: list[Any] = []

    def model(messages: Any, schema: Any) -> str:
        if "Turn their message into JSON" in messages[0]["content"]:
            follow_calls.append(schema)
            return next(follow_replies)
        keys = [key for key, _ in prompt_candidates(messages)]
        return json.dumps({"ranking": [{"id": k, "reason": "Muy buena opción."} for k in keys]})

    fake = FunctionModel(model)
    chat = ChatSession(
        make_agent=lambda spec: Agent(store=use_store, model=fake, cache=tmp_path / "c")
    )
    answer(chat.handle("quiero aprender algo nuevo"))
    refined = answer(chat.handle("mejor algo para leer, por favor"))
    assert {i.domain for i in refined.items} == {"books"}
    assert len(follow_calls) == 2  # the first reply was re-asked with the error quoted
    assert follow_calls[0]["properties"]["only_domains"]["type"] == "array"  # from FollowUp
    why = chat.handle("/why 1")[0].text
    assert "the follow-up was read by function: 2 call(s), 0 cached" in why and "re-asks 1" in why
    for calls in (3, 3):  # a bad reply is never cached: asked once more, then cached
        chat.handle("/reset")
        answer(chat.handle("quiero aprender algo nuevo"))
        answer(chat.handle("mejor algo para leer, por favor"))
        assert len(follow_calls) == calls
    assert "0 call(s), 1 cached" in chat.handle("/why 1")[0].text


def test_notes_speak_the_sessions_language_and_a_new_request_drops_exclusions(
    use_store: Store,
) -> None:
    """Was: notes in English whatever the session ("cheaper; only film"), and a follow-up
    that changed the request kept the old request's excluded items."""
    readings = iter([
        {"kind": "refine", "exclude_ranks": [1], "only_domains": ["films"]},
        {"kind": "refine", "query": "una novela policíaca"},
    ])  # fmt: skip

    def model(messages: Any, schema: Any) -> str:
        if "Turn their message into JSON" in messages[0]["content"]:
            return json.dumps(next(readings))
        keys = [key for key, _ in prompt_candidates(messages)]
        return json.dumps({"ranking": [{"id": k, "reason": "Muy buena opción."} for k in keys]})

    fake = FunctionModel(model)
    chat = ChatSession(make_agent=lambda spec: Agent(store=use_store, model=fake))
    first = answer(chat.handle("quiero ver algo esta noche"))
    events = chat.handle("quita el primero, y solo pelis")
    assert events[0].text == "sin #1; solo película"
    assert chat.request is not None and first.items[0].id in chat.request.filters.exclude_ids
    answer(chat.handle("mejor una novela policíaca"))
    assert chat.request.query == "una novela policíaca"
    assert chat.request.filters.exclude_ids == ()  # the last request's exclusions are gone
    assert chat.request.filters.domains == ("films",)  # a stated filter stays
    local = session_for(use_store)  # the phrase table: the same notes, no LLM
    answer(local.handle("東京で食べたいラーメン"))
    assert local.handle("もっと安く")[0].text == "もっと安く"


def test_ctrl_c_drops_the_answer_of_a_cancelled_request(use_store: Store) -> None:
    started = threading.Event()

    def slow(messages: Any, schema: Any) -> str:
        started.set()
        time.sleep(1.0)
        keys = [key for key, _ in prompt_candidates(messages)]
        return json.dumps({"ranking": [{"id": k, "reason": "ok"} for k in keys]})

    chat = ChatSession(make_agent=lambda spec: Agent(store=use_store, model=FunctionModel(slow)))
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(chat.handle("ramen")))
    worker.start()
    started.wait(10)
    chat.cancel()
    worker.join(10)
    assert result == [[]] and chat.last is None


class Terminal:
    """A real pseudo-terminal running `polyrank chat`, read through a terminal emulator."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.screen = pyte.Screen(160, 60)
        self.stream = pyte.Stream(self.screen)
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "polyrank", "chat", *args],
            cwd=str(cwd),
            dimensions=(60, 160),
            encoding="utf-8",
            timeout=90,
            use_poll=True,  # select() fails once the test process holds 1,024 descriptors
            env={
                "TERM": "xterm-256color",
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": str(ROOT),
                "HOME": str(cwd),
                # pexpect cannot answer cursor-position requests
                "PROMPT_TOOLKIT_NO_CPR": "1",
                **(env or {}),
            },
        )
        self.log: list[str] = []

    def _pump(self, pattern: str) -> None:
        self.child.expect(pattern)
        chunk = (self.child.before or "") + (self.child.after or "")
        self.log.append(chunk)
        self.stream.feed(chunk)

    def send(self, line: str, until: str = "ranker ") -> str:
        self.child.send(line + "\r")
        self._pump(until)
        self._pump("›")
        return self.text()

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)


@pytest.mark.slow
def test_real_terminal_conversation_in_spanish_and_japanese(
    use_store_path: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    import shutil

    shutil.copytree(use_store_path, store)
    term = Terminal(["--user", str(USERS / "ana.yaml"), "--store", str(store)], tmp_path)
    term._pump("›")
    assert "polyrank chat · model local · user ana" in term.text()

    screen = term.send("Quiero aprender a programar")
    assert "Python desde cero" in screen and "ranker local" in screen
    assert "libro, de 2022" in screen  # reasons in Spanish

    screen = term.send("más baratos")
    assert "más barato" in screen and "€" in screen  # the note in the session's language

    screen = term.send("/user " + str(USERS / "kenji.yaml"), until="user kenji")
    screen = term.send("東京で食べたいラーメン")
    assert "ラーメン一筋" in screen and "食品" in screen  # the ramen, its reason in Japanese

    screen = term.send("2番みたいなの")
    assert "2番に似たもの" in screen and "ご希望どおり" in screen

    screen = term.send("/bogus", until="unknown command")
    assert "error: unknown command /bogus" in screen

    term.child.sendcontrol("d")
    term.child.expect(pexpect.EOF)
    term.child.close()
    assert term.child.exitstatus == 0
    assert (tmp_path / ".polyrank" / "chat_history").read_text().count("2番みたいなの") == 1


def _shown(reason: str, price: str | None, attributes: dict[str, Any], rank: int) -> RankedItem:
    return RankedItem(
        id=f"x{rank}",
        rank=rank,
        score=1.0,
        title=f"item {rank}",
        language="zh",
        domain="food",
        reason=reason,
        group=f"x{rank}",
        retrieval_score=1.0,
        attributes=attributes,
        price=price,
    )


def _screen(*items: RankedItem) -> str:
    from io import StringIO

    from rich.console import Console

    from polyrank.agent._chat import Event, render

    trace = Trace(request_language="es", language_source="explicit", ranker="local", model="l")
    rec = Recommendation(query="q", user_id=None, items=list(items), trace=trace)
    console = Console(file=StringIO(), width=240, color_system=None)
    render(console, Event("answer", "", rec), "EUR", "es-ES")
    return str(console.file.getvalue())


def test_each_price_is_printed_once_in_the_one_format() -> None:
    """Was: the price column wrote "93.59 CNY (≈ 12.17 EUR)" beside a reason ending in
    "93,59 CN¥": the same price twice, in two formats."""
    yuan = {"price": 93.59, "currency": "CNY"}
    native = format_money(93.59, "CNY", "es")  # how the reason writes it
    filled = _shown(f"«caldo picante» · comida (chino), {native}", "≈ 12,17 €", yuan, 1)
    roubles = {"price": 700, "currency": "RUB"}
    fallback = price_text(roubles, "es", currency="EUR", locale="es-ES")
    assert fallback == "≈ 7,00\xa0€"  # Babel: the user's currency, Spanish style
    unfilled = _shown(f"comida (ruso) · {format_money(700, 'RUB', 'es')}", None, roubles, 2)
    screen = _screen(filled, unfilled)
    assert screen.count("12,17 €") == 1 and native not in screen and "CNY" not in screen
    assert screen.count(fallback) == 1 and "700" not in screen and "RUB" not in screen
    assert "comida (chino)" in screen and "comida (ruso)" in screen  # the rest of the reason


def test_a_price_against_the_ceiling_keeps_the_ceiling_and_a_sentence_its_price() -> None:
    euros = {"price": 12.5, "currency": "EUR"}
    ceiling = _shown("película, 2019 · 12,50 € (≤ 15,00 €)", "12,50 €", euros, 1)
    screen = _screen(ceiling)
    assert screen.count("12,50 €") == 1 and "película, 2019 · ≤ 15,00 €" in screen
    sentence = _shown("cuesta 12,50 € menos que el anterior", "12,50 €", euros, 1)
    assert "cuesta 12,50 € menos que el anterior" in _screen(sentence)


@pytest.mark.slow
@pytest.mark.http
def test_real_terminal_with_a_scripted_llm_over_http(use_store_path: Path, tmp_path: Path) -> None:
    import shutil

    from polyrank.agent.testing import ScriptedOpenAIServer, retrieval_order_step

    def step(body: dict[str, Any]) -> dict[str, Any]:
        text = body["messages"][-1]["content"]
        if "Turn their message into JSON" in text:  # the follow-up interpreter's prompt
            return {"content": json.dumps({"kind": "refine", "only_domains": ["books"]})}
        return retrieval_order_step(body)

    store = tmp_path / "store"
    shutil.copytree(use_store_path, store)
    with ScriptedOpenAIServer(default=step) as server:
        term = Terminal(
            [
                "--user",
                str(USERS / "kenji.yaml"),
                "--store",
                str(store),
                "--model",
                "openai:scripted",
            ],
            tmp_path,
            env={"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"},
        )
        term._pump("›")
        assert "model openai:scripted" in term.text()
        screen = term.send("東京で食べたいラーメン")
        assert "ranker openai:scripted" in screen and "ご要望" in screen
        screen = term.send("読むものがいいな")  # no phrase rule: the LLM interprets it
        assert "本のみ" in screen  # "only books", in the session's language
        assert any(
            "Turn their message into JSON" in r["messages"][-1]["content"] for r in server.requests
        )
        term.child.sendcontrol("d")
        term.child.expect(pexpect.EOF)
