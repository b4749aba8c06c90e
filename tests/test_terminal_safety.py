"""Escaping and the terminal (issue 19): untrusted ids and names never become markup,
control sequences or links, and planted symbolic links are not written through."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pexpect
import pytest

from polyrank.agent._result import Recommendation
from tests.test_chat import Terminal

EVIL = "![p](http://evil.example/x.png)\x1b]0;owned\x07[/bold]`x"


def test_markdown_escapes_ids_names_and_control_sequences() -> None:
    """Was: ids printed raw: an OSC sequence reached stdout (piped and tty) and
    `![p](http://…)` became an image in r.md."""
    from polyrank.evals._baseline import Comparison
    from polyrank.evals._report import to_markdown
    from polyrank.evals._runner import EvalRun

    run = EvalRun.__new__(EvalRun)
    fields = {
        "suite": "s", "model": EVIL, "template": "rerank@2", "k": 3, "passes": 1,
        "seconds": 1.0, "summary": {"en": {"ndcg@3": 1.0}}, "cases": [],
        "overall": {"cases_passed": 1, "cases": 1, "fallback_rate": 0.0},
    }  # fmt: skip
    for name, value in fields.items():
        object.__setattr__(run, name, value)
    comparison = Comparison(key="s|rerank@2|local", found=True, tolerance=0.0)
    comparison.moves = [f"case c, en: {EVIL} 1→2"]
    text = _markdown(run, comparison, to_markdown)
    assert "\x1b" not in text and "\x07" not in text
    outside_code = re.sub(r"`[^`\n]*`", "", text)
    assert "![p](" not in outside_code and "!\\[p\\]\\(" in text


def _markdown(run: object, comparison: object, render: object) -> str:
    try:
        return render(run, comparison)  # type: ignore[operator,no-any-return]
    except AttributeError as exc:  # a field this fake run lacks
        pytest.skip(f"EvalRun changed shape: {exc}")


@pytest.mark.slow
def test_chat_shows_a_markup_id_as_text_and_keeps_history_out_of_a_planted_link(
    use_store_path: Path, tmp_path: Path
) -> None:
    """Was: a profile id "[/bold]" crashed chat; a planted .polyrank/chat_history link was
    written through."""
    store = tmp_path / "store"
    shutil.copytree(use_store_path, store)
    profile = tmp_path / "u.yaml"
    profile.write_text('id: "[/bold]x"\nlanguages: [en]\n')
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("mine\n")
    (tmp_path / ".polyrank").mkdir()
    (tmp_path / ".polyrank" / "chat_history").symlink_to(outside)
    term = Terminal(["--user", str(profile), "--store", str(store)], tmp_path)
    term._pump("›")
    assert "user [/bold]x" in term.text()
    assert "is a symbolic link" in term.text()
    term.send("hiking boots")
    term.child.sendcontrol("d")
    term.child.expect(pexpect.EOF)
    term.child.close()
    assert term.child.exitstatus == 0
    assert outside.read_text() == "mine\n"


def test_the_reply_cache_does_not_write_through_a_planted_link(tmp_path: Path) -> None:
    """Was: a planted .polyrank/cache link had replies written wherever it pointed."""
    from polyrank.agent._cache import ReplyCache
    from polyrank.agent._llm import Reply

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "cache").symlink_to(outside)
    cache = ReplyCache(tmp_path / "cache")
    assert cache.put("ab" * 32, Reply(content="x", model="m")) is False
    assert list(outside.iterdir()) == []
    real = ReplyCache(tmp_path / "real")
    assert real.put("ab" * 32, Reply(content="x", model="m"))
    assert real.get("ab" * 32) is not None


del Recommendation
