"""Configuration is read at the edge: library code reads no environment variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polyrank.agent import ConfigError, Settings
from polyrank.retrieval import ProcessSettings, configure
from polyrank.retrieval._derived import cache_home
from polyrank.retrieval._embeddings import blas_threads
from polyrank.retrieval._process import process_settings
from tests.conftest import ROOT

#: The one library module that reads the environment: it builds Settings.
EDGE = {ROOT / "agent" / "_config.py"}
_READS = re.compile(r"os\.environ|getenv\(|environ\.get\(|from os import .*environ")


def test_library_modules_read_no_environment_variable() -> None:
    modules = sorted((ROOT / "retrieval").rglob("*.py")) + sorted((ROOT / "agent").rglob("*.py"))
    assert len(modules) > 40
    readers = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in modules
        if path not in EDGE
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _READS.search(line) and not line.lstrip().startswith("#")
    ]
    assert readers == []


@pytest.fixture
def restored() -> object:
    before = process_settings()
    yield before
    configure(before)


def test_settings_load_configures_the_process_from_the_environment(
    restored: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POLYRANK_CACHE_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("POLYRANK_BLAS_THREADS", "3")
    Settings.load()
    assert cache_home() == tmp_path / "xdg" / "polyrank" and blas_threads() == 3
    monkeypatch.setenv("POLYRANK_CACHE_HOME", str(tmp_path / "own"))
    Settings.load(blas_threads=2)  # an argument wins over the environment
    assert cache_home() == tmp_path / "own" and blas_threads() == 2
    monkeypatch.setenv("POLYRANK_BLAS_THREADS", "many")
    with pytest.raises(ConfigError, match="POLYRANK_BLAS_THREADS='many'"):
        Settings.load()
    assert blas_threads() == 2  # a refused setting changes nothing


def test_the_library_alone_uses_the_defaults_whatever_the_environment(
    restored: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLYRANK_CACHE_HOME", "/nowhere")
    monkeypatch.setenv("POLYRANK_BLAS_THREADS", "7")
    configure(ProcessSettings())
    assert cache_home() == Path.home() / ".cache" / "polyrank" and blas_threads() == 1
    with pytest.raises(ConfigError, match="at least 1"):
        ProcessSettings(blas_threads=0)


def test_an_openai_backend_from_python_takes_its_key_as_an_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from polyrank.retrieval._endpoint import credentials

    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    with pytest.raises(ConfigError, match="pass api_key= or base_url="):
        credentials("openai:m", None, None)
    assert credentials("openai:m", None, "sk-given") == (None, "sk-given")
    assert Settings.load().credentials()["api_key"] == "sk-from-env"  # the edge reads it
