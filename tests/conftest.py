"""Shared fixtures. Real network is blocked (pytest-socket); only 127.0.0.1 is allowed."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from polyrank.retrieval import Store, USEEmbedder, load_catalog

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "data" / "catalog.jsonl"
FIXTURES = Path(__file__).parent / "fixtures"


class CountingEmbedder:
    """A real embedder (use-m3, fast) that counts how many passages it embedded."""

    def __init__(self) -> None:
        self.inner = USEEmbedder()
        self.spec = self.inner.spec
        self.passages = 0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages += len(texts)
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)


@pytest.fixture
def counting_embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture(scope="session")
def sample_store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample catalogue ingested once per session with the default embeddings."""
    path = tmp_path_factory.mktemp("sample-store")
    Store.open(str(path)).ingest(load_catalog(CATALOG))
    return path


@pytest.fixture
def sample_store(sample_store_path: Path) -> Store:
    return Store.open(str(sample_store_path))


@pytest.fixture(scope="session")
def use_store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample catalogue ingested once per session with use-m3 (fast to build)."""
    path = tmp_path_factory.mktemp("use-store")
    Store.open(str(path), embeddings="use-m3").ingest(load_catalog(CATALOG))
    return path


@pytest.fixture
def use_store(use_store_path: Path, tmp_path: Path) -> Store:
    """A private copy of the use-m3 sample store, free to modify."""
    copy = tmp_path / "store"
    shutil.copytree(use_store_path, copy)
    return Store.open(str(copy), embeddings="use-m3")


SMALL_CATALOG = str(FIXTURES / "small_catalog.jsonl")


def ingest_small(store: Path, *extra: str) -> int:
    """``polyrank ingest`` of the 7-item fixture catalogue with use-m3 (fast)."""
    from polyrank.agent._cli import main

    return main(["ingest", SMALL_CATALOG, "--store", str(store), "--embeddings", "use-m3",
                 *extra])  # fmt: skip


@pytest.fixture
def small_use_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert ingest_small(tmp_path / "small") == 0
    capsys.readouterr()
    return str(tmp_path / "small")


@pytest.fixture(autouse=True)
def _server_modes(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test remembers the structured-output modes servers took in a file of its own:
    scripted servers reuse ports, and a refusal one test recorded must not reach another."""
    import polyrank.agent._server as server

    path = tmp_path_factory.mktemp("modes") / "server-modes.json"
    monkeypatch.setattr(server, "MODES_PATH", path)
    monkeypatch.setattr(server, "_LIMITS", {})
    return path
