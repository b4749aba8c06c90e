"""The shipped retrieval doubles: a hash embedder and an in-memory store behind the same
Protocol as the Chroma store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from polyrank.agent import Agent, ConfigError, UserProfile
from polyrank.retrieval import Filters, Item, Store, StoreReader, WritableStore, load_catalog
from polyrank.retrieval.testing import HashEmbedder, InMemoryStore
from tests.conftest import CATALOG


def _item(item_id: str, group: str, language: str, title: str, **extra: object) -> Item:
    return Item.model_validate(
        {"id": item_id, "group": group, "title": title, "description": "", "language": language,
         "domain": "books", **extra}
    )  # fmt: skip


BOOKS = [
    _item("a-en", "a", "en", "Mountain hiking guide", attributes={"price": 12, "currency": "EUR"}),
    _item("a-de", "a", "de", "Bergwandern Führer", attributes={"price": 30, "currency": "EUR"}),
    _item("b-en", "b", "en", "Ramen cooking at home"),
    _item("c-en", "c", "en", "Piano for beginners", tags=("music",)),
    _item("c-fr", "c", "fr", "Piano pour débutants", tags=("music",)),
]


def test_the_hash_embedder_is_deterministic_and_near_for_shared_words() -> None:
    embedder = HashEmbedder(dim=32)
    first = embedder.embed_queries(["Mountain hiking boots", "ramen"])
    again = HashEmbedder(dim=32).embed_passages(["Mountain hiking boots", "ramen"])
    assert first.shape == (2, 32) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)  # no state, no process-dependent hash
    assert np.linalg.norm(first, axis=1) == pytest.approx([1.0, 1.0], abs=1e-6)
    hiking, ramen, boots = embedder.embed_queries(["hiking", "ramen noodles", "boots hiking"])
    assert float(hiking @ boots) > float(hiking @ ramen) + 0.3
    empty, digits = embedder.embed_queries(["", "42"])
    assert np.isfinite(empty).all() and np.linalg.norm(digits) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="dim"):
        HashEmbedder(dim=1)


def test_the_in_memory_store_is_a_store_for_agent_and_evals() -> None:
    store = InMemoryStore()
    assert isinstance(store, WritableStore) and isinstance(store, StoreReader)
    assert not isinstance(object(), StoreReader)


def test_ingest_reports_like_the_real_store_and_guards_a_sync() -> None:
    store = InMemoryStore()
    first = store.ingest(BOOKS)
    assert (first.added, first.updated, first.unchanged, first.embedded) == (5, 0, 0, 5)
    changed = BOOKS[0].model_copy(update={"title": "Alpine hiking guide"})
    again = store.ingest([changed, *BOOKS[1:]])
    assert (again.added, again.updated, again.unchanged, again.embedded) == (0, 1, 4, 1)
    assert store.get(["a-en"])[0].title == "Alpine hiking guide"
    with pytest.raises(ConfigError, match="would delete 4 of the store's 5 items"):
        store.ingest(BOOKS[:1], sync=True)
    assert store.count() == 5
    assert store.ingest(BOOKS[:4], sync=True).deleted == 1
    assert store.get(["c-fr", "nope", "a-en"]) == [store.get(["a-en"])[0]]


def test_search_merges_groups_filters_and_shows_the_preferred_language() -> None:
    store = InMemoryStore()
    store.ingest(BOOKS)
    found = store.search("hiking", 3)
    assert [c.group for c in found][:1] == ["a"] and len({c.group for c in found}) == 3
    assert {v.id for v in found[0].variants} == {"a-en", "a-de"}
    german = store.search("hiking", 1, Filters(prefer_languages=("de",)))[0]
    assert german.id == "a-de" and german.title == "Bergwandern Führer"
    cheap = store.search("hiking", 3, Filters(max_price_eur=20))
    assert [c.id for c in cheap] == ["a-en"]  # unpriced items and the 30 EUR version left out
    assert {v.id for v in cheap[0].variants} == {"a-en"}
    others = store.search("hiking", 3, Filters(exclude_ids=("a-de",)))
    assert "a" not in {c.group for c in others}  # an excluded id takes its group along
    assert "c" not in {c.group for c in store.search("piano", 3, Filters(exclude_tags="music"))}
    tagged = store.search("hiking", 3, Filters(any_tags=("MUSIC", "jazz")))
    assert [c.group for c in tagged] == ["c"]  # only items with one of the tags, any case
    assert store.search("hiking", 0) == []
    assert store.search_by_id("c-en", ["fr"]).id == "c-fr"  # type: ignore[union-attr]
    assert store.search_by_id("zz") is None


def test_check_domains_names_the_stored_ones() -> None:
    store = InMemoryStore()
    assert store.check_domains(["Books"]) == ("books",)  # an empty store knows no domains
    store.ingest(BOOKS)
    assert store.check_domains([" BOOKS "]) == ("books",)
    with pytest.raises(ConfigError, match="unknown domain 'bok'; did you mean 'books'"):
        store.check_domains(["bok"])


def test_it_answers_what_the_chroma_store_answers_for_the_same_vectors(tmp_path: Path) -> None:
    """Shared filters, group merging and candidates: the same top groups, scores, shown
    versions and variants as a Chroma store built with the same embedder."""
    items = load_catalog(CATALOG)
    memory = InMemoryStore(HashEmbedder())
    memory.ingest(items)
    with Store.open(str(tmp_path / "s"), embeddings=HashEmbedder()) as chroma:
        chroma.ingest(items)
        for query, filters in [
            ("hiking boots for the mountains", Filters()),
            ("Krimi Urlaub", Filters(domains="books", prefer_languages=("de", "en"))),
            ("coffee gift", Filters(max_price_eur=30, exclude_languages="ja")),
            ("a film for tonight", Filters(domains="films", any_tags=("crime", "comedy"))),
        ]:
            want = chroma.search(query, 8, filters)
            got = memory.search(query, 8, filters)
            assert [(c.group, c.id) for c in got] == [(c.group, c.id) for c in want]
            assert [c.score for c in got] == pytest.approx([c.score for c in want], abs=1e-4)
            assert [c.variants for c in got] == [c.variants for c in want]


def _film(item_id: str, title: str, language: str = "en", **extra: object) -> Item:
    return Item.model_validate(
        {"id": item_id, "title": title, "description": "", "language": language,
         "domain": "films", **extra}
    )  # fmt: skip


def test_a_genre_the_search_missed_is_fetched_into_the_candidates() -> None:
    """The words of "a gripping film for tonight" are near twelve plain films and far from
    the one crime film; the crime genre it asks for brings that film in, in place of the
    farthest plain one."""
    films = [_film(f"plain-{i}", f"A film for tonight, part {i}") for i in range(12)]
    crime = _film("crime-fr", "Le Mystère de Lyon", "fr", tags=("crime", "retro"))
    store = InMemoryStore(HashEmbedder())
    store.ingest([*films, crime])
    assert "crime-fr" not in {c.id for c in store.search("a gripping film for tonight", 5)}
    rec = Agent(store=store, candidates=5).recommend("a gripping film for tonight", k=3)
    assert "crime-fr" in rec.trace.candidate_ids and len(rec.trace.candidate_ids) == 5
    lena = Agent(store=store, candidates=5).recommend(
        "a gripping film for tonight", UserProfile(id="u", languages=("de",), locale="de-DE"), k=3
    )
    assert "crime-fr" not in lena.trace.candidate_ids  # a film she cannot read is not fetched


def test_an_agent_recommends_from_it_without_a_model(memory_store: InMemoryStore) -> None:
    agent = Agent(store=memory_store)
    rec = agent.recommend("hiking boots", k=3)
    assert len(rec.items) == 3 and len({i.id for i in rec.items}) == 3
    assert all(memory_store.get([i.id]) for i in rec.items)
