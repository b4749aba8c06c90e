"""A model that is not reading is noticed (issue 22): picks that follow the shown positions
across shuffles, or reasons that copy what was shown, and the local ranker answers."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pytest

from polyrank.agent import Agent, LLMSettings
from polyrank.agent._reading import ReadingCheck, copies
from polyrank.agent.testing import FunctionModel, ScriptedOpenAIServer, prompt_candidates
from polyrank.retrieval import Filters, Store

REASON = "Te ayuda a empezar a programar paso a paso."
REQUESTS = ["Quiero aprender a programar", "libros de cocina", "novelas para el verano"]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("Python desde cero", True),  # the title itself
        ("python desde cero.", True),
        ("20.59 BSL", True),  # a price
        ("Quiero aprender a programar", True),  # the request echoed
        ("Una introducción amable a la programación con Python", True),  # another's text
        ("Te ayuda a empezar a programar paso a paso.", False),
        ("Empieza con Python desde cero, ideal para tu primer programa.", False),
    ],
)
def test_copied_reasons(reason: str, expected: bool) -> None:
    shown = [
        "Python desde cero",
        "Una introducción amable a la programación con Python · libro, de 2022",
        "20.59 BSL",
        "Quiero aprender a programar",
    ]
    assert copies(reason, shown) is expected


def test_position_following_is_told_from_reading() -> None:
    shown_a, shown_b = list("abcdefgh"), list("hgfedcba")
    positions = ReadingCheck()
    for _ in range(2):
        positions.passes([(shown_a, shown_a[:3]), (shown_b, shown_b[:3])])
    assert positions.verdict() is not None and "positions" in (positions.verdict() or "")
    items = ReadingCheck()
    for _ in range(2):
        items.passes([(shown_a, ["c", "e", "a"]), (shown_b, ["c", "e", "a"])])
    assert items.verdict() is None
    assert items.figures()["same_items"] == 1.0


def _keys(messages: Sequence[Any]) -> list[tuple[str, str]]:
    return prompt_candidates(messages)


def by_position(messages: Sequence[Any], schema: Any) -> str:
    """Whatever is shown first is best: a model reading positions, not items."""
    return json.dumps({"ranking": [{"id": k, "reason": REASON} for k, _ in _keys(messages)]})


def by_content(messages: Sequence[Any], schema: Any) -> str:
    """Best by title (a property of the item, wherever it is shown), own-words reasons."""
    best = sorted(_keys(messages), key=lambda kt: kt[1])
    return json.dumps({"ranking": [{"id": k, "reason": REASON} for k, _ in best]})


def test_a_position_following_model_is_not_used(use_store: Store) -> None:
    model = FunctionModel(by_position)
    agent = Agent(store=use_store, model=model, candidates=8)
    recs = [agent.recommend(q, k=3, passes=2, language="es") for q in REQUESTS]
    noticed = [r for r in recs if r.trace.fallback]
    assert noticed, [r.trace.fallback_reason for r in recs]
    first = noticed[0]
    assert first.trace.ranker == "local" and len(first.items) == 3
    reason = first.trace.fallback_reason or ""
    assert "not reading" in reason and "positions" in reason and "\n" not in reason
    calls = len(model.calls)
    later = agent.recommend("películas de ciencia ficción", k=3, passes=2, language="es")
    assert later.trace.fallback and later.trace.usage.llm_calls == 0  # not asked again this run
    assert len(model.calls) == calls


def test_a_content_following_model_is_used(use_store: Store) -> None:
    model = FunctionModel(by_content)
    agent = Agent(store=use_store, model=model, candidates=8)
    for query in REQUESTS:
        rec = agent.recommend(query, k=3, passes=2, language="es")
        assert not rec.trace.fallback, rec.trace.fallback_reason
    assert agent.ranker.reading.figures()["same_items"] == 1.0  # type: ignore[attr-defined]


@pytest.mark.http
def test_a_content_following_server_is_used(use_store: Store) -> None:
    def step(body: dict[str, Any]) -> dict[str, Any]:
        return {"content": by_content(body["messages"], None)}

    with ScriptedOpenAIServer(default=step) as server:
        agent = Agent(
            store=use_store, model="openai:m", candidates=8,
            llm_settings=LLMSettings(base_url=server.base_url, api_key="k", timeout=10),
        )  # fmt: skip
        recs = [agent.recommend(q, k=3, passes=2, language="es") for q in REQUESTS]
    assert not any(r.trace.fallback for r in recs), [r.trace.fallback_reason for r in recs]


def test_copying_reasons_are_noticed(use_store: Store) -> None:
    def copy_titles(messages: Sequence[Any], schema: Any) -> str:
        best = sorted(_keys(messages), key=lambda kt: kt[1])
        return json.dumps({"ranking": [{"id": k, "reason": t} for k, t in best]})

    agent = Agent(store=use_store, model=FunctionModel(copy_titles), candidates=8)
    recs = [agent.recommend(q, k=3, language="es") for q in REQUESTS]
    reasons = [r.trace.fallback_reason or "" for r in recs]
    assert any("copy the shown text" in r for r in reasons), reasons


def test_the_reason_reask_stops_once_the_model_failed_it(use_store: Store) -> None:
    def english(messages: Sequence[Any], schema: Any) -> str:
        keys = _keys(messages) or [
            (m, "") for m in re.findall(r'"id":"(c\d+)"', messages[-1]["content"])
        ]
        reason = "This is a really good choice for what you are looking for today."
        return json.dumps({"ranking": [{"id": k, "reason": reason} for k, _ in keys]})

    model = FunctionModel(english)
    agent = Agent(store=use_store, model=model, candidates=6)
    first = agent.recommend("Quiero aprender a programar", k=3, language="es")
    assert first.trace.usage.reasks == 1 and len(model.calls) == 2  # ranked, re-asked once
    second = agent.recommend("libros de cocina", k=3, language="es", filters=Filters())
    assert second.trace.usage.reasks == 0 and second.trace.repairs["reason_reask_skipped"] == 3
    assert len(model.calls) == 3
