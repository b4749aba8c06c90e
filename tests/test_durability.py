"""Nothing lost, nothing stale: writes cut short at any point leave a whole store, and
long-lived readers follow what other processes wrote (issue 19)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from polyrank._cli import main
from polyrank.retrieval import Store
from polyrank.retrieval.errors import ConfigError, RetrievalError
from tests._fakes import HashEmbedder, catalogue, fresh_process_view, interrupted, item
from tests.conftest import ROOT, SMALL_CATALOG, ingest_small


def _groups(store: Store) -> dict[str, set[str]]:
    """Each stored group's members, read from the items themselves."""
    got = store._col.get(include=["metadatas"])
    out: dict[str, set[str]] = {}
    for item_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
        out.setdefault(str((meta or {})["group"]), set()).add(item_id)
    return out


def _variants_seen(store: Store) -> dict[str, set[str]]:
    """Each group's variants as a search shows them, whichever member it hit first (a
    search reads the hit's metadata, then the variants): the union of what each member
    shows, so one stale list shows up."""
    seen: dict[str, set[str]] = {}
    for group, members in _groups(store).items():
        for member in sorted(members):
            store._members.clear()
            store.get([member])
            shown = {v.id for v in store.variants([group])[group]}
            seen[group] = shown if seen.get(group, shown) == shown else set()
    return seen


def test_an_interrupted_repair_leaves_every_item(tmp_path: Path, monkeypatch) -> None:
    """Was: --repair dropped the collection, then re-added in batches: SIGINT after the
    first batch left 2 of 7 items, for good."""
    import polyrank.retrieval._writes as writes_module

    monkeypatch.setattr(writes_module, "WRITE_BATCH", 2)
    embedder = HashEmbedder()
    store = Store.open(str(tmp_path / "s"), embeddings=embedder)
    store.ingest(catalogue(4, ["en", "de"]))
    with interrupted("add", after=1), pytest.raises(KeyboardInterrupt):
        store.repair()
    fresh_process_view()
    again = Store.open(str(tmp_path / "s"), embeddings=embedder)
    assert again.count() == 8 and len(again.ids()) == 8
    assert again.repair() == 0
    assert again.count() == 8
    assert {c.name for c in again._client.list_collections()} == {"catalog"}


def test_a_repair_cut_between_its_last_two_steps_finishes_on_open(
    tmp_path: Path, monkeypatch
) -> None:
    """The old collection dropped, the new one not yet renamed: opening finishes it."""
    import polyrank.retrieval._chroma as chroma_module

    real = chroma_module.settle_swap
    calls: list[str] = []

    def cut(client: object, name: str, function: object) -> None:
        calls.append(name)
        if len(calls) == 1:  # the writer's check before it starts
            return real(client, name, function)
        client.delete_collection(name)  # type: ignore[attr-defined]
        raise KeyboardInterrupt  # before the new one is renamed

    embedder = HashEmbedder()
    store = Store.open(str(tmp_path / "s"), embeddings=embedder)
    store.ingest(catalogue(3, ["en", "de"]))
    monkeypatch.setattr(chroma_module, "settle_swap", cut)
    with pytest.raises(KeyboardInterrupt):
        store.repair()
    monkeypatch.setattr(chroma_module, "settle_swap", real)
    assert {c.name for c in store._client.list_collections()} == {"catalog.polyrank-new"}
    fresh_process_view()
    again = Store.open(str(tmp_path / "s"), embeddings=embedder, create=False)
    assert sorted(again.ids()) == sorted(i.id for i in catalogue(3, ["en", "de"]))


