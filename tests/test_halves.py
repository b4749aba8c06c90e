"""Issue 18's figures per group of cases (evals/halves.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyrank.evals.halves import _candidates, main, states_a_fact, summarise

WHAT = "libro, de 2022"  # what bk-python-es is, in Spanish (agent._local.facts)


@pytest.fixture(scope="module")
def python_es():  # type: ignore[no-untyped-def]
    from polyrank.evals.halves import CATALOG

    return _candidates(CATALOG)["bk-python-es"]


@pytest.mark.parametrize(
    ("reason", "with_tags", "without_tags"),
    [
        (WHAT, False, False),  # only what the item is
        (f"Una introducción amable a la programación con Python · {WHAT}", True, True),
        (f"{WHAT} · ≈ 23,00 €", False, False),  # a converted price alone
        (f"{WHAT} · ≈ 23,00 € (≤ 30,00 €)", True, True),  # against the request's ceiling
        (f"{WHAT} · 23,00 €", False, False),  # a bare price
    ],
)
def test_a_fact_is_more_than_what_the_item_is_or_its_price(
    python_es, reason: str, with_tags: bool, without_tags: bool
) -> None:
    assert states_a_fact(reason, python_es, "es", tags=True) is with_tags
    assert states_a_fact(reason, python_es, "es", tags=False) is without_tags


def test_a_tag_list_counts_only_when_asked_to(python_es) -> None:
    reason = "book in Spanish, from 2022 · tagged python, programming"
    assert states_a_fact(reason, python_es, "en", tags=True)
    assert not states_a_fact(reason, python_es, "en", tags=False)


def _answer(ranking: list[str], reasons: list[str], ndcg: float, sensible: float) -> dict:
    return {
        "ranking": ranking,
        "reasons": reasons,
        "metrics": {"ndcg@5": ndcg, "sensible@3": sensible},
    }


RUN = {
    "cases": [
        {
            "name": "fresh-one",
            "languages": {
                "es": _answer(["bk-python-es"], [WHAT], 0.5, 1.0),
                "en": _answer(
                    ["bk-python-es"], ["A gentle start · book in Spanish, from 2022"], 0.25, 0.0
                ),
            },
            "consistency": {"en": {"top1": 0.0}},
            "expectations": [{"expect": "ndcg@5 >= 0.9", "observed": 0.375, "passed": False}],
        },
        {
            "name": "older",
            "languages": {"es": _answer(["bk-python-es"], [WHAT], 1.0, 1.0)},
            "consistency": {},
            "expectations": [{"expect": "validity == 1", "observed": 1.0, "passed": True}],
        },
    ]
}


def test_the_tune_half_is_apart_from_the_other_cases() -> None:
    groups = summarise(RUN)
    fresh, older = groups["fresh"], groups["cases"]
    assert (fresh.cases, fresh.requests, fresh.ndcg, fresh.sensible, fresh.graded) == (
        1,
        2,
        0.375,
        1,
        2,
    )
    assert fresh.top1 == 0.0 and fresh.facts == 50.0
    assert fresh.failed == ["fresh-one: ndcg@5 >= 0.9 (observed 0.375)"]
    assert (older.requests, older.ndcg, older.facts, older.failed) == (1, 1.0, 0.0, [])


def test_the_command_prints_each_group_and_names_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "run.json"
    good.write_text(json.dumps(RUN), encoding="utf-8")
    assert main([str(good)]) == 0
    out = capsys.readouterr().out
    assert "fresh: 1 cases, 2 requests · nDCG@5 0.375 · sensible 1 of 2" in out
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    assert main([str(bad)]) == 1
    assert str(bad) in capsys.readouterr().err


def test_the_second_tune_set_is_a_group_of_its_own() -> None:
    from polyrank.evals.halves import group_of

    assert [group_of(n) for n in ("fresh2-a", "fresh-a", "wine-gift")] == [
        "fresh2",
        "fresh",
        "cases",
    ]
