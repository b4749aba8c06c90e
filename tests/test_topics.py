"""The request's own words matched to catalogue tags across languages (agent._topics)."""

from __future__ import annotations

import pytest

from polyrank.agent import _topics
from polyrank.agent._topics import TopicMatcher, words

pytestmark = pytest.mark.store

TAGS = ["mountains", "novel", "crime", "romance", "beach", "horror", "comedy", "family", "ai"]


@pytest.fixture(scope="module")
def matcher() -> TopicMatcher:
    return TopicMatcher()


@pytest.mark.parametrize(
    ("query", "tag"),
    [
        ("Gibt es einen Roman, der in den Bergen spielt?", "mountains"),
        ("un roman qui se passe en montagne", "mountains"),
        ("что-нибудь почитать про пляж", "beach"),
        ("un film à regarder en famille", "family"),
    ],
)
def test_a_word_names_its_tag_in_any_language(matcher: TopicMatcher, query: str, tag: str) -> None:
    assert tag in matcher.match(query, TAGS).wanted


def test_short_unknown_words_do_not_land_on_hub_tags(matcher: TopicMatcher) -> None:
    # "pra" and "svp" sit at raw cosines of about 0.8 from the hub tag "ai".
    topics = matcher.match("quero um filme pra ver, svp", TAGS)
    assert "ai" not in topics.wanted


def test_a_word_names_only_its_nearest_tag(
    matcher: TopicMatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # By the embeddings alone (no word list), "Roman" is nearest to romance among all
    # known tags: it does not name "novel" even where no romance is among the candidates.
    monkeypatch.setattr(_topics, "lexicon", dict)
    monkeypatch.setattr(_topics, "_pattern", lambda tag, language="": None)
    topics = matcher.match("ein Roman, bitte", ["novel", "crime"])
    assert "novel" not in topics.wanted


@pytest.mark.parametrize(
    ("query", "tag"),
    [
        ("ein Roman, bitte", "novel"),  # German "Roman" is a novel: the word list says so
        ("宇宙の映画が見たい", "space"),
        ("우주 영화 추천해 줘", "space"),
        ("książka o Hiszpanii", "spain"),
    ],
)
def test_the_word_list_names_what_the_embeddings_miss(
    matcher: TopicMatcher, query: str, tag: str
) -> None:
    assert tag in matcher.match(query, [*TAGS, "space", "spain"]).wanted


def test_a_listed_word_inside_a_negation_is_refused(matcher: TopicMatcher) -> None:
    topics = matcher.match("ein Film für heute Abend, aber bitte keinen Horror", TAGS)
    assert "horror" in topics.refused and "horror" not in topics.wanted


def test_words_inside_a_negation_are_refused_not_wanted(matcher: TopicMatcher) -> None:
    topics = matcher.match("a film tonight, but no horror please", TAGS)
    assert "horror" in topics.refused and "horror" not in topics.wanted


def test_said_gives_the_word_as_the_request_wrote_it(matcher: TopicMatcher) -> None:
    query = "Gibt es einen Roman, der in den Bergen spielt?"
    topics = matcher.match(query, TAGS)
    assert topics.said(["mountains", "crime"], query) == ["Bergen"]
    assert topics.said(["crime"], query) == []


@pytest.mark.parametrize("order", [1, -1])
def test_said_lists_tied_words_in_the_requests_order_whatever_the_tags_order(
    matcher: TopicMatcher, order: int
) -> None:
    # Both words are named by the word list (the same score): the order they are said in
    # comes from the request, not from iterating a set of tags (PYTHONHASHSEED).
    query = "Flamenco und Gitarrenmusik aus Spanien"
    tags = ["flamenco", "guitar", "spain"][::order]
    topics = matcher.match(query, tags, "de")
    assert topics.said(tags, query) == ["Flamenco", "Gitarrenmusik", "Spanien"]


def test_words_are_tokens_and_adjacent_pairs() -> None:
    found = words("music with a city pop vibe")
    assert "city pop" in found and "music" in found


def test_a_reason_names_the_requests_word_for_a_tag_the_item_has(use_store) -> None:
    from polyrank.agent import Agent

    rec = Agent(store=use_store).recommend("un roman qui se passe en montagne", k=10)
    tags = {i.id: set(i.tags) for i in use_store.get([i.id for i in rec.items])}
    mountain = [i for i in rec.items if "mountains" in tags[i.id]]
    assert mountain and all("montagne" in i.reason for i in mountain)
    assert not any("montagne" in i.reason for i in rec.items if "mountains" not in tags[i.id])


@pytest.mark.parametrize(
    ("query", "language"),
    [
        ("Babamla izleyebileceğimiz, gerçek bir hikâyeye dayanan bir film", "tr"),
        ("un film inspiré d'une histoire vraie", "fr"),
        ("a film based on a true story", "en"),
        ("実話を元にした映画", "ja"),
    ],
)
def test_a_true_story_names_biography_and_the_tag_is_shown_by_its_name(
    matcher: TopicMatcher, query: str, language: str
) -> None:
    assert "biography" in matcher.match(query, ["biography", "drama"], language).wanted
    assert _topics.tag_word("biography", "en") == "biography"  # not "true story"
