"""A profile's languages decide what a user can read: unreadable books come after readable ones."""

from __future__ import annotations

from polyrank.agent import _local
from polyrank.agent._intent import Intent


class _C:
    def __init__(self, id: str, language: str, score: float, domain: str = "books") -> None:
        self.id, self.language, self.score, self.domain = id, language, score, domain
        self.variants: list[object] = []
        self.regions: list[str] = []
        self.tags: list[str] = []
        self.attributes: dict[str, object] = {}


class _Ctx:
    def __init__(self, languages: list[str]) -> None:
        self.languages = languages
        self.hints = None


class _Req:
    def __init__(self) -> None:
        self.intent = Intent()
        self.language = "en"


def test_a_profile_user_sees_readable_books_before_closer_unreadable_ones() -> None:
    close_ja, far_en = _C("ja", "ja", 0.62), _C("en", "en", 0.35)
    scores = _local.LocalRanker._relevance(_Req(), [close_ja, far_en], _Ctx(["en"]))  # type: ignore[arg-type]
    assert scores[1] > scores[0]


def test_without_a_profile_the_request_language_only_leans() -> None:
    close_ja, far_en = _C("ja", "ja", 0.62), _C("en", "en", 0.35)
    scores = _local.LocalRanker._relevance(_Req(), [close_ja, far_en], _Ctx([]))  # type: ignore[arg-type]
    assert scores[0] > scores[1]
