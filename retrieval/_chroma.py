"""Every chromadb call of polyrank: clients, the guarded collection, the write lock, the
rebuild's swap, and the adapter that hands polyrank's embedders to Chroma.

Imported only when a store is opened, so that ``import polyrank.retrieval`` does not import
chromadb (0.5 s). The other store modules (:mod:`._search`, :mod:`._writes`, :mod:`._groups`)
reach Chroma only through the :class:`Collection` and :class:`Connection` made here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from chromadb import Documents, EmbeddingFunction, Embeddings

from polyrank.retrieval._embeddings import Embedder
from polyrank.retrieval._groups import chunks
from polyrank.retrieval.errors import REPAIR_HINT, ConfigError, RetrievalError

__all__ = [
    "ChromaEmbeddingFunction",
    "Collection",
    "Connection",
    "http_client",
    "persistent_client",
    "settle_swap",
    "watched_calls",
]

DEFAULT_STORE = ".polyrank/store"
_MODEL_KEY = "polyrank_embeddings"
#: Items per page when the whole collection is read.
PAGE = 1000
#: Collection metadata: a stamp every write changes (readers compare it before they trust
#: what they remember), and whether a write is under way or was cut short (member lists
#: may then be stale: readers look variants up by group, the next write recomputes them).
STAMP = "polyrank_stamp"
DIRTY = "polyrank_dirty"
#: A rebuild writes a complete new collection under ``NAME.polyrank-new``, marks it
#: complete, then swaps names: a crash at any point leaves the old or the new one whole.
NEW_SUFFIX = ".polyrank-new"
COMPLETE = "polyrank_complete"
#: A Chroma server's writers take a lock collection ``NAME.polyrank-lock`` (creating a
#: collection whose name exists fails on the server, so only one succeeds); its lease is
#: renewed while the writer lives and a crashed writer's lock expires after LOCK_LEASE s.
LOCK_SUFFIX = ".polyrank-lock"
LOCK_LEASE = 30.0
#: Seconds a second writer waits for the first to finish before giving up.
WRITE_LOCK_TIMEOUT = 600.0
#: Free bytes under which a failed write is reported as a full disk (Chroma says "Error in
#: compaction" or SQLite "database or disk is full").
_DISK_LOW = 16 * 2**20
READ_ONLY_HINT = "writing (ingest, delete, --repair) needs a folder you can write to"
BUSY_HINT = "wait for the other writer (ingest, delete or --repair) to finish, then run this again"
_DISK_FULL_HINT = (
    "free some space on that disk, then run this again (`polyrank ingest --repair` if a "
    "search then reports a damaged index)"
)


class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Adapts an :class:`Embedder` to Chroma, keeping the query/passage roles apart.

    Always pass this (never Chroma's default, which downloads a model).
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embedder.embed_passages(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        return list(self.embedder.embed_queries(list(input)))

    @staticmethod
    def name() -> str:
        return "polyrank"

    def get_config(self) -> dict[str, Any]:
        return {"spec": self.embedder.spec}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        from polyrank.retrieval.registry import resolve

        return ChromaEmbeddingFunction(resolve("embeddings", str(config["spec"])))

    def default_space(self) -> Any:
        return "cosine"


def says_read_only(text: str) -> bool:
    """Whether an error message is SQLite's or the OS's "read-only"."""
    lowered = text.lower()
    return "readonly" in lowered or "read-only" in lowered


def read_only_error(location: Path | None) -> ConfigError:
    """The error for a write to a store that cannot be written."""
    return ConfigError(f"the store {str(location)!r} is read-only", hint=READ_ONLY_HINT)


def _disk_full(folder: Path | None, exc: BaseException) -> str | None:
    """The message for a failure caused by a full disk under ``folder``, else ``None``."""
    text = str(exc).lower()
    said = (
        "no space left" in text
        or "disk is full" in text
        or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)
    )
    free: int | None = None
    if folder is not None:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = None
    if not said and (free is None or free >= _DISK_LOW):
        return None
    where = f" holding the store {str(folder)!r}" if folder is not None else " of the store"
    left = f" ({free / 2**20:.1f} MiB free)" if free is not None else ""
    return f"the disk{where} is full{left}"


def _converted(name: str, exc: Exception, folder: Path | None) -> RetrievalError:
    """The RetrievalError, with a hint, for a failure of the Chroma call ``name``."""
    kind = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else kind
    if says_read_only(text):
        return RetrievalError(f"the store is read-only: {text}", hint=READ_ONLY_HINT)
    full = _disk_full(folder, exc)
    if full:
        return RetrievalError(full, hint=_DISK_FULL_HINT)
    if "connect" in kind.lower() or "connect" in text.lower():
        hint = "check that the Chroma server is running and reachable"
    else:
        hint = REPAIR_HINT
    return RetrievalError(f"store {name} failed ({kind}): {text}", hint=hint)


#: One Chroma collection call: its name, keyword arguments and result.
Call = tuple[str, dict[str, Any], Any]
_WATCHERS: list[tuple[Callable[[str, dict[str, Any]], None] | None, list[Call]]] = []


@contextlib.contextmanager
def watched_calls(
    before: Callable[[str, dict[str, Any]], None] | None = None,
) -> Iterator[list[Call]]:
    """Every Chroma collection call made inside, in order (what benchmarks and tests count);
    ``before(name, kwargs)`` runs ahead of each call (a test raises from it to cut a write
    short, as SIGINT would)."""
    entry: tuple[Callable[[str, dict[str, Any]], None] | None, list[Call]] = (before, [])
    _WATCHERS.append(entry)
    try:
        yield entry[1]
    finally:
        _WATCHERS.remove(entry)


class Collection:
    """A Chroma collection whose every call maps a failure to :class:`RetrievalError`.

    Chroma raises its own errors (``InternalError: Error finding id`` from a damaged index),
    sqlite3 and OS errors, and ``httpx.ConnectError`` when a server drops: one mapping here,
    with a hint, instead of a traceback from wherever the store happened to be called.
    Each call can be watched (:func:`watched_calls`).
    """

    def __init__(self, collection: Any, folder: Path | None = None) -> None:
        self.raw = collection
        self._folder = folder

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.raw.metadata or {})

    @property
    def id(self) -> str:
        return str(self.raw.id)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        for before, _ in _WATCHERS:
            if before is not None:
                before(name, kwargs)
        try:
            result = getattr(self.raw, name)(*args, **kwargs)
        except (RetrievalError, ConfigError):
            raise
        except Exception as exc:
            raise _converted(name, exc, self._folder) from exc
        for _, record in _WATCHERS:
            record.append((name, kwargs, result))
        return result

    def add(self, **kwargs: Any) -> Any:
        return self._call("add", **kwargs)

    def count(self) -> int:
        return int(self._call("count"))

    def delete(self, **kwargs: Any) -> Any:
        return self._call("delete", **kwargs)

    def get(self, **kwargs: Any) -> Any:
        return self._call("get", **kwargs)

    def modify(self, **kwargs: Any) -> Any:
        return self._call("modify", **kwargs)

    def query(self, **kwargs: Any) -> Any:
        return self._call("query", **kwargs)

    def update(self, **kwargs: Any) -> Any:
        return self._call("update", **kwargs)

    def upsert(self, **kwargs: Any) -> Any:
        return self._call("upsert", **kwargs)

    def pages(self, include: list[str]) -> Iterator[Any]:
        """The whole collection, one ``get`` of :data:`PAGE` items at a time."""
        for offset in range(0, self.count(), PAGE):
            yield self.get(include=include, limit=PAGE, offset=offset)

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored embeddings of these ids (unknown ids, and empty embeddings, skipped)."""
        out: dict[str, np.ndarray] = {}
        for chunk in chunks(ids):
            got = self.get(ids=chunk, include=["embeddings"])
            embeddings = got["embeddings"] if got["embeddings"] is not None else []
            for i, v in zip(got["ids"], embeddings, strict=False):
                if v is not None and len(v):
                    out[i] = np.asarray(v, dtype=np.float32)
        return out

    def nearest(
        self, vector: Any, n: int, *, ids: list[str] | None = None, with_metadata: bool = False
    ) -> tuple[list[str], list[float], list[Any] | None]:
        """The ``n`` nearest ids to ``vector`` (among ``ids`` if given), their cosine
        distances, and their metadata when asked."""
        include = ["metadatas", "distances"] if with_metadata else ["distances"]
        got = self.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=n,
            ids=ids,
            include=include,
        )
        metas = got["metadatas"][0] if with_metadata else None
        return list(got["ids"][0]), [float(d) for d in got["distances"][0]], metas


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


