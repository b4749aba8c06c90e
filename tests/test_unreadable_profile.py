"""A profile's languages decide what a user can read: unreadable books come after readable ones."""

from __future__ import annotations

from polyrank.agent._local import LocalRanker
from polyrank.agent._profile import UserContext
from polyrank.agent._ranking import RankRequest
from polyrank.retrieval import Candidate


def _book(id: str, language: str, score: float) -> Candidate:
    return Candidate(id=id, group=id, score=score, title=id, description="", language=language,
                     domain="books")  # fmt: skip


def _order(languages: tuple[str, ...]) -> list[str]:
    """Relevance alone (no encoder: the unit tier), highest first."""
    books = [_book("ja", "ja", 0.62), _book("en", "en", 0.35)]
    scores = LocalRanker._relevance(
        RankRequest("a book", "en", 2), books, UserContext(languages=languages)
    )
    return [b.id for _, b in sorted(zip(scores, books, strict=True), key=lambda p: -p[0])]


def test_a_profile_user_sees_readable_books_before_closer_unreadable_ones() -> None:
    assert _order(("en",)) == ["en", "ja"]


def test_without_a_profile_the_request_language_only_leans() -> None:
    assert _order(()) == ["ja", "en"]
