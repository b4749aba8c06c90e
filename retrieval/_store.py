"""The Chroma store: the only module that talks to Chroma.

Usage::

    store = Store.open(".polyrank", embeddings="fusion")     # or "chroma://127.0.0.1:8000"
    report = store.ingest(load_catalog("data/catalog.jsonl"))
    candidates = store.search("a gift for a hiker", k=5, filters=Filters(domains=("products",)))
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

import numpy as np

from polyrank.retrieval._catalog import Item, content_hash
from polyrank.retrieval._embeddings import DEFAULT_EMBEDDINGS, Embedder
from polyrank.retrieval._language import detect_language
from polyrank.retrieval._lexical import LexicalIndex
from polyrank.retrieval._prices import to_eur
from polyrank.retrieval._types import Candidate, Filters, Variant
from polyrank.retrieval.errors import ConfigError, RetrievalError
from polyrank.retrieval.registry import resolve

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_STORE",
    "Feedback",
    "IngestReport",
    "Store",
    "preferred_variant",
]

DEFAULT_STORE = ".polyrank/store"
DEFAULT_COLLECTION = "catalog"
_MODEL_KEY = "polyrank_embeddings"
_EMBED_BATCH = 64
_WRITE_BATCH = 1000
#: Hybrid retrieval, reciprocal rank fusion: 1/(RRF_K + dense rank) + LEXICAL_WEIGHT/(RRF_K +
#: BM25 rank). Off by default, by measurement on evals/suites/core.yaml (78 cases, local
#: ranker, domain boost on): weight 0 → nDCG@5 0.741, RBO 0.642, top-1 agreement 0.786;
#: 0.15 → 0.748 / 0.629 / 0.722; 0.5 → 0.745 / 0.624 / 0.692. Lexical hits favour items
#: in the request's own language, so the same request in two languages drifts apart.
RRF_K = 60
LEXICAL_WEIGHT = 0.0
#: How many BM25 hits join the dense ones before fusion.
LEXICAL_DEPTH = 50
#: Seconds a Store trusts the item count it read (writes through it reset it at once).
COUNT_TTL = 1.0
#: A broad filter's search reads at most this many nearest ids unfiltered (4.6 ms for 600
#: at 100,000 items), then keeps the allowed ones; a narrower filter's search is confined
#: to the ids it allows.
OVERFETCH_LIMIT = 2000
#: Seconds a Store trusts the ids a filter allows (and while the count stays the same).
ALLOWED_TTL = 30.0

Progress = Callable[[int, int], None]


#: Ids per Chroma lookup: SQLite limits the variables of one statement.
_ID_BATCH = 500
#: The metadata key holding an item's group's member ids (JSON), and how many groups' lists
#: a Store keeps in memory (each read with the metadata that carried it).
_MEMBERS = "members"
_MEMBERS_KEPT = 50_000
#: A group with more members than this carries no member list (its items' lists held
#: every other member: 4,000 versions of one group made a 761 MB store and a 9.4 s delete);
#: its variants are looked up by group instead.
MEMBERS_LISTED_MAX = 64
#: Collection metadata: a stamp every write changes (readers compare it before they trust
#: what they remember), and whether a write is under way or was cut short (member lists
#: may then be stale: readers look variants up by group, the next write recomputes them).
_STAMP = "polyrank_stamp"
_DIRTY = "polyrank_dirty"
#: A rebuild writes a complete new collection under ``NAME.polyrank-new``, marks it
#: complete, then swaps names (the old one waits under ``NAME.polyrank-old`` until the
#: new one has its name): a crash at any point leaves the old or the new one whole.
_NEW_SUFFIX = ".polyrank-new"
_OLD_SUFFIX = ".polyrank-old"
_COMPLETE = "polyrank_complete"
#: A Chroma server's writers take a lock collection ``NAME.polyrank-lock`` (creating a
#: collection whose name exists fails on the server, so only one succeeds); its lease is
#: renewed while the writer lives and a crashed writer's lock expires after LOCK_LEASE s.
_LOCK_SUFFIX = ".polyrank-lock"
LOCK_LEASE = 30.0
#: A sync may delete at most this share of the store without ``allow_delete_all`` (an
#: empty or truncated file given to ``--sync`` wiped a whole store, exit 0).
SYNC_DELETE_SHARE = 0.5
#: Seconds a second writer waits for the first to finish before giving up.
WRITE_LOCK_TIMEOUT = 600.0
#: Free bytes under which a failed write is reported as a full disk (Chroma says "Error in
#: compaction" or SQLite "database or disk is full").
_DISK_LOW = 16 * 2**20
_READ_ONLY_HINT = "writing (ingest, delete, --repair) needs a folder you can write to"
_REPAIR_HINT = "run `polyrank ingest --repair` (add --store PATH) to re-index the store"


class _Guarded:
    """A Chroma collection whose every call maps a failure to :class:`RetrievalError`.

    Chroma raises its own errors (``InternalError: Error finding id`` from a damaged index),
    sqlite3 and OS errors, and ``httpx.ConnectError`` when a server drops: one mapping here,
    with a hint, instead of a traceback from wherever the store happened to be called.
    """

    def __init__(self, collection: Any, folder: Path | None = None) -> None:
        self._collection = collection
        self._folder = folder

    @property
    def metadata(self) -> Any:
        return self._collection.metadata

    @property
    def id(self) -> Any:
        return self._collection.id

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._collection, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except (RetrievalError, ConfigError):
                raise
            except Exception as exc:
                kind = type(exc).__name__
                text = str(exc).splitlines()[0] if str(exc) else kind
                if _says_read_only(text):
                    raise RetrievalError(
                        f"the store is read-only: {text}", hint=_READ_ONLY_HINT
                    ) from exc
                full = _disk_full(self._folder, exc)
                if full:
                    raise RetrievalError(full, hint=_DISK_FULL_HINT) from exc
                if "connect" in kind.lower() or "connect" in text.lower():
                    hint = "check that the Chroma server is running and reachable"
                else:
                    hint = _REPAIR_HINT
                raise RetrievalError(f"store {name} failed ({kind}): {text}", hint=hint) from exc

        return call


_DISK_FULL_HINT = (
    "free some space on that disk, then run this again (`polyrank ingest --repair` if a "
    "search then reports a damaged index)"
)


def _disk_full(folder: Path | None, exc: BaseException) -> str | None:
    """The message for a failure caused by a full disk under ``folder``, else ``None``."""
    import errno

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


class _ShortIndex(RetrievalError):
    """The vector index holds fewer items than the store."""


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    """``ids`` without repeats (a repeated id is a DuplicateIDError in Chroma), batched."""
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + _ID_BATCH] for i in range(0, len(unique), _ID_BATCH)]


def preferred_variant(variants: Sequence[Item], languages: Sequence[str], default: Item) -> Item:
    """The version in the first of ``languages`` that ``variants`` has, else ``default``.

    (Falling back to English instead of ``default`` was measured on the core suite: four
    consistency gates failed, since the local ranker then compares English versions of items
    across requests in different languages; so ``default``, the best-matching one.)
    """
    for lang in languages:
        for v in variants:
            if v.language == lang.lower():
                return v
    return default


@dataclass(frozen=True)
class Feedback:
    """Pseudo-relevance feedback: move the query towards the mean of its ``depth`` best hits.

    The same request in two languages lands near different items at first; their best hits
    share a neighbourhood, so the moved queries can agree more. Measured on
    ``evals/suites/core.yaml`` (weight 0.5, depth 3; off → on): with the local ranker nDCG@5
    0.789→0.803, RBO 0.680→0.711, RankC 0.764→0.767, top-1 agreement 0.820→0.814; in plain
    retrieval order nDCG@5 0.770→0.771, RBO 0.710→0.728, RankC 0.751→0.720, top-1
    0.797→0.756. Mixed, so it is off by default: ``Agent(feedback=Feedback())``.
    """

    weight: float = 0.5
    depth: int = 3


@dataclass(frozen=True)
class IngestReport:
    """What one ingestion did."""

    total: int
    added: int
    updated: int
    unchanged: int
    embedded: int
    seconds: float
    #: Passages cut to the encoder's window before embedding.
    truncated: int = 0
    #: Items removed because they left the catalogue (``sync=True``).
    deleted: int = 0


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


def _says_read_only(text: str) -> bool:
    """Whether an error message is SQLite's or the OS's "read-only"."""
    lowered = text.lower()
    return "readonly" in lowered or "read-only" in lowered


def _read_only(location: Path | None) -> ConfigError:
    """The error for a write to a store that cannot be written."""
    return ConfigError(f"the store {str(location)!r} is read-only", hint=_READ_ONLY_HINT)


def _persistent_client(path: str | None, *, writable: bool = True) -> tuple[Any, Path | None]:
    """An embedded Chroma client, and the temporary copy it reads when the store folder
    cannot be written (``None`` otherwise).

    Chroma writes to its database even to open it, so a read-only store (a mounted
    snapshot, a folder without write permission) cannot be opened in place; a reader
    (``writable=False``) opens a temporary copy instead, removed on :meth:`Store.close`.
    """
    import chromadb

    location = Path(path or DEFAULT_STORE)
    try:
        location.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(location), settings=_settings()), None
    except Exception as exc:
        _forget(location)
        if not (_says_read_only(str(exc)) or isinstance(exc, PermissionError)):
            if isinstance(exc, OSError):
                raise ConfigError(f"cannot use store path {str(location)!r}: {exc}") from exc
            raise RetrievalError(f"cannot open the store {str(location)!r}: {exc}") from exc
        if writable:
            raise _read_only(location) from exc
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


def _drop_copy(copy: Path) -> None:
    _forget(copy)
    shutil.rmtree(copy, ignore_errors=True)


def _forget(location: Path) -> None:
    """Drop Chroma's cached system for a folder whose opening failed half-way."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(location), None)