def forget_system(location: Path) -> None:
    """Drop Chroma's cached system for a folder (Chroma shares one per path and process)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(location), None)


def persistent_client(path: str | None, *, writable: bool = True) -> tuple[Any, Path | None]:
    """An embedded Chroma client, and the temporary copy it reads when the store folder
    cannot be written (``None`` otherwise).

    Chroma writes to its database even to open it, so a read-only store (a mounted
    snapshot, a folder without write permission) cannot be opened in place; a reader
    (``writable=False``) opens a temporary copy instead, removed on ``Store.close``.
    """
    import chromadb

    location = Path(path or DEFAULT_STORE)
    try:
        location.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(location), settings=_settings()), None
    except Exception as exc:
        forget_system(location)
        if not (says_read_only(str(exc)) or isinstance(exc, PermissionError)):
            if isinstance(exc, OSError):
                raise ConfigError(f"cannot use store path {str(location)!r}: {exc}") from exc
            raise RetrievalError(f"cannot open the store {str(location)!r}: {exc}") from exc
        if writable:
            raise read_only_error(location) from exc
    copy = Path(tempfile.mkdtemp(prefix="polyrank-readonly-"))
    try:
        shutil.copytree(location, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock"))
        for entry in [copy, *copy.rglob("*")]:  # copies keep the read-only mode bits
            entry.chmod(entry.stat().st_mode | 0o200)
        return chromadb.PersistentClient(path=str(copy), settings=_settings()), copy
    except Exception as exc:
        shutil.rmtree(copy, ignore_errors=True)
        raise RetrievalError(
            f"the store {str(location)!r} is read-only and a temporary copy failed: {exc}"
        ) from exc


def drop_copy(copy: Path) -> None:
    """Remove a read-only store's temporary copy and Chroma's system for it."""
    forget_system(copy)
    shutil.rmtree(copy, ignore_errors=True)


def http_client(host: str, port: int) -> Any:
    """A client of the Chroma server at ``host:port``."""
    import chromadb

    try:
        return chromadb.HttpClient(host=host, port=port, settings=_settings())
    except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
        raise RetrievalError(f"cannot reach Chroma server at {host}:{port}: {exc}") from exc


def close_client(client: Any) -> None:
    close = getattr(client, "close", None)
    if callable(close):
        close()


def names(client: Any) -> set[str]:
    return {c.name for c in client.list_collections()}


def exists(client: Any, collection: str) -> bool:
    """Whether the collection exists (or a rebuild of it waits to take its name)."""
    try:
        found = names(client)
    except Exception:
        return False
    return collection in found or collection + NEW_SUFFIX in found


def recorded_embeddings(client: Any, collection: str) -> str | None:
    """The embedding spec the collection (or its waiting rebuild) was built with."""
    for name in (collection, collection + NEW_SUFFIX):
        try:
            col = client.get_collection(name)
        except Exception:
            continue
        value = (col.metadata or {}).get(_MODEL_KEY)
        return str(value) if value else None
    return None


def settle_swap(client: Any, name: str, function: Any) -> None:
    """Finish or undo a rebuild that was cut short (call with the write lock held).

    A complete new collection takes the name (the old one is dropped first, so this is
    where a crash between the two steps ends up); an incomplete one is dropped, the old
    one being whole.
    """
    found = names(client)
    new = name + NEW_SUFFIX
    if new not in found:
        return
    built = client.get_collection(new, embedding_function=function)
    if (built.metadata or {}).get(COMPLETE):
        if name in found:
            client.delete_collection(name)
        built.modify(name=name)
    else:
        client.delete_collection(new)


def stamp_of(col: Any) -> tuple[str, str]:
    """What a reader compares to know whether a collection changed: its id (a rebuild
    makes a new one) and the stamp each write sets."""
    return str(col.id), str((col.metadata or {}).get(STAMP, ""))


def plain(metadata: Any) -> dict[str, Any]:
    """Collection metadata that ``modify`` accepts (Chroma refuses any ``hnsw:`` key there,
    even unchanged; the distance stays in the collection's configuration)."""
    return {k: v for k, v in dict(metadata or {}).items() if not str(k).startswith("hnsw:")}


class _ServerLock:
    """One writer at a time on a Chroma server: a lock collection only one process can
    create, with a lease its holder renews (a crashed writer's lock expires).

    Two waiters that find the same expired lease at the same moment can both take it; the
    lease is LOCK_LEASE seconds, far longer than any write pause, so that needs a writer
    that died and two that woke within milliseconds of each other.
    """

    def __init__(self, client: Any, name: str, function: Any) -> None:
        self._client = client
        self._name = name
        self._function = function
        self._owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _lease(self) -> dict[str, Any]:
        return {
            "owner": self._owner,
            "expires": time.time() + LOCK_LEASE,
            "holder": f"{socket.gethostname()}:{os.getpid()}",
        }

    def acquire(self, timeout: float) -> bool:
        """Take the lock; ``False`` after ``timeout`` seconds of another holder."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._client.create_collection(
                    self._name, metadata=self._lease(), embedding_function=self._function
                )
                break
            except Exception:
                held = self._held()
                if held is not None and float(held.get("expires", 0)) < time.time():
                    with contextlib.suppress(Exception):  # a crashed writer's lease
                        self._client.delete_collection(self._name)
                    continue
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, daemon=True)
        self._renewer.start()
        return True

    def _held(self) -> dict[str, Any] | None:
        try:
            return dict(self._client.get_collection(self._name).metadata or {})
        except Exception:
            return None

    def _renew(self) -> None:
        while not self._stop.wait(LOCK_LEASE / 3):
            with contextlib.suppress(Exception):  # a dropped server: the write fails anyway
                self._client.get_collection(self._name).modify(metadata=self._lease())

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        held = self._held()
        if held is not None and held.get("owner") == self._owner:
            with contextlib.suppress(Exception):
                self._client.delete_collection(self._name)


@contextlib.contextmanager
def _locked(
    client: Any, folder: Path | None, name: str, function: Any, read_only_copy: Path | None
) -> Iterator[None]:
    """The store's write lock: a file lock in an embedded store's folder, a lock
    collection on a Chroma server, nothing for a private read-only copy.

    A second writer waits up to :data:`WRITE_LOCK_TIMEOUT` seconds, then gets a
    RetrievalError (a runtime fault, retryable: the same command succeeds once the other
    writer is done): two ingests whose writes overlapped corrupted the index for good.
    """
    busy = RetrievalError(
        f"another polyrank process is writing to the store {folder or name} "
        f"(waited {WRITE_LOCK_TIMEOUT:g} s)",
        hint=BUSY_HINT,
    )
    if read_only_copy is not None:
        yield
        return
    if folder is None:
        server = _ServerLock(client, name + LOCK_SUFFIX, function)
        if not server.acquire(WRITE_LOCK_TIMEOUT):
            raise busy
        try:
            yield
        finally:
            server.release()
        return
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / "write.lock"), timeout=WRITE_LOCK_TIMEOUT)
    try:
        lock.acquire()
    except Timeout as exc:
        raise busy from exc
    except OSError as exc:
        raise read_only_error(folder) from exc
    try:
        yield
    finally:
        lock.release()


def read_sqlite_rows(folder: Path, collection_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every item of a collection as (id, document, metadata), read from an embedded
    store's SQLite file itself: what ``--repair`` rebuilds from when Chroma cannot load the
    vector index (a truncated index file made every call fail, ``--repair`` included)."""
    uri = f"{(folder / 'chroma.sqlite3').resolve().as_uri()}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            segments = [
                row[0]
                for row in db.execute(
                    "select id from segments where collection = ? and scope = 'METADATA'",
                    (collection_id,),
                )
            ]
            rows = db.execute(
                "select e.embedding_id, m.key, m.string_value, m.int_value, m.float_value, "
                "m.bool_value from embeddings e left join embedding_metadata m on m.id = e.id "
                f"where e.segment_id in ({', '.join('?' for _ in segments)}) order by e.id",
                segments,
            ).fetchall()
    except sqlite3.Error as exc:
        raise RetrievalError(
            f"cannot read the store's database {str(folder)!r}: {exc}",
            hint="the database itself is damaged: ingest the catalogue into a new --store",
        ) from exc
    items: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for item_id, key, text, integer, number, flag in rows:
        document, meta = items.setdefault(str(item_id), ([""], {}))
        if key is None:
            continue
        if key == "chroma:document":
            document[0] = str(text or "")
        elif not str(key).startswith("chroma:"):
            if text is not None:
                meta[key] = text
            elif flag is not None:
                meta[key] = bool(flag)
            elif integer is not None:
                meta[key] = int(integer)
            elif number is not None:
                meta[key] = float(number)
    return [(item_id, doc[0], meta) for item_id, (doc, meta) in items.items()]


