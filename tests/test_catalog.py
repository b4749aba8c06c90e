from __future__ import annotations

from pathlib import Path

import pytest

from polyrank._cli import main
from polyrank.agent import CatalogError
from polyrank.retrieval import Store, content_hash, load_catalog
from tests.conftest import FIXTURES


def test_bad_file_lists_every_bad_line_with_field() -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(FIXTURES / "bad_catalog.jsonl")
    found = {(p.line, p.field) for p in info.value.problems}
    assert (2, "title") in found
    assert (3, "json") in found
    assert (4, "domain") in found
    assert (5, "id") in found
    assert (6, "language") in found
    assert (6, "colour") in found  # unknown fields are refused, not silently dropped
    assert 1 not in {p.line for p in info.value.problems}
    message = str(info.value)
    assert "bad_catalog.jsonl:line 3: json" in message
    assert "duplicate id 'ok-1' (first on line 1)" in message


def test_bad_file_leaves_store_untouched(tmp_path: Path, counting_embedder) -> None:
    store = Store.open(str(tmp_path), embeddings=counting_embedder)
    store.ingest(load_catalog(FIXTURES / "small_catalog.jsonl"))
    before = store.count()
    code = main(
        [
            "ingest",
            str(FIXTURES / "bad_catalog.jsonl"),
            "--store",
            str(tmp_path),
            "--embeddings",
            "use-m3",
        ]
    )
    assert code == 1
    assert store.count() == before
    assert store.get(["ok-1"]) == []


def test_cli_reports_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ingest", str(FIXTURES / "bad_catalog.jsonl"), "--store", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "5 bad lines" in err
    assert "line 4: domain: Field required" in err
    assert "Traceback" not in err


def test_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no such file"):
        load_catalog(tmp_path / "absent.jsonl")


def test_language_is_detected_when_absent() -> None:
    items = {i.id: i for i in load_catalog(FIXTURES / "small_catalog.jsonl")}
    assert items["b1"].language == "de"
    assert items["g1-ja"].language == "ja"


def test_content_hash_changes_with_content() -> None:
    item = load_catalog(FIXTURES / "small_catalog.jsonl")[0]
    assert content_hash(item) == content_hash(item.model_copy())
    assert content_hash(item) != content_hash(item.model_copy(update={"title": "Other"}))


def test_sample_catalogue_meets_the_brief() -> None:
    items = load_catalog(Path(__file__).parent.parent / "data" / "catalog.jsonl")
    languages = {i.language for i in items}
    groups: dict[str, set[str | None]] = {}
    for item in items:
        if item.group:
            groups.setdefault(item.group, set()).add(item.language)
    assert len(items) >= 400
    assert {"en", "es", "de", "fr", "it", "pt", "zh", "ja", "ko", "ru"} <= languages
    assert len(languages) >= 10
    assert len({i.domain for i in items}) >= 6
    assert sum(1 for langs in groups.values() if len(langs) >= 2) >= 60