def test_sync_with_an_empty_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: `ingest empty.jsonl --sync` said "deleted 7 item(s)", exit 0."""
    assert ingest_small(tmp_path / "s") == 0
    (tmp_path / "empty.jsonl").write_text("")
    capsys.readouterr()
    args = ["ingest", str(tmp_path / "empty.jsonl"), "--store", str(tmp_path / "s"), "--sync"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "would delete 7 of the store's 7 items (every item)" in err
    assert "--allow-delete-all" in err
    assert len(Store.open(str(tmp_path / "s")).ids()) == 7
    one = Path(SMALL_CATALOG).read_text().splitlines()[:2]
    (tmp_path / "two.jsonl").write_text("\n".join(one) + "\n")
    assert main([*args[:1], str(tmp_path / "two.jsonl"), *args[2:]]) == 1  # 5 of 7: refused
    assert "would delete 5 of the store's 7 items (71% of the items)" in capsys.readouterr().err
    assert main([*args, "--allow-delete-all"]) == 0
    assert "deleted 7 item(s)" in capsys.readouterr().out
    assert Store.open(str(tmp_path / "s")).ids() == []


def test_a_cut_short_ingest_leaves_no_stale_member_list(tmp_path: Path) -> None:
    """Was: French versions added to en/de groups, SIGINT while the stayers' lists were
    updated: their lists lacked the new version for good, and a full re-ingest said
    "unchanged"."""
    embedder = HashEmbedder()
    store = Store.open(str(tmp_path / "s"), embeddings=embedder)
    store.ingest(catalogue(5, ["en", "de"]))
    with interrupted("update"), pytest.raises(KeyboardInterrupt):
        store.ingest(catalogue(5, ["fr"]))
    fresh_process_view()
    reader = Store.open(str(tmp_path / "s"), embeddings=embedder)
    truth = _groups(reader)
    assert all(len(members) == 3 for members in truth.values())
    assert _variants_seen(reader) == truth  # the reader does not trust the lists
    report = reader.ingest(catalogue(5, ["en", "de", "fr"]))
    assert report.unchanged == 15
    assert not reader._connection.dirty
    lists = {
        str(m["group"]): json.loads(str(m["members"]))
        for m in reader._col.get(include=["metadatas"])["metadatas"] or []
    }
    assert {g: set(ids) for g, ids in lists.items()} == truth  # recomputed


def test_repair_recomputes_stale_member_lists(tmp_path: Path) -> None:
    """Was: --repair copied the stale lists as they were."""
    embedder = HashEmbedder()
    store = Store.open(str(tmp_path / "s"), embeddings=embedder)
    store.ingest(catalogue(3, ["en", "de"]))
    got = store._col.get(include=["metadatas"])
    stale = [{**(m or {}), "members": json.dumps(["nobody"])} for m in got["metadatas"] or []]
    store._col.update(ids=got["ids"], metadatas=stale)
    store.repair()
    assert _variants_seen(store) == _groups(store)
    assert "nobody" not in json.dumps(store._col.get(include=["metadatas"])["metadatas"])


def test_a_large_group_carries_no_member_list(tmp_path: Path) -> None:
    """Was: every item of a 4,000-version group held all 4,000 ids (761 MB, 9.4 s delete)."""
    from polyrank.retrieval._groups import MEMBERS_LISTED_MAX

    embedder = HashEmbedder()
    store = Store.open(str(tmp_path / "s"), embeddings=embedder)
    many = [item(f"x{i}", "big", "en") for i in range(MEMBERS_LISTED_MAX + 1)]
    store.ingest([*many, item("y-en", "small", "en")])
    metas = store._col.get(include=["metadatas"])["metadatas"] or []
    assert {m["members"] for m in metas if m["group"] == "big"} == {""}
    assert store.variants(["big"])["big"] and len(store.variants(["big"])["big"]) == len(many)
    store.delete(["x0"])
    assert len(store.variants(["big"])["big"]) == MEMBERS_LISTED_MAX


def test_repair_rebuilds_from_the_rows_when_the_index_file_is_truncated(
    tmp_path: Path,
) -> None:
    """Was: a kill during the index save left a truncated pickle; every command, --repair
    included, said "Error deserializing pickle file"."""
    embedder = HashEmbedder()
    store = Store.open(str(tmp_path / "s"), embeddings=embedder)
    items = catalogue(700, ["en", "de"])  # past Chroma's 1,000-item threshold to save
    store.ingest(items)
    store.close()
    fresh_process_view()
    pickles = list((tmp_path / "s").glob("*/index_metadata.pickle"))
    assert pickles
    for pickle in pickles:
        pickle.write_bytes(pickle.read_bytes()[:100])
    broken = Store.open(str(tmp_path / "s"), embeddings=embedder)
    with pytest.raises(RetrievalError, match="ingest --repair"):
        broken.search("anything", 3)
    assert broken.repair() == len(items)  # every vector computed again
    fresh_process_view()
    fixed = Store.open(str(tmp_path / "s"), embeddings=embedder)
    assert fixed.count() == len(items)
    hit = fixed.search(items[5].passage(), 1)[0]
    assert hit.group == items[5].group_key
    assert {v.id for v in hit.variants} == {items[4].id, items[5].id}


def test_a_full_disk_is_named_as_such(monkeypatch, tmp_path: Path) -> None:
    """Was: "store upsert failed (InternalError): Error in compaction", hint --repair."""
    import shutil
    from collections import namedtuple

    from chromadb.errors import InternalError

    from polyrank.retrieval._chroma import Collection

    class Full:
        def upsert(self, **_: object) -> None:
            raise InternalError("Error in compaction: Failed to apply logs")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 10**9, 4096))
    with pytest.raises(RetrievalError) as caught:
        Collection(Full(), tmp_path).upsert(ids=["a"])
    assert "the disk holding the store" in str(caught.value) and "is full" in str(caught.value)
    assert "free some space" in caught.value.hint


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``polyrank`` in another process (a writer the reader knows nothing of)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "polyrank", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_a_long_lived_reader_follows_other_processes_writes(tmp_path: Path) -> None:
    """Was: after another process's `ingest --sync` or `delete` a TypeError ('NoneType'
    object is not subscriptable); its added items never appeared; after its --repair
    "collection does not exist"."""
    path = str(tmp_path / "s")
    assert ingest_small(tmp_path / "s") == 0
    reader = Store.open(path)
    assert {c.id for c in reader.search("Wanderschuhe", 7)} >= {"g1-de"}
    lines = Path(SMALL_CATALOG).read_text().splitlines()
    kept = [line for line in lines if '"id": "b1"' not in line]
    extra = json.dumps(
        {"id": "n1", "title": "Neues Wanderbuch", "language": "de", "domain": "books"}
    )
    (tmp_path / "next.jsonl").write_text("\n".join([*kept, extra]) + "\n")
    done = _cli("ingest", str(tmp_path / "next.jsonl"), "--store", path, "--sync")
    assert done.returncode == 0, done.stderr
    found = {c.id for c in reader.search("Wanderbuch", 7)}
    assert "n1" in found and "b1" not in found
    assert _cli("delete", "n1", "--store", path).returncode == 0
    assert "n1" not in {c.id for c in reader.search("Wanderbuch", 7)}
    assert _cli("ingest", "--repair", "--store", path).returncode == 0
    assert len(reader.search("Wanderschuhe", 7)) == 4  # groups g1, b2, m1, f1
    assert sorted(reader.ids()) == sorted(json.loads(line)["id"] for line in kept)


def test_a_store_that_vanished_is_named(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    store = Store.open(str(tmp_path / "s"), embeddings=embedder)
    store.ingest(catalogue(1, ["en"]))
    store._client.delete_collection("catalog")
    with pytest.raises(RetrievalError, match="no collection 'catalog' any more"):
        store.search("x", 1)


def test_sync_refusal_names_the_api_option(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "s"), embeddings=HashEmbedder())
    store.ingest(catalogue(2, ["en"]))
    with pytest.raises(ConfigError, match="allow_delete_all=True"):
        store.ingest([], sync=True)
    assert store.ingest([], sync=True, allow_delete_all=True).deleted == 2


def test_a_short_index_is_opened_afresh_before_it_is_reported(tmp_path: Path, monkeypatch) -> None:
    """The crash tier saw Chroma's first index in a new process lack one item after ~1 in
    40 kills, while a fresh client held it: the search reopens once, then reports."""
    from polyrank.retrieval._search import Searcher, ShortIndex

    store = Store.open(str(tmp_path / "s"), embeddings=HashEmbedder())
    store.ingest(catalogue(3, ["en"]))
    real = Searcher.search
    calls: list[int] = []

    def short_once(self: Searcher, *args: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise ShortIndex("the store's vector index holds 2 of its 3 items")
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Searcher, "search", short_once)
    assert len(store.search("Item g0-en", 3)) == 3 and len(calls) == 2