def make_http_client(arg: str | None = None, **_: Any) -> Any:
    """``chroma://HOST:PORT``: a Chroma server (the ``store.chroma`` entry point)."""
    import chromadb

    bad = ConfigError(f"bad Chroma server spec 'chroma:{arg}'; expected chroma://HOST:PORT")
    try:  # urlparse raises ValueError for "[::1" and ".port" for ":99999" or ":abc"
        url = urlparse(f"chroma:{arg or ''}")
        port = url.port
    except ValueError:
        raise bad from None
    if not url.hostname or not port:
        raise bad
    try:
        return chromadb.HttpClient(host=url.hostname, port=port, settings=_settings())
    except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
        raise RetrievalError(f"cannot reach Chroma server at {url.hostname}:{port}: {exc}") from exc


def _metadata(item: Item, digest: str) -> dict[str, str | int | float | bool]:
    return {
        "title": item.title,
        "language": item.language or "",
        "domain": item.domain,
        "group": item.group_key,
        "hash": digest,
        "item": json.dumps(item.model_dump(mode="json"), ensure_ascii=False),
    }


def _item_of(metadata: Any) -> Item:
    return _parsed_item(str(metadata["item"]))


@functools.lru_cache(maxsize=8192)
def _parsed_item(text: str) -> Item:
    """An item from its stored JSON, parsed once per process (Items are frozen): every
    search parsed about 100 of them again, 1.7 ms of each recommend."""
    return Item.model_validate_json(text)


def _item_filter(filters: Filters) -> Callable[[Item], bool]:
    """A test of whether an item satisfies the filters (ids and groups aside), with the
    filter values normalised once rather than per item."""
    domains = {d.lower() for d in filters.domains}
    refused_domains = {d.lower() for d in filters.exclude_domains}
    languages = {x.lower() for x in filters.languages}
    excluded = {x.lower() for x in filters.exclude_languages}
    region = filters.region.upper() if filters.region else None
    refused_tags = {t.lower() for t in filters.exclude_tags}
    priced = filters.max_price_eur is not None or filters.min_price_eur is not None

    def passes(item: Item) -> bool:
        if domains and item.domain not in domains:
            return False
        if item.domain in refused_domains:
            return False
        if languages and item.language not in languages:
            return False
        if item.language in excluded:
            return False
        if region and item.regions and region not in item.regions:
            return False
        if priced:
            price = to_eur(item.attributes.get("price"), item.attributes.get("currency"))
            if price is None:
                return filters.allow_unpriced and not refused_tags & _tags(item)
            if filters.max_price_eur is not None and price > filters.max_price_eur:
                return False
            if filters.min_price_eur is not None and price < filters.min_price_eur:
                return False
        return not (refused_tags and refused_tags & _tags(item))

    return passes


def _tags(item: Item) -> set[str]:
    return {t.lower() for t in item.tags}