class Connection:
    """One store's collection on its client, followed across processes.

    Holds the client, the collection (a :class:`Collection`), what was last seen of it (its
    stamp, and whether a write was cut short), and the write lock. Opening creates the
    collection if it is missing and checks the embedding model it was built with.
    """

    def __init__(
        self,
        client: Any,
        embedder: Embedder,
        name: str,
        *,
        folder: Path | None = None,
        read_only_copy: Path | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.folder = folder
        self.read_only_copy = read_only_copy
        self.function = ChromaEmbeddingFunction(embedder)
        col = self._open(embedder.spec)
        self.collection = Collection(col, folder)
        self.stamp = stamp_of(col)
        #: A write is under way or was cut short: member lists may be stale.
        self.dirty = bool((col.metadata or {}).get(DIRTY))

    def _open(self, spec: str) -> Any:
        existing = names(self.client)
        name = self.name
        if name not in existing and name + NEW_SUFFIX in existing:
            with self.lock():  # a rebuild was cut short between its two last steps
                settle_swap(self.client, name, self.function)
            existing = names(self.client)
        if name in existing:
            col = self.client.get_collection(name, embedding_function=self.function)
        else:
            try:
                col = self.client.create_collection(
                    name,
                    embedding_function=self.function,
                    metadata={"hnsw:space": "cosine", _MODEL_KEY: spec},
                )
            except Exception:  # another process created it meanwhile (a server)
                if name not in names(self.client):
                    raise
                col = self.client.get_collection(name, embedding_function=self.function)
        built_with = (col.metadata or {}).get(_MODEL_KEY)
        if built_with and built_with != spec:
            raise ConfigError(
                f"the store's collection {name!r} was built with embeddings "
                f"{built_with!r}, but this run uses {spec!r}",
                hint=f"pass --embeddings {built_with}, or ingest into another --store",
            )
        return col

    def close(self) -> None:
        close_client(self.client)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return _locked(self.client, self.folder, self.name, self.function, self.read_only_copy)

    def settle(self) -> None:
        """Finish or undo a rebuild that was cut short (with the write lock held)."""
        settle_swap(self.client, self.name, self.function)

    def _use(self, col: Any) -> None:
        self.collection = Collection(col, self.folder)
        self.stamp = stamp_of(col)
        self.dirty = bool((col.metadata or {}).get(DIRTY))

    def follow(self) -> bool:
        """Reopen when another process changed the store since this one last looked;
        whether it did (what the caller remembers is then stale).

        Chroma's embedded client keeps the vector index it loaded: items another process
        added never appeared, deleted ones came back without metadata (a TypeError), and a
        rebuilt collection was gone. The collection's id and stamp (one cheap read, ~0.8
        ms) say whether anything changed; for an embedded store a change opens a fresh
        client (~0.2 s) whose index is read from disk.
        """
        if self.read_only_copy is not None:  # a private copy: nobody else writes to it
            return False
        col = self._current()
        if stamp_of(col) == self.stamp:
            return False
        self._use(self.reopen() if self.folder is not None else col)
        return True

    def refresh(self) -> None:
        """Open an embedded store afresh (a short index, see ``Store.search_by_vector``)."""
        self._use(self.reopen())

    def _current(self) -> Any:
        """The collection under this store's name now, waiting out a rebuild's last step
        (its old copy dropped, the new one not yet renamed) for a few seconds."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                return self.client.get_collection(self.name, embedding_function=self.function)
            except Exception as exc:
                try:
                    found = names(self.client)
                except Exception as listing:
                    raise RetrievalError(
                        f"cannot read the store's collections: {listing}"
                    ) from listing
                if self.name in found:
                    raise RetrievalError(f"cannot open collection {self.name!r}: {exc}") from exc
                if self.name + NEW_SUFFIX not in found:
                    raise RetrievalError(
                        f"the store has no collection {self.name!r} any more",
                        hint="another process deleted it; ingest the catalogue again",
                    ) from exc
                if time.monotonic() > deadline:
                    with self.lock():
                        settle_swap(self.client, self.name, self.function)
                    deadline = time.monotonic() + 5.0
                time.sleep(0.05)

    def reopen(self) -> Any:
        """A fresh embedded client for the folder (Chroma shares one per path and process:
        the old one is dropped from its cache first), and the collection through it."""
        assert self.folder is not None
        forget_system(self.folder)
        old = self.client
        self.client, _ = persistent_client(str(self.folder))
        with contextlib.suppress(Exception):  # only its reference: the new client holds it
            close_client(old)
        return self._current()

    def set_state(self, *, dirty: bool) -> None:
        """Mark a write as begun (``dirty``) or finished, with a new stamp either way."""
        metadata = {**plain(self.collection.metadata), STAMP: uuid.uuid4().hex, DIRTY: dirty}
        self.collection.modify(metadata=metadata)
        self.stamp = (self.collection.id, str(metadata[STAMP]))
        self.dirty = dirty

    def new_build(self) -> Collection:
        """An empty collection for a rebuild, under ``NAME.polyrank-new``, marked
        incomplete, with this one's metadata (its stamp and state aside)."""
        base = {
            k: v
            for k, v in plain(self.collection.metadata).items()
            if k not in (STAMP, DIRTY, COMPLETE)
        }
        new_name = self.name + NEW_SUFFIX
        try:
            if new_name in names(self.client):  # a rebuild cut short earlier
                self.client.delete_collection(new_name)
            col = self.client.create_collection(
                new_name,
                embedding_function=self.function,
                metadata={"hnsw:space": "cosine", **base, COMPLETE: False},
            )
        except Exception as exc:
            raise RetrievalError(f"rebuilding the store failed: {exc}") from exc
        return Collection(col, self.folder)

    def swap_in(self, built: Collection) -> None:
        """Mark ``built`` complete, then give it this collection's name (the old one is
        dropped first: a crash in between is finished by the next open or write)."""
        base = {k: v for k, v in plain(built.metadata).items() if k != COMPLETE}
        built.modify(metadata={**base, STAMP: uuid.uuid4().hex, DIRTY: False, COMPLETE: True})
        try:
            settle_swap(self.client, self.name, self.function)
            col = self.client.get_collection(self.name, embedding_function=self.function)
        except Exception as exc:
            raise RetrievalError(
                f"swapping in the rebuilt store failed: {exc}", hint=REPAIR_HINT
            ) from exc
        self._use(col)

    def sqlite_rows(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every item, from an embedded store's SQLite file (see :func:`read_sqlite_rows`)."""
        folder = self.read_only_copy or self.folder
        assert folder is not None
        return read_sqlite_rows(folder, self.collection.id)
