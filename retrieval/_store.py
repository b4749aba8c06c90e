"""The store: a Chroma collection of catalogue items, tied to one embedding model.

Usage::

    store = Store.open(".polyrank", embeddings="fusion")     # or "chroma://127.0.0.1:8000"
    report = store.ingest(load_catalog("data/catalog.jsonl"))
    candidates = store.search("a gift for a hiker", k=5, filters=Filters(domains=("products",)))

:class:`Store` is a façade over one module per concern: :mod:`._chroma` (every chromadb
call: clients, the guarded collection, the write lock, the rebuild's swap),
:mod:`._filters` (a Filters compiled once per search), :mod:`._search` (the planner and the
candidates), :mod:`._groups` (items and their groups' member lists) and :mod:`._writes`
(ingest, delete, repair). Each public read first checks that no other process changed the
store (one cheap read), and forgets what it remembered if one did.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from polyrank.retrieval._catalog import Item
from polyrank.retrieval._embeddings import DEFAULT_EMBEDDINGS, Embedder
from polyrank.retrieval._filters import compile_filters, unknown_domain
from polyrank.retrieval._groups import Groups
from polyrank.retrieval._search import (
    Feedback,
    Searcher,
    ShortIndex,
    preferred_variant,
    with_query_language,
)
from polyrank.retrieval._types import Candidate, Filters
from polyrank.retrieval._writes import IngestReport, Progress, Writer
from polyrank.retrieval.errors import ConfigError
from polyrank.retrieval.registry import resolve

if TYPE_CHECKING:
    from polyrank.retrieval._chroma import Collection, Connection

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_STORE",
    "Feedback",
    "IngestReport",
    "Store",
    "make_http_client",
    "preferred_variant",
]

DEFAULT_STORE = ".polyrank/store"
DEFAULT_COLLECTION = "catalog"


def make_http_client(arg: str | None = None, **_: Any) -> Any:
    """``chroma://HOST:PORT``: a Chroma server (the ``store.chroma`` entry point)."""
    from polyrank.retrieval._chroma import http_client

    bad = ConfigError(f"bad Chroma server spec 'chroma:{arg}'; expected chroma://HOST:PORT")
    try:  # urlparse raises ValueError for "[::1" and ".port" for ":99999" or ":abc"
        url = urlparse(f"chroma:{arg or ''}")
        port = url.port
    except ValueError:
        raise bad from None
    if not url.hostname or not port:
        raise bad
    return http_client(url.hostname, port)


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
        from polyrank.retrieval._chroma import Connection, close_client
        from polyrank.retrieval.errors import RetrievalError

        self.embedder = embedder
        #: The embedded store's folder (``None`` for a Chroma server): it holds the lock
        #: that keeps writers one at a time.
        self.folder = folder
        #: The temporary copy a read-only store is read from (see ``Store.open``).
        self.read_only_copy: Path | None = read_only_copy
        self._drop_copy: weakref.finalize[Any, Any] | None = None
        try:
            self._connection: Connection = Connection(
                client, embedder, collection, folder=folder, read_only_copy=read_only_copy
            )
        except ConfigError:
            close_client(client)
            raise
        except Exception as exc:
            close_client(client)
            raise RetrievalError(f"cannot open collection {collection!r}: {exc}") from exc
        self._groups = Groups(self._connection)
        self._searcher = Searcher(self._connection, self._groups)
        self._writer = Writer(self._connection, self._groups, embedder, self._forget_cached)

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
        from polyrank.retrieval import _chroma

        remote = bool(location and "://" in location)
        folder = None if remote else Path(location or DEFAULT_STORE)
        if not create and folder is not None and not (folder / "chroma.sqlite3").is_file():
            raise ConfigError(
                f"there is no store at {str(folder)!r}",
                hint=f"fill it first: polyrank ingest FILE --store {folder} (or polyrank demo "
                f"--store {folder} for the sample catalogue)",
            )
        if location and remote:
            scheme, _, rest = location.partition(":")
            client, copy = resolve("store", f"{scheme}:{rest}"), None
        else:
            client, copy = _chroma.persistent_client(location, writable=create)
        recorded = _chroma.recorded_embeddings(client, collection)
        if not create and recorded is None and not _chroma.exists(client, collection):
            _chroma.close_client(client)
            if copy is not None:
                _chroma.drop_copy(copy)
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
        try:
            store = cls(client, embedder, collection, folder=folder, read_only_copy=copy)
        except Exception:
            if copy is not None:
                _chroma.drop_copy(copy)
            raise
        if copy is not None:
            # Removed on close, and at the latest when the process exits.
            store._drop_copy = weakref.finalize(store, _chroma.drop_copy, copy)
        return store

    def close(self) -> None:
        """Release the Chroma client (connections, file handles). Idempotent."""
        self._connection.close()
        if self._drop_copy is not None:
            self._drop_copy()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # What tests and repairs look at below the façade.
    @property
    def _client(self) -> Any:
        return self._connection.client

    @property
    def _col(self) -> Collection:
        return self._connection.collection

    @property
    def _members(self) -> dict[str, str]:
        return self._groups.members

    def _forget_cached(self) -> None:
        """After a write, or another process's: what reads remembered is read afresh."""
        self._searcher.forget()
        self._groups.forget()

    def _follow(self) -> None:
        """Reopen when another process changed the store (see ``Connection.follow``)."""
        if self._connection.follow():
            self._forget_cached()

    # Reads: each follows other processes' writes first.

    def count(self) -> int:
        self._follow()
        return self._col.count()

    def ids(self) -> list[str]:
        """Every stored item id."""
        self._follow()
        return self._writer.ids()

    def get(self, ids: Sequence[str]) -> list[Item]:
        """The stored items with these ids, in the order given (unknown ids are skipped)."""
        self._follow()
        return self._groups.items(ids)

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored embeddings of these ids (unknown ids, and empty embeddings, skipped)."""
        self._follow()
        return self._col.vectors(ids)

    def variants(self, groups: Sequence[str]) -> dict[str, list[Item]]:
        """Every stored language version of these groups (an ungrouped item is its own)."""
        self._follow()
        return self._groups.variants(groups)

    def search_by_id(self, item_id: str, prefer_languages: Sequence[str] = ()) -> Item | None:
        """The stored item, shown in the first preferred language its group has."""
        self._follow()
        found = self._groups.items([item_id])
        if not found:
            return None
        variants = self._groups.variants([found[0].group_key]).get(found[0].group_key, [])
        return preferred_variant(variants, prefer_languages, found[0])

    def check_domains(self, domains: Sequence[str]) -> tuple[str, ...]:
        """``domains`` lower-cased; ``ConfigError`` naming the stored ones for an unknown one."""
        self._follow()
        wanted = tuple(d.strip().lower() for d in domains)
        unknown = [d for d in wanted if not self._col.get(where={"domain": d}, limit=1)["ids"]]
        if not unknown or self._col.count() == 0:
            return wanted
        known = {
            str(m.get("domain"))
            for got in self._col.pages(["metadatas"])
            for m in got["metadatas"] or []
        }
        raise unknown_domain(unknown[0], known)

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
        filters = with_query_language(filters, query)
        if vector is None:
            vector = self.embedder.embed_queries([query])[0]
        if feedback is not None and feedback.weight > 0 and feedback.depth > 0:
            self._follow()
            vector = self._searcher.with_feedback(vector, compile_filters(filters), feedback)
        return self.search_by_vector(vector, k, filters)

    def search_by_vector(self, vector: Any, k: int, filters: Filters) -> list[Candidate]:
        """Like :meth:`search`, for a query already embedded with this store's model.

        An embedded store whose index answers short is opened afresh once before that is
        reported: after a killed writer, Chroma's first index in a process lacked an item
        that a fresh client held (the crash tier saw it after 1 in ~40 kills).
        """
        self._follow()
        compiled = compile_filters(filters)
        try:
            return self._searcher.search(vector, k, compiled)
        except ShortIndex:
            if self.folder is None or self.read_only_copy is not None:
                raise
        self._connection.refresh()
        self._forget_cached()
        return self._searcher.search(vector, k, compiled)

    # Writes: one writer at a time (see polyrank.retrieval._writes).

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
        server; a writer that waited too long gets a retryable RetrievalError); what was
        written is checked afterwards. With ``sync``, stored items missing from ``items``
        are deleted; a sync that would delete every stored item or more than
        ``SYNC_DELETE_SHARE`` of them is refused (ConfigError, nothing written) unless
        ``allow_delete_all``.

        The write is marked in the collection's metadata while it runs: if it is cut
        short, readers look variants up by group and the next write recomputes every
        group's member list.
        """
        return self._writer.ingest(items, progress, sync=sync, allow_delete_all=allow_delete_all)

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Delete these items; returns the ids that were stored (unknown ids are ignored)."""
        return self._writer.delete(ids)

    def repair(self, progress: Progress | None = None) -> int:
        """Rebuild the collection from what it stores, into a new collection that takes
        the old one's place once it is complete and checked (a crash at any point leaves
        the old or the new one whole; the next open or write finishes the swap).

        Every item's metadata and document is read (from the SQLite rows themselves when
        the vector index cannot be loaded, e.g. a truncated index file), embeddings are
        kept where readable and computed again otherwise, and member lists are
        recomputed. Returns how many items were re-embedded.
        """
        return self._writer.repair(progress)
