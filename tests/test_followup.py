"""The follow-up interpreter without an LLM, in every supported language."""

from __future__ import annotations

import pytest

from agent._followup import FollowUp, followup_languages, interpret

CASES: dict[str, list[tuple[str, dict[str, object]]]] = {
    "en": [
        ("more like 2", {"more_like": 2}),
        ("exclude 3", {"exclude_ranks": [3]}),
        ("cheaper please", {"cheaper": True}),
        ("something else", {"something_else": True}),
        ("not in Spanish", {"exclude_languages": ["es"]}),
        ("only in German", {"only_languages": ["de"]}),
        ("only films", {"only_domains": ["films"]}),
    ],
    "es": [
        ("más como el 2", {"more_like": 2}),
        ("quita el 3", {"exclude_ranks": [3]}),
        ("más baratos", {"cheaper": True}),
        ("otra cosa", {"something_else": True}),
        ("que no estén en inglés", {"exclude_languages": ["en"]}),
        ("solo en español", {"only_languages": ["es"]}),
        ("solo películas", {"only_domains": ["films"]}),
    ],
    "de": [
        ("mehr wie 2", {"more_like": 2}),
        ("ohne Nr. 3", {"exclude_ranks": [3]}),
        ("günstiger bitte", {"cheaper": True}),
        ("etwas anderes", {"something_else": True}),
        ("nicht auf Englisch", {"exclude_languages": ["en"]}),
        ("nur auf Deutsch", {"only_languages": ["de"]}),
        ("nur Filme", {"only_domains": ["films"]}),
    ],
    "fr": [
        ("plus comme le 2", {"more_like": 2}),
        ("enlève le 3", {"exclude_ranks": [3]}),
        ("moins cher", {"cheaper": True}),
        ("autre chose", {"something_else": True}),
        ("pas en anglais", {"exclude_languages": ["en"]}),
        ("seulement en français", {"only_languages": ["fr"]}),
        ("seulement des films", {"only_domains": ["films"]}),
    ],
    "ja": [
        ("2番みたいなの", {"more_like": 2}),
        ("3番はいらない", {"exclude_ranks": [3]}),
        ("もっと安いの", {"cheaper": True}),
        ("別のものを", {"something_else": True}),
        ("英語以外で", {"exclude_languages": ["en"]}),
        ("日本語だけ", {"only_languages": ["ja"]}),
        ("映画だけ", {"only_domains": ["films"]}),
    ],
    "zh": [
        ("像第2个", {"more_like": 2}),
        ("去掉第3个", {"exclude_ranks": [3]}),
        ("便宜一点", {"cheaper": True}),
        ("换一批", {"something_else": True}),
        ("不要英文的", {"exclude_languages": ["en"]}),
        ("只要中文", {"only_languages": ["zh"]}),
        ("只要电影", {"only_domains": ["films"]}),
    ],
    "ko": [
        ("2번이랑 비슷한 거", {"more_like": 2}),
        ("3번 빼줘", {"exclude_ranks": [3]}),
        ("더 싼 거", {"cheaper": True}),
        ("다른 거 보여줘", {"something_else": True}),
        ("영어 말고", {"exclude_languages": ["en"]}),
        ("한국어로만", {"only_languages": ["ko"]}),
        ("영화만", {"only_domains": ["films"]}),
    ],
}


def test_every_language_is_covered() -> None:
    assert set(CASES) == set(followup_languages())
    assert len(followup_languages()) >= 5


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [(lang, text, expected) for lang, cases in CASES.items() for text, expected in cases],
)
def test_follow_up_phrases(language: str, text: str, expected: dict[str, object]) -> None:
    found = interpret(text, language)
    assert found.kind == "refine"
    assert found.model_dump(exclude_defaults=True) == expected


@pytest.mark.parametrize("language", sorted(CASES))
def test_follow_ups_are_understood_whatever_the_session_language(language: str) -> None:
    other = "ja" if language != "ja" else "en"
    for text, expected in CASES[language]:
        assert interpret(text, other).model_dump(exclude_defaults=True) == expected, text


@pytest.mark.parametrize(
    "text",
    [
        "Quiero aprender a programar",
        "東京で食べたいラーメン",
        "a film without violence",
        "ein spannender Krimi",
        "送给喜欢徒步的朋友的礼物",
        "un film romantique à Paris",
    ],
)
def test_new_requests_are_not_follow_ups(text: str) -> None:
    assert interpret(text, "en") == FollowUp(kind="new", query=text)


def test_several_changes_in_one_message() -> None:
    found = interpret("cheaper and not in Spanish, only books", "en")
    assert found.cheaper and found.exclude_languages == ["es"] and found.only_domains == ["books"]
