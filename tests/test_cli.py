from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from polyrank._cli import main
from polyrank.retrieval import Store
from tests.conftest import FIXTURES, ROOT

SMALL = ["ingest", str(FIXTURES / "small_catalog.jsonl"), "--embeddings", "use-m3"]


def ingest_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The small fixture catalogue in a fresh use-m3 store; returns the store path."""
    store = str(tmp_path / "s")
    assert main([*SMALL, "--store", store]) == 0
    capsys.readouterr()
    return store


def test_search_json_is_stable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "s")
    assert main([*SMALL, "--store", store]) == 0
    assert "7 added" in capsys.readouterr().out
    assert main(["search", "Wanderschuhe", "--k", "2", "--json", "--store", store]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"query", "language", "embeddings", "k", "results"}
    assert payload["language"] == "de" and payload["embeddings"] == "use-m3"
    first = payload["results"][0]
    assert set(first) == {"rank", "id", "group", "score", "title", "language", "domain", "variants"}
    assert (first["rank"], first["id"], first["language"]) == (1, "g1-de", "de")
    assert {v["language"] for v in first["variants"]} == {"de", "en", "ja"}


def test_search_domain_filter_from_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ingest_small(tmp_path, capsys)
    main(["search", "hiking", "--domain", "books", "--json", "--store", store])
    results = json.loads(capsys.readouterr().out)["results"]
    assert {r["domain"] for r in results} == {"books"} and len(results) == 2


def test_unknown_embeddings_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["search", "x", "--store", str(tmp_path), "--embeddings", "fuson"])
    err = capsys.readouterr().err
    assert code == 1 and "did you mean 'fusion'" in err and "Traceback" not in err


def test_help_explains_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("ingest", "search", "demo"):
        assert command in out


def test_recommend_json_with_user(use_store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(use_store.folder)  # the sample catalogue, ingested once a session (use-m3)
    code = main(
        [
            "recommend",
            "ラーメン",
            "--user",
            str(ROOT / "data/users/kenji.yaml"),
            "--k",
            "3",
            "--json",
            "--store",
            store,
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["user_id"] == "kenji" and len(payload["items"]) == 3
    assert set(payload["items"][0]) >= {"id", "rank", "score", "title", "language", "reason"}
    trace = payload["trace"]
    assert trace["ranker"] == "local" and trace["request_language"] == "ja"
    assert set(trace["latency_ms"]) >= {"language", "context", "retrieve", "rank", "total"}


def test_recommend_table_says_which_ranker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ingest_small(tmp_path, capsys)
    assert main(["recommend", "hiking boots", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "ranker local" in out and "Waterproof hiking boots" in out


def test_recommend_with_missing_profile_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "recommend",
            "x",
            "--user",
            str(tmp_path / "nobody.yaml"),
            "--store",
            str(tmp_path / "s"),
            "--embeddings",
            "use-m3",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "nobody.yaml: no such profile file" in err


@pytest.mark.parametrize("command", [["search", "x"], ["recommend", "x"], ["chat"]])
def test_empty_store_says_what_to_do(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*command, "--store", str(tmp_path / "empty"), "--embeddings", "use-m3"])
    err = capsys.readouterr().err
    assert code == 1 and "there is no store at" in err and "polyrank ingest" in err
    assert not (tmp_path / "empty").exists()  # searching never creates a store


def test_search_and_recommend_take_the_same_filters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: search lacked --exclude-language and --max-price (four restatements of the
    filter vocabulary). Both commands now build one ``Filters``."""
    store = ingest_small(tmp_path, capsys)
    for command in ("search", "recommend"):
        assert main([command, "hiking boots", "--max-price", "115", "--json",
                     "--store", store]) == 0  # fmt: skip
        payload = json.loads(capsys.readouterr().out)
        ids = [r["id"] for r in payload.get("results", payload.get("items", []))]
        assert ids and set(ids) <= {"g1-en", "g1-de"}  # 120 USD ≈ 110 EUR, 110 EUR
        assert main([command, "hiking boots", "--max-price", "100", "--json",
                     "--store", store]) == 0  # fmt: skip
        payload = json.loads(capsys.readouterr().out)
        assert payload.get("results", payload.get("items")) == []  # no other item is priced
        assert main([command, "hiking", "--exclude-language", "en", "--exclude", "b1",
                     "--json", "--store", store]) == 0  # fmt: skip
        payload = json.loads(capsys.readouterr().out)
        rows = payload.get("results", payload.get("items", []))
        assert rows and all(r["language"] != "en" and r["id"] != "b1" for r in rows)
    with pytest.raises(SystemExit) as usage:
        main(["search", "hiking", "--max-price", "nan", "--store", store])
    assert usage.value.code == 2
    assert "'nan' is not an amount" in capsys.readouterr().err
    # a ceiling in another currency is converted (1 CHF ≈ 1.05 EUR in the rate table)
    for ceiling, found in (("110 CHF", True), ("100 CHF", False)):
        assert main(["search", "hiking boots", "--max-price", ceiling, "--json",
                     "--store", store]) == 0  # fmt: skip
        rows = json.loads(capsys.readouterr().out)["results"]
        assert bool(rows) == found and {r["id"] for r in rows} <= {"g1-en", "g1-de"}
    with pytest.raises(SystemExit):
        main(["search", "hiking", "--max-price", "30 XYZ", "--store", store])
    assert "unknown currency 'XYZ'" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_works_from_any_folder_and_says_what_next(
    tmp_path: Path,
    sample_store_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Was: `polyrank demo` outside a clone failed (data/catalog.jsonl, data/users/*.yaml
    are relative to the repo). The sample ships in the package; sample users go by name.
    The demo runs as a process of its own; the follow-up recommend runs in this one, in the
    same folder (a second process loaded both encoders again: ~15 s on 2 cores)."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(sample_store_path, tmp_path / ".polyrank" / "store")  # ingest: a no-op
    polyrank = str(Path(sys.executable).parent / "polyrank")
    demo = subprocess.run([polyrank, "demo", "--k", "1"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert "ingesting the sample catalogue into .polyrank/store" in demo.stderr
    assert "466 items from" in demo.stdout and "466 unchanged" in demo.stdout
    assert demo.stdout.count("ranker local") == 8
    assert "Try next:" in demo.stdout and "polyrank chat --user ana" in demo.stdout
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["recommend", "東京で食べたいラーメン", "--user", "kenji", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["user_id"] == "kenji"


def test_the_command_skips_teardown_yet_flushes_and_cleans_up(tmp_path: Path) -> None:
    """``polyrank`` ends with os._exit after main (the interpreter's teardown took 0.2 s of
    each call): the exit codes, everything written to a pipe, and the removal of a
    read-only store's temporary copy must survive that."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import ingest_small

    assert ingest_small(tmp_path / "s") == 0
    frozen = tmp_path / "frozen"
    shutil.copytree(tmp_path / "s", frozen)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    command = [sys.executable, "-m", "polyrank"]
    if subprocess.run(["chattr", "-R", "+i", str(frozen)], capture_output=True).returncode:
        pytest.skip("chattr +i is not permitted here")
    try:
        search = [*command, "search", "Wanderführer", "--store", str(frozen), "--k", "3", "--json"]
        ran = subprocess.run(search, capture_output=True, text=True, env=env)
    finally:
        subprocess.run(["chattr", "-R", "-i", str(frozen)], check=True)
    assert ran.returncode == 0, ran.stderr
    assert len(json.loads(ran.stdout)["results"]) == 3  # the whole answer reached the pipe
    assert "reading a temporary copy" in ran.stderr
    assert list(temp.iterdir()) == []  # the copy was removed at exit
    missing = subprocess.run([*command, "search", "x", "--store", str(tmp_path / "none")],
                             capture_output=True, text=True, env=env)  # fmt: skip
    assert missing.returncode == 1 and missing.stderr.startswith("polyrank: error:")
    bad = subprocess.run([*command, "search", "x", "--k", "zero"], capture_output=True)
    assert bad.returncode == 2