def _keep_nearest(
    hits: Iterable[tuple[Item, float]],
    allowed: Callable[[Item], bool],
    dense: dict[str, tuple[float, Item]],
) -> None:
    """Add to ``dense`` each allowed hit (nearest first) whose group it has no item of yet,
    with its similarity (1 - cosine distance)."""
    for item, distance in hits:
        if allowed(item) and item.group_key not in dense:
            dense[item.group_key] = (1.0 - float(distance), item)


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
    ConfigError: two ingests whose writes overlapped corrupted the index for good.
    """
    busy = ConfigError(
        f"another polyrank process is writing to the store {folder or name} "
        f"(waited {WRITE_LOCK_TIMEOUT:g} s)",
        hint="wait for it to finish, then run this again",
    )
    if read_only_copy is not None:
        yield
        return
    if folder is None:
        server = _ServerLock(client, name + _LOCK_SUFFIX, function)
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
        raise _read_only(folder) from exc
    try:
        yield
    finally:
        lock.release()


def _names(client: Any) -> set[str]:
    return {c.name for c in client.list_collections()}


def _settle_swap(client: Any, name: str, function: Any) -> None:
    """Finish or undo a rebuild that was cut short (call with the write lock held).

    A complete new collection takes the name (the old one is dropped first, so this is
    where a crash between the two steps ends up); an incomplete one is dropped, the old
    one being whole.
    """
    names = _names(client)
    new = name + _NEW_SUFFIX
    if new not in names:
        return
    built = client.get_collection(new, embedding_function=function)
    if (built.metadata or {}).get(_COMPLETE):
        if name in names:
            client.delete_collection(name)
        built.modify(name=name)
    else:
        client.delete_collection(new)


def _stamp_of(col: Any) -> tuple[str, str]:
    """What a reader compares to know whether a collection changed: its id (a rebuild
    makes a new one) and the stamp each write sets."""
    return str(col.id), str((col.metadata or {}).get(_STAMP, ""))


def _plain(metadata: Any) -> dict[str, Any]:
    """Collection metadata that ``modify`` accepts (Chroma refuses any ``hnsw:`` key there,
    even unchanged; the distance stays in the collection's configuration)."""
    return {k: v for k, v in dict(metadata or {}).items() if not str(k).startswith("hnsw:")}


def _listing(ids: Iterable[str]) -> str:
    """A group's member list as stored: its ids (JSON), or "" for a group too large to
    list (looked up by group)."""
    unique = sorted(set(ids))
    return json.dumps(unique) if len(unique) <= MEMBERS_LISTED_MAX else ""


def _member_updates(
    rows: dict[str, list[tuple[str, dict[str, Any]]]], listed: dict[str, str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The stored items (``rows`` by group) whose member list is not ``listed[group]``,
    and their metadata with the right list."""
    ids: list[str] = []
    metas: list[dict[str, Any]] = []
    for group, group_rows in rows.items():
        for item_id, meta in group_rows:
            if meta.get(_MEMBERS) != listed[group]:
                ids.append(item_id)
                metas.append({**meta, _MEMBERS: listed[group]})
    return ids, metas


def _sqlite_rows(folder: Path, collection_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every item of a collection as (id, document, metadata), read from an embedded
    store's SQLite file itself: what ``--repair`` rebuilds from when Chroma cannot load the
    vector index (a truncated index file made every call fail, ``--repair`` included)."""
    import sqlite3

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


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _following(method: _Method) -> _Method:
    """A public read: first check that no other process changed the store (once per
    outermost call, so the reads it makes inside do not check again)."""

    @functools.wraps(method)
    def read(self: Store, *args: Any, **kwargs: Any) -> Any:
        if getattr(self._reading, "depth", 0):
            return method(self, *args, **kwargs)
        self._reading.depth = 1
        try:
            self._follow()
            return method(self, *args, **kwargs)
        finally:
            self._reading.depth = 0

    return cast(_Method, read)


class Store:
    """A Chroma collection of catalogue items, tied to one embedding model."""

    def __init__(
        self,
        client: Any,
        embedder: Embedder,
        collection: str = DEFAULT_COLLECTION,
        *,
        folder: Path | None = None,
        read_only_copy: Path | None = None,
    ):
        self.embedder = embedder
        self._client = client
        self._name = collection
        #: The embedded store's folder (``None`` for a Chroma server): it holds the lock
        #: that keeps writers one at a time.
        self.folder = folder
        #: The temporary copy a read-only store is read from (see ``Store.open``).
        self.read_only_copy: Path | None = read_only_copy
        self._drop_copy: weakref.finalize[Any, Any] | None = None
        self._reading = threading.local()
        from polyrank.retrieval._chroma import ChromaEmbeddingFunction

        self._function = ChromaEmbeddingFunction(embedder)
        try:
            existing = _names(client)
            if collection not in existing and collection + _NEW_SUFFIX in existing:
                with self._lock():  # a rebuild was cut short between its two last steps
                    _settle_swap(client, collection, self._function)
                existing = _names(client)
            if collection in existing:
                col = client.get_collection(collection, embedding_function=self._function)
            else:
                try:
                    col = client.create_collection(
                        collection,
                        embedding_function=self._function,
                        metadata={"hnsw:space": "cosine", _MODEL_KEY: embedder.spec},
                    )
                except Exception:  # another process created it meanwhile (a server)
                    if collection not in _names(client):
                        raise
                    col = client.get_collection(collection, embedding_function=self._function)
            built_with = (col.metadata or {}).get(_MODEL_KEY)
            if built_with and built_with != embedder.spec:
                raise ConfigError(
                    f"the store's collection {collection!r} was built with embeddings "
                    f"{built_with!r}, but this run uses {embedder.spec!r}",
                    hint=f"pass --embeddings {built_with}, or ingest into another --store",
                )
        except ConfigError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise RetrievalError(f"cannot open collection {collection!r}: {exc}") from exc
        self._col = _Guarded(col, folder)
        self._stamp = _stamp_of(col)
        #: A write is under way or was cut short: member lists may be stale.
        self._dirty = bool((col.metadata or {}).get(_DIRTY))
        self._lexical: tuple[int, LexicalIndex] | None = None
        self._count: tuple[int, float] | None = None  # (count, time.monotonic() read)
        self._members: dict[str, str] = {}  # group -> its member ids (JSON), as last read
        #: where-clause (JSON) -> (allowed ids, as a set, count then, time.monotonic() then)
        self._allowed: dict[str, tuple[list[str], frozenset[str], int, float]] = {}

    @staticmethod
    def _make_client(location: str | None, writable: bool = True) -> tuple[Any, Path | None]:
        if location and "://" in location:
            scheme, _, rest = location.partition(":")
            return resolve("store", f"{scheme}:{rest}"), None
        return _persistent_client(location, writable=writable)

    @classmethod
    def open(
        cls,
        location: str | None = None,
        *,
        embeddings: str | Embedder | None = None,
        collection: str = DEFAULT_COLLECTION,
        create: bool = True,
        credentials: dict[str, Any] | None = None,
    ) -> Store:
        """Open (or create) a store.

        Args:
            location: a folder for embedded Chroma (default ``.polyrank/store``) or
                ``chroma://HOST:PORT`` for a Chroma server.
            embeddings: an embedding spec or :class:`Embedder`. ``None`` means the one the
                store was built with, or the default for a new store.
            create: with ``False``, a missing store is a ConfigError saying how to fill it,
                and nothing is created (what searching does).
            credentials: ``base_url``/``api_key`` for an ``openai:`` embedding spec.
        """
        remote = bool(location and "://" in location)
        folder = None if remote else Path(location or DEFAULT_STORE)
        if not create and folder is not None and not (folder / "chroma.sqlite3").is_file():
            raise ConfigError(
                f"there is no store at {str(folder)!r}",
                hint=f"fill it first: polyrank ingest FILE --store {folder} (or polyrank demo "
                f"--store {folder} for the sample catalogue)",
            )
        client, copy = cls._make_client(location, writable=create)
        recorded = cls._recorded(client, collection)
        if not create and recorded is None and not cls._exists(client, collection):
            close = getattr(client, "close", None)
            if callable(close):
                close()
            if copy is not None:
                _drop_copy(copy)
            raise ConfigError(
                f"the store {location or DEFAULT_STORE} has no collection {collection!r}",
                hint="fill it first: polyrank ingest FILE (or polyrank demo for the sample)",
            )
        if embeddings is None:
            embeddings = recorded or DEFAULT_EMBEDDINGS
        embedder = (
            resolve("embeddings", embeddings, **(credentials or {}))
            if isinstance(embeddings, str)
            else embeddings
        )
        store = cls(client, embedder, collection, folder=folder, read_only_copy=copy)
        if copy is not None:
            # Removed on close, and at the latest when the process exits.
            store._drop_copy = weakref.finalize(store, _drop_copy, copy)
        return store

    @staticmethod
    def _exists(client: Any, collection: str) -> bool:
        """Whether the collection exists (or a rebuild of it waits to take its name)."""
        try:
            names = _names(client)
        except Exception:
            return False
        return collection in names or collection + _NEW_SUFFIX in names

    @staticmethod
    def _recorded(client: Any, collection: str) -> str | None:
        for name in (collection, collection + _NEW_SUFFIX):
            try:
                col = client.get_collection(name)
            except Exception:
                continue
            value = (col.metadata or {}).get(_MODEL_KEY)
            return str(value) if value else None
        return None

    def close(self) -> None:
        """Release the Chroma client (connections, file handles). Idempotent."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()
        if self._drop_copy is not None:
            self._drop_copy()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @_following
    def count(self) -> int:
        return int(self._col.count())

    def _recent_count(self) -> int:
        """:meth:`count`, read again after :data:`COUNT_TTL` seconds or a write through
        this Store (what the lexical index and a filter's allowed ids are checked against).
        Chroma serialises the calls of concurrent requests, so each saved call counts;
        another process's writes are seen within COUNT_TTL."""
        now = time.monotonic()
        if self._count is None or now - self._count[1] > COUNT_TTL:
            self._count = (self.count(), now)
        return self._count[0]

    def _forget(self) -> None:
        """After a write: the count and the lexical index are read afresh."""
        self._lexical = None
        self._count = None
        self._allowed = {}
        self._members = {}

    def _pages(self, include: list[str]) -> Iterator[Any]:
        """The whole collection, one Chroma ``get`` of :data:`_WRITE_BATCH` items at a time."""
        for offset in range(0, self.count(), _WRITE_BATCH):
            yield self._col.get(include=include, limit=_WRITE_BATCH, offset=offset)

    @_following
    def check_domains(self, domains: Sequence[str]) -> tuple[str, ...]:
        """``domains`` lower-cased; ``ConfigError`` naming the stored ones for an unknown one."""
        wanted = tuple(d.strip().lower() for d in domains)
        unknown = [d for d in wanted if not self._col.get(where={"domain": d}, limit=1)["ids"]]
        if not unknown or self.count() == 0:
            return wanted
        known = {
            str(m.get("domain"))
            for got in self._pages(["metadatas"])
            for m in got["metadatas"] or []
        }
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown domain {unknown[0]!r}{hint} The store has: {', '.join(sorted(known))}"
        )

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return _locked(self._client, self.folder, self._name, self._function, self.read_only_copy)

    def _follow(self) -> None:
        """Reopen when another process changed the store since this one last looked.

        Chroma's embedded client keeps the vector index it loaded: items another process
        added never appeared, deleted ones came back without metadata (a TypeError), and a
        rebuilt collection was gone. The collection's id and stamp (one cheap read, ~0.8
        ms) say whether anything changed; a change drops what this Store remembers, and for
        an embedded store opens a fresh client (~0.2 s) whose index is read from disk.
        """
        if self.read_only_copy is not None:  # a private copy: nobody else writes to it
            return
        col = self._current()
        stamp = _stamp_of(col)
        if stamp == self._stamp:
            return
        if self.folder is not None:
            col = self._reopen()
            stamp = _stamp_of(col)
        self._col = _Guarded(col, self.folder)
        self._stamp = stamp
        self._dirty = bool((col.metadata or {}).get(_DIRTY))
        self._forget()

    def _current(self) -> Any:
        """The collection under this Store's name now, waiting out a rebuild's last step
        (its old copy dropped, the new one not yet renamed) for a few seconds."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                return self._client.get_collection(self._name, embedding_function=self._function)
            except Exception as exc:
                try:
                    names = _names(self._client)
                except Exception as listing:
                    raise RetrievalError(
                        f"cannot read the store's collections: {listing}"
                    ) from listing
                if self._name in names:
                    raise RetrievalError(f"cannot open collection {self._name!r}: {exc}") from exc
                if self._name + _NEW_SUFFIX not in names:
                    raise RetrievalError(
                        f"the store has no collection {self._name!r} any more",
                        hint="another process deleted it; ingest the catalogue again",
                    ) from exc
                if time.monotonic() > deadline:
                    with self._lock():
                        _settle_swap(self._client, self._name, self._function)
                    deadline = time.monotonic() + 5.0
                time.sleep(0.05)

    def _reopen(self) -> Any:
        """A fresh embedded client for the folder (Chroma shares one per path and process:
        the old one is dropped from its cache first), and the collection through it."""
        from chromadb.api.shared_system_client import SharedSystemClient

        assert self.folder is not None
        SharedSystemClient._identifier_to_system.pop(str(self.folder), None)
        old = self._client
        self._client, _ = _persistent_client(str(self.folder))
        close = getattr(old, "close", None)
        if callable(close):  # only its reference: the new client holds the path's system
            with contextlib.suppress(Exception):
                close()
        return self._current()

    def _set_state(self, *, dirty: bool) -> None:
        """Mark a write as begun (``dirty``) or finished, with a new stamp either way."""
        metadata = {**_plain(self._col.metadata), _STAMP: uuid.uuid4().hex, _DIRTY: dirty}
        self._col.modify(metadata=metadata)
        self._stamp = (str(self._col.id), str(metadata[_STAMP]))
        self._dirty = dirty

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the write lock, with this Store following what other writers did first (a
        write through a stale index would save that stale index over theirs), and a
        rebuild that was cut short settled."""
        if self.read_only_copy is not None:  # never write to the temporary copy
            raise _read_only(self.folder)
        with self._lock():
            _settle_swap(self._client, self._name, self._function)
            self._reading.depth = 0
            self._follow()
            self._reading.depth = 1  # the reads inside need no check of their own
            try:
                yield
            finally:
                self._reading.depth = 0

    def ingest(
        self,
        items: Sequence[Item],
        progress: Progress | None = None,
        *,
        sync: bool = False,
        allow_delete_all: bool = False,
    ) -> IngestReport:
        """Upsert ``items``; unchanged items (same content hash) are not re-embedded.

        Every embedding is computed before the first write, so a failure leaves the store
        as it was. One writer at a time (a lock in the store folder, a lock collection on a
        server); what was written is checked afterwards. With ``sync``, stored items
        missing from ``items`` are deleted; a sync that would delete every stored item or
        more than :data:`SYNC_DELETE_SHARE` of them is refused (ConfigError, nothing
        written) unless ``allow_delete_all``.

        The write is marked in the collection's metadata while it runs: if it is cut
        short, readers look variants up by group and the next write recomputes every
        group's member list.
        """
        started = time.perf_counter()
        truncated_before = int(getattr(self.embedder, "truncated", 0))
        digests = [content_hash(item) for item in items]
        ids = [item.id for item in items]
        with self._writing():
            gone = sorted(set(self.ids()) - set(ids)) if sync else []
            if gone and not allow_delete_all:
                self._check_sync(len(gone))
            recompute = self._dirty  # a write was cut short: every list may be stale
            stored: dict[str, str] = {}
            old_group: dict[str, str] = {}
            touched: dict[str, None] = {}  # groups whose member lists may change
            for start in range(0, len(ids), _WRITE_BATCH):
                got = self._col.get(ids=ids[start : start + _WRITE_BATCH], include=["metadatas"])
                for item_id, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                    stored[item_id] = str((meta or {}).get("hash", ""))
                    old_group[item_id] = str((meta or {}).get("group"))
                    if (meta or {}).get(_MEMBERS) is None:  # stored before member lists
                        touched[old_group[item_id]] = None
            if recompute:
                touched.update((group, None) for group in self._stored_groups())
            todo = [i for i, item in enumerate(items) if stored.get(item.id) != digests[i]]
            vectors: list[np.ndarray] = []
            for start in range(0, len(todo), _EMBED_BATCH):
                batch = [items[i].passage() for i in todo[start : start + _EMBED_BATCH]]
                vectors.extend(self.embedder.embed_passages(batch))
                if progress:
                    progress(min(start + _EMBED_BATCH, len(todo)), len(todo))
            for i in todo:  # the group an item joins, and the one it may leave
                touched[items[i].group_key] = None
                if items[i].id in old_group:
                    touched[old_group[items[i].id]] = None
            touched.update((item.group_key, None) for item in self.get(gone))
            # Each touched group's members once written: its stored items that stay, and
            # the items joining it. They go into the upsert; only the stayers are updated.
            leaving = {items[i].id for i in todo} | set(gone)
            staying = {
                group: [row for row in rows if row[0] not in leaving]
                for group, rows in self._group_rows(list(touched)).items()
            }
            members = {group: [item_id for item_id, _ in rows] for group, rows in staying.items()}
            for i in todo:
                members.setdefault(items[i].group_key, []).append(items[i].id)
            listed = {group: _listing(ids) for group, ids in members.items()}
            updates = _member_updates(staying, listed)
            if todo or gone or updates[0] or recompute:
                self._set_state(dirty=True)
                try:
                    for start in range(0, len(todo), _WRITE_BATCH):
                        chunk = todo[start : start + _WRITE_BATCH]
                        self._col.upsert(
                            ids=[items[i].id for i in chunk],
                            embeddings=[vectors[j] for j in range(start, start + len(chunk))],
                            documents=[items[i].passage() for i in chunk],
                            metadatas=[  # type: ignore[misc]
                                {
                                    **_metadata(items[i], digests[i]),
                                    _MEMBERS: listed[items[i].group_key],
                                }
                                for i in chunk
                            ],
                        )
                    for chunk_ids in _chunks(gone):
                        self._col.delete(ids=chunk_ids)
                    self._update(*updates)
                finally:
                    self._forget()
                self._check_written([items[i].id for i in todo], vectors[:1])
                self._set_state(dirty=False)
        added = sum(1 for i in todo if items[i].id not in stored)
        return IngestReport(
            total=len(items),
            added=added,
            updated=len(todo) - added,
            unchanged=len(items) - len(todo),
            embedded=len(todo),
            seconds=time.perf_counter() - started,
            truncated=int(getattr(self.embedder, "truncated", 0)) - truncated_before,
            deleted=len(gone),
        )

    def _check_sync(self, leaving: int) -> None:
        """Refuse a sync that would delete everything, or more than SYNC_DELETE_SHARE."""
        total = self.count()
        if leaving < total and leaving <= SYNC_DELETE_SHARE * total:
            return
        share = "every item" if leaving >= total else f"{leaving / total:.0%} of the items"
        raise ConfigError(
            f"this sync would delete {leaving} of the store's {total} items ({share}); "
            "nothing was written",
            hint="check that the catalogue file is complete; to delete them anyway, pass "
            "--allow-delete-all (Store.ingest(..., allow_delete_all=True))",
        )

    def _stored_groups(self) -> list[str]:
        """Every stored item's group."""
        return list(
            dict.fromkeys(
                str((meta or {}).get("group"))
                for got in self._pages(["metadatas"])
                for meta in got["metadatas"] or []
            )
        )

    def _check_written(
        self, written: Sequence[str], probe: Sequence[Any], col: _Guarded | None = None
    ) -> None:
        """After a write: every written id is stored with its embedding, and the vector
        index answers a query. Raises RetrievalError (hint: ``--repair``) otherwise."""
        col = col or self._col
        found = 0
        for chunk in _chunks(written):
            got = col.get(ids=chunk, include=["embeddings"])
            embeddings = got["embeddings"] if got["embeddings"] is not None else []
            found += sum(1 for v in embeddings if v is not None and len(v))
        if found != len(set(written)):
            raise RetrievalError(
                f"the store holds {found} of the {len(set(written))} items just written",
                hint=_REPAIR_HINT,
            )
        total = int(col.count())
        if probe and total:
            query = np.asarray(probe[0], dtype=np.float32)
            got = col.query(query_embeddings=[query], n_results=min(total, 10))
            if not got["ids"] or not got["ids"][0]:
                raise RetrievalError("the store's vector index returns nothing", hint=_REPAIR_HINT)

    @_following
    def ids(self) -> list[str]:
        """Every stored item id."""
        return [item_id for got in self._pages([]) for item_id in got["ids"]]

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Delete these items; returns the ids that were stored (unknown ids are ignored)."""
        with self._writing():
            found = self.get(list(dict.fromkeys(ids)))
            present = [item.id for item in found]
            if not present:
                return []
            groups = list(dict.fromkeys(item.group_key for item in found))
            if self._dirty:  # a write was cut short: recompute every list
                groups = self._stored_groups()
            self._set_state(dirty=True)
            try:
                for chunk in _chunks(present):
                    self._col.delete(ids=chunk)
                self._refresh_members(groups)
            finally:
                self._forget()
            self._set_state(dirty=False)
        return present

    def repair(self, progress: Progress | None = None) -> int:
        """Rebuild the collection from what it stores, into a new collection that takes
        the old one's place once it is complete and checked (a crash at any point leaves
        the old or the new one whole; the next open or write finishes the swap).

        Every item's metadata and document is read (from the SQLite rows themselves when
        the vector index cannot be loaded, e.g. a truncated index file), embeddings are
        kept where readable and computed again otherwise, and member lists are
        recomputed. Returns how many items were re-embedded.
        """
        with self._writing():
            items = self._stored_rows()
            vectors: dict[str, Any] = {}
            for chunk in _chunks([entry[0] for entry in items]):
                try:
                    vectors.update(self.vectors(chunk))
                except RetrievalError:
                    continue  # unreadable here: embedded again below
            missing = [(i, doc) for i, doc, _ in items if i not in vectors]
            for start in range(0, len(missing), _EMBED_BATCH):
                batch = missing[start : start + _EMBED_BATCH]
                for (item_id, _), vector in zip(
                    batch, self.embedder.embed_passages([d for _, d in batch]), strict=True
                ):
                    vectors[item_id] = vector
                if progress:
                    progress(min(start + _EMBED_BATCH, len(missing)), len(missing))
            by_group: dict[str, list[str]] = {}
            for item_id, _, meta in items:
                by_group.setdefault(str(meta.get("group")), []).append(item_id)
            listed = {group: _listing(members) for group, members in by_group.items()}
            for _, _, meta in items:
                meta[_MEMBERS] = listed[str(meta.get("group"))]
            base = {
                k: v
                for k, v in _plain(self._col.metadata).items()
                if k not in (_STAMP, _DIRTY, _COMPLETE)
            }
            new_name = self._name + _NEW_SUFFIX
            try:
                if new_name in _names(self._client):  # a rebuild cut short earlier
                    self._client.delete_collection(new_name)
                built = _Guarded(
                    self._client.create_collection(
                        new_name,
                        embedding_function=self._function,
                        metadata={"hnsw:space": "cosine", **base, _COMPLETE: False},
                    ),
                    self.folder,
                )
            except Exception as exc:
                raise RetrievalError(f"rebuilding the store failed: {exc}") from exc
            for start in range(0, len(items), _WRITE_BATCH):
                rows = items[start : start + _WRITE_BATCH]
                built.add(
                    ids=[entry[0] for entry in rows],
                    embeddings=[vectors[entry[0]] for entry in rows],
                    documents=[entry[1] for entry in rows],
                    metadatas=[entry[2] for entry in rows],
                )
            written = [entry[0] for entry in items]
            self._check_written(written, [vectors[written[0]]] if written else [], built)
            done = {**base, _STAMP: uuid.uuid4().hex, _DIRTY: False, _COMPLETE: True}
            built.modify(metadata=done)
            try:  # the swap: drop the old collection, then give the new one its name
                _settle_swap(self._client, self._name, self._function)
                col = self._client.get_collection(self._name, embedding_function=self._function)
            except Exception as exc:
                raise RetrievalError(
                    f"swapping in the rebuilt store failed: {exc}", hint=_REPAIR_HINT
                ) from exc
            self._col = _Guarded(col, self.folder)
            self._stamp = _stamp_of(col)
            self._dirty = False
            self._forget()
        return len(missing)

    def _stored_rows(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every stored item as (id, document, metadata): through Chroma, else, when its
        vector index cannot be loaded, from an embedded store's SQLite rows."""
        items: list[tuple[str, str, dict[str, Any]]] = []
        try:
            for got in self._pages(["metadatas", "documents"]):
                for item_id, doc, meta in zip(
                    got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False
                ):
                    items.append((item_id, str(doc or ""), dict(meta or {})))
            return items
        except RetrievalError:
            if self.folder is None:
                raise
        return _sqlite_rows(self.read_only_copy or self.folder, str(self._col.id))

    @_following
    def get(self, ids: Sequence[str]) -> list[Item]:
        """The stored items with these ids, in the order given (unknown ids are skipped)."""
        by_id: dict[str, Item] = {}
        for chunk in _chunks(ids):
            got = self._col.get(ids=chunk, include=["metadatas"])
            metas = got["metadatas"] or []
            by_id.update((i, self._read(m)) for i, m in zip(got["ids"], metas, strict=False))
        return [by_id[i] for i in ids if i in by_id]

    @_following
    def search_by_id(self, item_id: str, prefer_languages: Sequence[str] = ()) -> Item | None:
        """The stored item, shown in the first preferred language its group has."""
        found = self.get([item_id])
        if not found:
            return None
        variants = self.variants([found[0].group_key]).get(found[0].group_key, [])
        return preferred_variant(variants, prefer_languages, found[0])

    @_following
    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored embeddings of these ids (unknown ids, and empty embeddings, skipped)."""
        out: dict[str, np.ndarray] = {}
        for chunk in _chunks(ids):
            got = self._col.get(ids=chunk, include=["embeddings"])
            embeddings = got["embeddings"] if got["embeddings"] is not None else []
            for i, v in zip(got["ids"], embeddings, strict=False):
                if v is not None and len(v):
                    out[i] = np.asarray(v, dtype=np.float32)
        return out

    @_following
    def lexical_index(self) -> LexicalIndex:
        """The BM25 index of the stored passages, built on first use and after writes."""
        total = self._recent_count()
        if self._lexical is None or self._lexical[0] != total:
            documents: list[tuple[str, str]] = []
            for got in self._pages(["documents"]):
                documents.extend(zip(got["ids"], got["documents"] or [], strict=False))
            self._lexical = (total, LexicalIndex.build(documents))
        return self._lexical[1]

    def _where(self, filters: Filters) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if filters.domains:
            clauses.append({"domain": {"$in": [d.lower() for d in filters.domains]}})
        if filters.exclude_domains:
            clauses.append({"domain": {"$nin": [d.lower() for d in filters.exclude_domains]}})
        if filters.languages:
            clauses.append({"language": {"$in": [lang.lower() for lang in filters.languages]}})
        if filters.exclude_languages:
            excluded = [lang.lower() for lang in filters.exclude_languages]
            clauses.append({"language": {"$nin": excluded}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    @_following
    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        feedback: Feedback | None = None,
        vector: Any = None,
    ) -> list[Candidate]:
        """The ``k`` best groups for ``query``, one candidate each.

        ``vector``: ``query`` already embedded with this store's model (a batch of many
        requests' queries was encoded at once); else it is embedded here.

        Over-fetches (doubling) until ``k`` groups survive the filters and group merging,
        or the collection is exhausted. With ``feedback``, the query vector is first moved
        towards its best hits (pseudo-relevance feedback, see :class:`Feedback`).

        Each group is shown in the first of ``filters.prefer_languages`` it exists in; with
        none given, in the query's detected language when the group has it.
        """
        if k <= 0:
            return []
        filters = filters or Filters()
        if not filters.prefer_languages:
            guess = detect_language(query)
            if guess is not None:
                filters = filters.model_copy(update={"prefer_languages": (guess.code,)})
        if vector is None:
            vector = self.embedder.embed_queries([query])[0]
        if feedback is not None and feedback.weight > 0 and feedback.depth > 0:
            vector = self._with_feedback(vector, filters, feedback)
        return self.search_by_vector(vector, k, filters, text=query)

    def _with_feedback(self, vector: Any, filters: Filters, feedback: Feedback) -> Any:
        top = self.search_by_vector(vector, feedback.depth, filters)
        stored = self.vectors([c.id for c in top])
        if not stored:
            return vector
        units = [v / (np.linalg.norm(v) or 1.0) for v in stored.values()]
        moved = np.asarray(vector, dtype=np.float32) + feedback.weight * np.mean(units, axis=0)
        return moved / (np.linalg.norm(moved) or 1.0) * np.linalg.norm(vector)

    @_following
    def search_by_vector(
        self, vector: Any, k: int, filters: Filters, text: str | None = None
    ) -> list[Candidate]:
        """Like :meth:`search`, for a query already embedded with this store's model.

        With ``text``, BM25 hits for it are fused with the dense ones (hybrid retrieval).

        An embedded store whose index answers short is opened afresh once before that is
        reported: after a killed writer, Chroma's first index in a process lacked an item
        that a fresh client held (the crash tier saw it after 1 in ~40 kills).
        """
        try:
            return self._search_by_vector(vector, k, filters, text)
        except _ShortIndex:
            if self.folder is None or self.read_only_copy is not None:
                raise
        col = self._reopen()
        self._col = _Guarded(col, self.folder)
        self._stamp = _stamp_of(col)
        self._dirty = bool((col.metadata or {}).get(_DIRTY))
        self._forget()
        return self._search_by_vector(vector, k, filters, text)

    def _search_by_vector(
        self, vector: Any, k: int, filters: Filters, text: str | None
    ) -> list[Candidate]:
        excluded_ids = set(filters.exclude_ids)
        excluded_groups = set(filters.exclude_groups)
        if excluded_ids:
            excluded_groups |= {item.group_key for item in self.get(list(excluded_ids))}
        where = self._where(filters)

        passes = _item_filter(filters)

        def allowed(item: Item) -> bool:
            return (
                item.id not in excluded_ids
                and item.group_key not in excluded_groups
                and passes(item)
            )

        fetch = max(3 * k, k + 20)  # Chroma returns fewer when it holds fewer
        dense: dict[str, tuple[float, Item]] = {}
        subset: list[str] | None = None  # the ids a filter allows, for Chroma's ``ids=``
        if where is not None:
            subset, members, share = self._allowed_ids(where)
            if self._broad_search(vector, k, fetch, members, share, allowed, dense):
                subset = None
            else:
                dense.clear()
        if where is None or subset:
            read: set[str] = set()  # hits already read, of earlier rounds
            while True:
                got = self._col.query(
                    query_embeddings=[np.asarray(vector, dtype=np.float32)],
                    n_results=fetch,
                    ids=subset,
                    include=["metadatas", "distances"] if not read else ["distances"],
                )
                found = got["ids"][0]
                distances = got["distances"][0]  # type: ignore[index]
                if read:  # a larger round: read only the hits not read before
                    fresh = [
                        (i, d) for i, d in zip(found, distances, strict=False) if i not in read
                    ]
                    hits = self._read_hits(fresh)
                else:
                    metas = got["metadatas"][0]  # type: ignore[index]
                    hits = [(self._read(m), d) for m, d in zip(metas, distances, strict=False)]
                read.update(found)
                _keep_nearest(hits, allowed, dense)
                if where is None:
                    self._check_index(len(found), fetch)
                if len(dense) >= k or len(found) < fetch:
                    break
                fetch *= 2
        lexical = self._lexical_hits(text, allowed) if text and LEXICAL_WEIGHT > 0 else {}
        fused: dict[str, float] = {}
        for rank, group in enumerate(sorted(dense, key=lambda g: -dense[g][0]), start=1):
            fused[group] = 1.0 / (RRF_K + rank)
        for rank, group in enumerate(lexical, start=1):
            fused[group] = fused.get(group, 0.0) + LEXICAL_WEIGHT / (RRF_K + rank)
        only_lexical = [g for g in fused if g not in dense]
        if only_lexical:
            query = np.asarray(vector, dtype=np.float32)
            query = query / (np.linalg.norm(query) or 1.0)
            found = self.vectors([lexical[g][1].id for g in only_lexical])
            for group in only_lexical:
                item = lexical[group][1]
                stored = found.get(item.id)
                cosine = (
                    float(stored @ query / (np.linalg.norm(stored) or 1.0))
                    if stored is not None
                    else 0.0
                )
                dense[group] = (cosine, item)
        order = sorted(fused, key=lambda g: (-fused[g], -dense[g][0]))[:k]
        top = [(g, dense[g]) for g in order]
        strength = {g: lexical[g][0] for g in order if g in lexical}
        return self._candidates(top, filters, strength)

    def _broad_search(
        self,
        vector: Any,
        k: int,
        fetch: int,
        ids: frozenset[str],
        share: float,
        allowed: Callable[[Item], bool],
        dense: dict[str, tuple[float, Item]],
    ) -> bool:
        """Search a broad filter's items without restricting the index; fills ``dense``
        and says whether that found ``k`` groups (``False``: search only the ``ids``).

        When the filter lets through ``share`` of the store, at least ``fetch /
        OVERFETCH_LIMIT``, the nearest ``fetch / share`` items (twice that, for margin;
        ids and distances only) are cut to the allowed ones. They are the nearest allowed
        items, as every other allowed one is farther. Near-copies can crowd them all out
        (the scale bench's data): then ``False``.
        """
        if share <= 0:
            return False
        n = int(2 * fetch / share) + 1
        if n > OVERFETCH_LIMIT:
            return False  # a narrow filter: searching only its ids is the cheaper way
        got = self._col.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=n,
            include=["distances"],
        )
        self._check_index(len(got["ids"][0]), n)
        nearest = [
            (i, float(d))
            for i, d in zip(got["ids"][0], got["distances"][0], strict=False)  # type: ignore[index]
            if i in ids
        ]
        for start in range(0, len(nearest), fetch):  # as many as Chroma's filter would give
            _keep_nearest(self._read_hits(nearest[start : start + fetch]), allowed, dense)
            if len(dense) >= k:
                return True
        return len(got["ids"][0]) < n  # the whole store was read

    def _read_hits(self, hits: Sequence[tuple[str, float]]) -> list[tuple[Item, float]]:
        """The stored items of these (id, distance) hits, in their order."""
        found = {item.id: item for item in self.get([i for i, _ in hits])}
        return [(found[i], d) for i, d in hits if i in found]

    def _check_index(self, returned: int, asked: int) -> None:
        """An unfiltered query that returned fewer than asked read the whole index: fewer
        than the store holds means the index lost items (an overlapping write, say)."""
        if returned < asked:
            total = self.count()
            if returned < total:
                raise _ShortIndex(
                    f"the store's vector index holds {returned} of its {total} items",
                    hint=_REPAIR_HINT,
                )

    def _allowed_ids(self, where: dict[str, Any]) -> tuple[list[str], frozenset[str], float]:
        """The ids ``where`` lets through (a list and a set) and their share of the store,
        remembered for :data:`ALLOWED_TTL` seconds while the count stays the same (a write
        through this Store forgets them at once).

        Chroma filters metadata before it searches the index: at 100,000 items a query
        with one domain's ``where`` took 80 ms, with the same domain's 20,000 ``ids`` 15
        ms, unfiltered 3 ms. Reading the ids takes 63 ms, once.
        """
        key = json.dumps(where, sort_keys=True)
        total = self._recent_count()
        now = time.monotonic()
        cached = self._allowed.get(key)
        if cached is None or cached[2] != total or now - cached[3] > ALLOWED_TTL:
            ids = list(self._col.get(where=where, include=[])["ids"])
            cached = (ids, frozenset(ids), total, now)
            self._allowed[key] = cached
            while len(self._allowed) > 16:
                self._allowed.pop(next(iter(self._allowed)))
        return cached[0], cached[1], (len(cached[0]) / total if total else 0.0)

    def _lexical_hits(
        self, text: str, allowed: Callable[[Item], bool]
    ) -> dict[str, tuple[float, Item]]:
        """Best BM25 hit per group, best first, with its score scaled to 0..1."""
        scores = self.lexical_index().scores(text)
        if not scores:
            return {}
        best = max(scores.values())
        ranked = sorted(scores, key=lambda i: -scores[i])[: LEXICAL_DEPTH * 4]
        out: dict[str, tuple[float, Item]] = {}
        for item in self.get(ranked):
            if allowed(item) and item.group_key not in out:
                out[item.group_key] = (round(scores[item.id] / best, 6), item)
                if len(out) >= LEXICAL_DEPTH:
                    break
        return out

    @_following
    def variants(self, groups: Sequence[str]) -> dict[str, list[Item]]:
        """Every stored language version of these groups (an ungrouped item is its own).

        Fetched by id where the group's member ids are known (read with one of its items'
        metadata, written there by ingest): at 100,000 items a ``group $in`` lookup took
        16 ms, the same by id 3 ms. Groups without a list (written before ingest kept
        members, or too large to list) are looked up by group, and so is every group
        while a write is under way or was cut short (its lists may be stale).
        """
        members: dict[str, list[Item]] = {g: [] for g in groups}
        known = {g: None if self._dirty else self._members.get(g) for g in groups}
        by_id = [i for g in groups for i in json.loads(known[g] or "[]")]
        for item in self.get(by_id):
            if item.group_key in members:
                members[item.group_key].append(item)
        rest = [g for g in groups if not known[g]]
        for group, rows in self._group_rows(rest).items():
            members[group].extend(_item_of(meta) for _, meta in rows)
        return members

    def _read(self, metadata: Any) -> Item:
        """The item of stored ``metadata``, noting its group's member ids."""
        item = _item_of(metadata)
        listed = metadata.get(_MEMBERS) if isinstance(metadata, dict) else None
        if isinstance(listed, str) and listed:
            if len(self._members) >= _MEMBERS_KEPT:
                self._members.pop(next(iter(self._members)), None)
            self._members[item.group_key] = listed
        return item

    def _refresh_members(self, groups: Sequence[str]) -> None:
        """Write each group's member ids (a JSON list) into the metadata of its stored
        items, so that :meth:`variants` fetches them by id."""
        rows = self._group_rows(groups)
        listed = {g: _listing(item_id for item_id, _ in r) for g, r in rows.items()}
        self._update(*_member_updates(rows, listed))

    def _group_rows(self, groups: Sequence[str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """The stored items (id, metadata) of each of these groups that has any."""
        rows: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for chunk in _chunks(groups):
            got = self._col.get(where={"group": {"$in": chunk}}, include=["metadatas"])
            for item_id, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                rows.setdefault(str((meta or {}).get("group")), []).append(
                    (item_id, dict(meta or {}))
                )
        return rows

    def _update(self, ids: Sequence[str], metas: Sequence[dict[str, Any]]) -> None:
        """Write these items' metadata, embeddings left as they are."""
        for start in range(0, len(ids), _WRITE_BATCH):
            self._col.update(
                ids=list(ids[start : start + _WRITE_BATCH]),
                metadatas=list(metas[start : start + _WRITE_BATCH]),
            )

    def _candidates(
        self,
        top: Sequence[tuple[str, tuple[float, Item]]],
        filters: Filters,
        lexical: dict[str, float] | None = None,
    ) -> list[Candidate]:
        members = self.variants([group for group, _ in top])
        passes = _item_filter(filters)
        out: list[Candidate] = []
        for group, (score, hit) in top:
            # The language versions the filters allow (languages, region, price: a variant
            # priced over the ceiling is not shown; the hit always qualifies), in a stable
            # order; the one shown is the first preferred language among them.
            variants = sorted(
                [v for v in members.get(group) or [hit] if v.id == hit.id or passes(v)],
                key=lambda it: (it.language or "", it.id),
            )
            shown = preferred_variant(variants, filters.prefer_languages, hit)
            out.append(
                Candidate(
                    id=shown.id,
                    group=group,
                    score=round(score, 6),
                    lexical=(lexical or {}).get(group, 0.0),
                    title=shown.title,
                    description=shown.description,
                    language=shown.language or "",
                    domain=shown.domain,
                    tags=shown.tags,
                    regions=shown.regions,
                    attributes=dict(shown.attributes),
                    variants=tuple(  # fields of validated Items: no second validation
                        Variant.model_construct(
                            id=v.id,
                            language=v.language or "",
                            title=v.title,
                            description=v.description,
                        )
                        for v in variants
                    ),
                )
            )
        return out
