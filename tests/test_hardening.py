"""Issue 9: nothing a catalogue, a model, a profile or a suite contains can crash, corrupt
or take over. Each test here failed before its fix (the note lists what each showed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from agent import Agent
from agent._chat import Event, render
from agent._cli import main

HOSTILE = "Boots [/] [link=https://evil.example]click[/link] \x1b[2J\x1b]0;pwned\x07\u202eevil"


def _catalog(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "catalog.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


@pytest.fixture
def hostile_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    rows: list[dict[str, object]] = [
        {"id": "x[/]1", "title": HOSTILE, "description": "Hiking boots.", "language": "en",
         "domain": "products"},
        {"id": "b2", "title": "Hiking book", "description": "Trails.", "language": "en",
         "domain": "books"},
    ]  # fmt: skip
    store = str(tmp_path / "s")
    assert main(["ingest", str(_catalog(tmp_path, rows)), "--store", store,
                 "--embeddings", "use-m3"]) == 0  # fmt: skip
    capsys.readouterr()
    return store


def _no_control(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text


def test_markup_and_escapes_in_titles_print_as_plain_text(
    hostile_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: MarkupError traceback on `[/]`; `[link=…]` a live link; ESC/OSC reached the tty."""
    for command in ("search", "recommend"):
        assert main([command, "boots [/] [bold]", "--store", hostile_store]) == 0
        out = capsys.readouterr().out
        assert "[/]" in out and "[link=https://evil.example]" in out
        _no_control(out)


def test_chat_render_prints_model_text_plainly(hostile_store: str) -> None:
    agent = Agent(store=hostile_store)
    rec = agent.recommend("hiking boots", k=2)
    assert any("[/]" in item.title for item in rec.items)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    for event in (
        Event("answer", "[/]results", rec),
        Event("text", HOSTILE),
        Event("error", HOSTILE),
    ):
        render(console, event)
    text = out.getvalue()
    assert "\x1b]" not in text  # no OSC: window title, hyperlinks
    assert "\x1b[2J" not in text and "\u202e" not in text and "\x07" not in text
    assert text.count("[/]") >= 3
