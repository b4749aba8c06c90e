"""The langchain-tests standard suite for retrievers, run offline over a real store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from polyrank.retrieval import PolyrankRetriever, Store, load_catalog
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path: Path = tmp_path_factory.mktemp("lc-store")
    store = Store.open(str(path), embeddings="use-m3")
    store.ingest(load_catalog(FIXTURES / "small_catalog.jsonl"))
    return store


class TestPolyrankRetriever(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _store(self, small_store: Store) -> None:
        type(self)._the_store = small_store

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return PolyrankRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"store": type(self)._the_store}

    @property
    def retriever_query_example(self) -> str:
        return "Wanderschuhe"


def test_documents_carry_candidate_metadata(small_store: Store) -> None:
    docs = PolyrankRetriever(store=small_store, k=2).invoke("hiking boots")
    assert docs[0].metadata["group"] == "g1"
    assert sorted(docs[0].metadata["languages"]) == ["de", "en", "ja"]


@pytest.mark.parametrize(
    ("query", "language"),
    [
        ("Stiefel für Bergtouren im Regen", "de"),
        ("boots for mountain walks in the rain", "en"),
        ("雨の日の山歩きに使えるブーツ", "ja"),
    ],
)
def test_groups_are_shown_in_the_query_language(
    small_store: Store, query: str, language: str
) -> None:
    """Without a profile or a preferred language, the query's own language is preferred."""
    top = PolyrankRetriever(store=small_store, k=1).invoke(query)[0]
    assert top.metadata["group"] == "g1"
    assert top.metadata["language"] == language
    assert top.id == f"g1-{language}"


def test_the_retriever_is_public_and_documents_carry_the_item(small_store: Store) -> None:
    """Was: private (retrieval._langchain), and documents had no price, tags or titles."""
    from polyrank import retrieval

    assert "PolyrankRetriever" in retrieval.__all__
    assert retrieval.PolyrankRetriever is PolyrankRetriever
    docs = PolyrankRetriever(store=small_store, k=2).invoke("hiking boots")
    meta = docs[0].metadata
    item = next(i for i in load_catalog(FIXTURES / "small_catalog.jsonl") if i.id == docs[0].id)
    assert meta["price"] == item.attributes.get("price") is not None
    assert meta["currency"] == item.attributes.get("currency")
    assert meta["tags"] == list(item.tags) and meta["regions"] == list(item.regions)
    assert {v["language"]: v["title"] for v in meta["variants"]}["de"]
    assert sorted(v["id"] for v in meta["variants"]) == ["g1-de", "g1-en", "g1-ja"]


def test_the_compressor_reads_what_the_retriever_wrote(small_store: Store) -> None:
    from polyrank.agent import Agent, PolyrankCompressor

    docs = PolyrankRetriever(store=small_store, k=4).invoke("hiking boots")
    out = PolyrankCompressor(agent=Agent(store=small_store), top_n=1).compress_documents(
        docs, "hiking boots under $200"
    )
    assert out[0].id == "g1-en"
    # the price reached the local ranker: a request with a ceiling sets it against it
    assert "$120.00 (≤ $200)" in out[0].metadata["reason"]
