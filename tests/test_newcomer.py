"""A newcomer's first hour (issue 20): --version and __version__, package metadata,
py.typed everywhere, --json that keeps non-ASCII text, ingest progress in a log."""

from __future__ import annotations

import importlib
import json
import tomllib
from pathlib import Path

import pytest

from polyrank._cli import main
from tests.conftest import CATALOG, ROOT

PACKAGES = ("agent", "retrieval", "evals", "prompts")


def test_version_option_and_attribute(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"polyrank {version('polyrank')}\n"
    for package in ("agent", "retrieval", "evals"):
        assert importlib.import_module(f"polyrank.{package}").__version__ == version("polyrank")


def test_package_metadata_and_py_typed_in_every_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    classifiers = project["project"]["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Programming Language :: Python :: 3.11") for c in classifiers)
    data = project["tool"]["setuptools"]["package-data"]
    for package in PACKAGES:
        assert (ROOT / package / "py.typed").is_file(), package
        assert "py.typed" in data[f"polyrank.{package}"], package


def test_json_output_keeps_non_ascii_text(
    small_use_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["search", "登山靴"], ["recommend", "登山靴", "--k", "2"]):
        assert main([*command, "--store", small_use_store, "--json"]) == 0
        out = capsys.readouterr().out
        assert "登山靴" in out and "\\u" not in out
        json.loads(out)


def test_ingest_reports_progress_in_a_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: nothing at all when stderr is not a terminal (CI logs)."""
    code = main(["ingest", str(CATALOG), "--store", str(tmp_path / "s"), "--embeddings", "use-m3"])
    err = capsys.readouterr().err
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("polyrank: embedded ")]
    total = sum(1 for line in CATALOG.read_text(encoding="utf-8").splitlines() if line.strip())
    assert 2 <= len(lines) <= 11 and lines[-1].startswith(f"polyrank: embedded {total}/{total}")
    assert "items/s" in lines[-1]


def test_the_sample_data_has_a_public_path(use_store_path: Path) -> None:
    """Was: the README's example named data/ files that exist only in a clone."""
    from polyrank.agent import Agent
    from polyrank.agent.sample import CATALOG, user

    assert CATALOG.is_file() and user("ana").is_file()
    rec = Agent(store=str(use_store_path)).recommend("Quiero aprender a programar",
                                                     user=user("ana"), k=3)  # fmt: skip
    assert rec.user_id == "ana" and len(rec.items) == 3
