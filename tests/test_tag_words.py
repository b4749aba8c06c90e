"""The word list of the catalogue's tags (agent/locales/tags.yaml, agent._topics)."""

from __future__ import annotations

import re

import pytest

from polyrank.agent._intent import normalise
from polyrank.agent._locale import table
from polyrank.agent._topics import _listed, lexicon

#: The languages the intents tables cover; an entry under another key is a typo.
LANGUAGES = frozenset(
    {"en", "es", "fr", "de", "it", "pt", "nl", "sv", "pl", "ru", "uk", "cs", "tr", "ar"}
    | {"hi", "zh", "ja", "ko", "vi", "id", "th", "el"}
)
_SPACELESS = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u0e00-\u0e7f]")


def named(text: str, *tags: str) -> dict[str, str]:
    return _listed(normalise(text), tags)


@pytest.mark.parametrize(
    ("text", "tag", "word"),
    [
        ("Szukam książki o Hiszpanii", "spain", "hiszpanii"),  # an inflected place
        ("etwas über den Weltraum", "space", "weltraum"),
        ("ein Weltraumabenteuer", "space", "weltraumabenteuer"),  # a compound's start
        ("宇宙の本", "space", "宇宙"),  # no spaces: matched as text
        ("un roman policier", "novel", "roman"),
        # A person who likes technology asks for electronics.
        ("teknoloji meraklısı kardeşime hediye", "electronics", "teknoloji"),
        ("a gift for my brother, a real techie", "electronics", "techie"),
        ("etwas für einen Technikfan", "electronics", "technikfan"),
        ("film tentang luar angkasa", "space", "luar angkasa"),  # Indonesian
        ("một bộ phim về vũ trụ", "space", "vũ trụ"),  # Vietnamese
        ("ένα βιβλίο για τα βουνά", "mountains", "βουνά"),  # Greek
        ("อยากได้หนังสือเกี่ยวกับภูเขา", "mountains", "ภูเขา"),  # Thai, no spaces
    ],
)
def test_a_listed_word_names_its_tag(text: str, tag: str, word: str) -> None:
    assert named(text, tag) == {tag: word}


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("a book about a rocket launch", "rock"),  # "rock" is a whole word only
        ("je cherche une chanson pour ma mère", "chanson"),  # French "song" alone
        ("Gift für Ratten? nein, ein Buch", "gift"),  # German "Gift" is poison
        ("a spacious tent", "space"),
    ],
)
def test_a_word_inside_another_or_of_another_meaning_names_nothing(text: str, tag: str) -> None:
    assert named(text, tag) == {}


def test_only_the_tags_asked_about_are_named() -> None:
    assert named("a novel set in Spain", "spain") == {"spain": "spain"}


def test_every_entry_is_well_formed() -> None:
    raw = table("tags")
    assert set(raw) == set(lexicon()), "a tag without words"
    for tag, by_language in raw.items():
        assert tag == tag.lower(), tag
        assert set(by_language) <= LANGUAGES, (tag, set(by_language) - LANGUAGES)
        for language, entries in by_language.items():
            for entry in entries:
                where = f"{tag}/{language}: {entry!r}"
                assert entry == entry.lower().strip(), where
                core = entry.strip("*")
                if entry.endswith("*") or entry.startswith("*"):
                    # a start or end that short names other words ("rock*": rocket)
                    assert len(core) >= 3 or _SPACELESS.search(core), where
                assert core, where


def test_a_tag_counts_once_and_only_in_the_genres_domains() -> None:
    from polyrank.agent._intent import genre_tags
    from polyrank.agent._local import topic_count
    from polyrank.agent._topics import Topics
    from polyrank.retrieval import Candidate

    def item(domain: str, *tags: str) -> Candidate:
        return Candidate(
            id=f"{domain}-{len(tags)}", group="g", score=0.5, title="t", description="",
            language="de", domain=domain, tags=tags,
        )  # fmt: skip

    topics = Topics(wanted={"novel": 1.0, "mountains": 1.0, "tea": 1.0})
    novel = set(genre_tags("novel"))
    # "Gibt es einen Roman, der in den Bergen spielt?": the novel tag is the genre's.
    assert topic_count(item("books", "novel"), topics, novel, {"books"}) == 0
    assert topic_count(item("books", "mountains", "crime"), topics, novel, {"books"}) == 1
    # No genre asked: every named tag counts, up to two.
    assert topic_count(item("books", "novel", "mountains", "tea"), topics, set(), set()) == 2
    # A genre asked for whose candidates are food: a tea set does not count.
    sweets = set(genre_tags("sweets"))
    assert topic_count(item("products", "tea"), topics, sweets, {"food"}) == 0
    assert topic_count(item("food", "tea"), topics, sweets, {"food"}) == 1


def test_another_languages_word_that_is_a_stopword_of_the_requests_names_no_tag() -> None:
    # English "usa" and "sea" are Spanish "uses" and "be": listed for the tags usa and sea.
    text = normalise("Algo que se usa en la cocina, que sea barato")
    assert set(_listed(text, ["usa", "sea"])) == {"usa", "sea"}
    assert _listed(text, ["usa", "sea"], "es") == {}
    # In English they are the words of those tags.
    assert set(_listed(normalise("a trip by the sea in the USA"), ["usa", "sea"], "en")) == {
        "usa",
        "sea",
    }
