from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyrank.retrieval import Store, load_catalog
from tests.conftest import FIXTURES


def _store(path: Path, embedder) -> Store:
    return Store.open(str(path), embeddings=embedder)


def test_reingest_is_idempotent_and_embeds_nothing(tmp_path: Path, counting_embedder) -> None:
    items = load_catalog(FIXTURES / "small_catalog.jsonl")
    store = _store(tmp_path, counting_embedder)
    first = store.ingest(items)
    assert (first.added, first.updated, first.embedded) == (len(items), 0, len(items))
    assert counting_embedder.passages == len(items)

    second = store.ingest(items)
    assert (second.added, second.updated, second.unchanged, second.embedded) == (0, 0, 7, 0)
    assert counting_embedder.passages == len(items)
    assert store.count() == len(items)


def test_changed_item_is_reembedded_and_updated(tmp_path: Path, counting_embedder) -> None:
    store = _store(tmp_path, counting_embedder)
    store.ingest(load_catalog(FIXTURES / "small_catalog.jsonl"))
    counting_embedder.passages = 0

    lines = (FIXTURES / "small_catalog.jsonl").read_text().splitlines()
    changed = json.loads(lines[5])
    changed["title"] = "Tonkotsu ramen kit"
    lines[5] = json.dumps(changed)
    path = tmp_path / "changed.jsonl"
    path.write_text("\n".join(lines))

    report = store.ingest(load_catalog(path))
    assert (report.updated, report.added, report.embedded) == (1, 0, 1)
    assert counting_embedder.passages == 1
    assert store.get(["f1"])[0].title == "Tonkotsu ramen kit"
    assert store.search("tonkotsu ramen", 1)[0].id == "f1"


def test_failed_embedding_writes_nothing(tmp_path: Path, counting_embedder) -> None:
    items = load_catalog(FIXTURES / "small_catalog.jsonl")
    calls = {"n": 0}
    original = counting_embedder.embed_passages

    def fail_late(texts):
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("encoder crashed")
        return original(texts)

    counting_embedder.embed_passages = fail_late
    store = _store(tmp_path, counting_embedder)
    many = items + [items[0].model_copy(update={"id": f"x{n}", "group": None}) for n in range(100)]
    with pytest.raises(RuntimeError, match="encoder crashed"):
        store.ingest(many)
    assert store.count() == 0
