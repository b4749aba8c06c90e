"""Writes to a store: ingest (upsert, sync), delete and repair, one writer at a time.

Each write holds the store's write lock, marks the collection dirty while it runs (readers
then look variants up by group, the next write recomputes every member list), writes each
touched group's member list with its items, and checks what it wrote.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from polyrank.retrieval._catalog import Item, content_hash
from polyrank.retrieval._embeddings import Embedder
from polyrank.retrieval._groups import (
    MEMBERS,
    Groups,
    chunks,
    listing,
    member_updates,
    metadata,
)
from polyrank.retrieval.errors import REPAIR_HINT, ConfigError, RetrievalError

if TYPE_CHECKING:
    from polyrank.retrieval._chroma import Collection, Connection

__all__ = ["IngestReport", "Progress", "Writer", "check_sync"]

Progress = Callable[[int, int], None]

_EMBED_BATCH = 64
#: Items per Chroma write (upsert, add, update).
WRITE_BATCH = 1000
#: A sync may delete at most this share of the store without ``allow_delete_all`` (an
#: empty or truncated file given to ``--sync`` wiped a whole store, exit 0).
SYNC_DELETE_SHARE = 0.5


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


def check_sync(leaving: int, total: int) -> None:
    """Refuse a sync that would delete everything, or more than SYNC_DELETE_SHARE."""
    if leaving < total and leaving <= SYNC_DELETE_SHARE * total:
        return
    share = "every item" if leaving >= total else f"{leaving / total:.0%} of the items"
    raise ConfigError(
        f"this sync would delete {leaving} of the store's {total} items ({share}); "
        "nothing was written",
        hint="check that the catalogue file is complete; to delete them anyway, pass "
        "--allow-delete-all (Store.ingest(..., allow_delete_all=True))",
    )


class Writer:
    """The writes of one store. ``forget`` is called after every write (what readers
    remember is then stale)."""

    def __init__(
        self,
        connection: Connection,
        groups: Groups,
        embedder: Embedder,
        forget: Callable[[], None],
    ) -> None:
        self._connection = connection
        self._groups = groups
        self._embedder = embedder
        self._forget = forget

    @property
    def _col(self) -> Collection:
        return self._connection.collection

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the write lock, following what other writers did first (a write through a
        stale index would save that stale index over theirs), a cut rebuild settled."""
        from polyrank.retrieval._chroma import read_only_error

        connection = self._connection
        if connection.read_only_copy is not None:  # never write to the temporary copy
            raise read_only_error(connection.folder)
        with connection.lock():
            connection.settle()
            if connection.follow():
                self._forget()
            yield

    @contextmanager
    def _marked(self) -> Iterator[None]:
        """The collection marked dirty while the body writes, clean once it succeeded."""
        self._connection.set_state(dirty=True)
        try:
            yield
        finally:
            self._forget()
        self._connection.set_state(dirty=False)

    def ingest(
        self,
        items: Sequence[Item],
        progress: Progress | None,
        *,
        sync: bool,
        allow_delete_all: bool,
    ) -> IngestReport:
        """See :meth:`polyrank.retrieval.Store.ingest`."""
        started = time.perf_counter()
        truncated_before = int(getattr(self._embedder, "truncated", 0))
        digests = [content_hash(item) for item in items]
        ids = [item.id for item in items]
        with self._writing():
            gone = sorted(set(self.ids()) - set(ids)) if sync else []
            if gone and not allow_delete_all:
                self._check_sync(len(gone))
            recompute = self._connection.dirty  # a write was cut short: lists may be stale
            stored, old_group, touched = self._stored_state(ids)
            if recompute:
                touched.update((group, None) for group in self._stored_groups())
            todo = [i for i, item in enumerate(items) if stored.get(item.id) != digests[i]]
            vectors = self._embed([items[i].passage() for i in todo], progress)
            for i in todo:  # the group an item joins, and the one it may leave
                touched[items[i].group_key] = None
                if items[i].id in old_group:
                    touched[old_group[items[i].id]] = None
            touched.update((item.group_key, None) for item in self._groups.items(gone))
            # Each touched group's members once written: its stored items that stay, and
            # the items joining it. They go into the upsert; only the stayers are updated.
            leaving = {items[i].id for i in todo} | set(gone)
            staying = {
                group: [row for row in rows if row[0] not in leaving]
                for group, rows in self._groups.rows(list(touched)).items()
            }
            members = {group: [item_id for item_id, _ in rows] for group, rows in staying.items()}
            for i in todo:
                members.setdefault(items[i].group_key, []).append(items[i].id)
            listed = {group: listing(ids) for group, ids in members.items()}
            updates = member_updates(staying, listed)
            if todo or gone or updates[0] or recompute:
                with self._marked():
                    for start in range(0, len(todo), WRITE_BATCH):
                        chunk = todo[start : start + WRITE_BATCH]
                        self._col.upsert(
                            ids=[items[i].id for i in chunk],
                            embeddings=[vectors[j] for j in range(start, start + len(chunk))],
                            documents=[items[i].passage() for i in chunk],
                            metadatas=[
                                metadata(items[i], digests[i], listed[items[i].group_key])
                                for i in chunk
                            ],
                        )
                    for chunk_ids in chunks(gone):
                        self._col.delete(ids=chunk_ids)
                    self._update(*updates)
                    self._check_written(self._col, [items[i].id for i in todo], vectors[:1])
        added = sum(1 for i in todo if items[i].id not in stored)
        return IngestReport(
            total=len(items),
            added=added,
            updated=len(todo) - added,
            unchanged=len(items) - len(todo),
            embedded=len(todo),
            seconds=time.perf_counter() - started,
            truncated=int(getattr(self._embedder, "truncated", 0)) - truncated_before,
            deleted=len(gone),
        )

    def _stored_state(
        self, ids: Sequence[str]
    ) -> tuple[dict[str, str], dict[str, str], dict[str, None]]:
        """For the stored ones of ``ids``: their content hash and group, and the groups
        stored before member lists existed (their lists must be written)."""
        stored: dict[str, str] = {}
        old_group: dict[str, str] = {}
        touched: dict[str, None] = {}  # groups whose member lists may change
        for start in range(0, len(ids), WRITE_BATCH):
            got = self._col.get(ids=list(ids[start : start + WRITE_BATCH]), include=["metadatas"])
            for item_id, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                stored[item_id] = str((meta or {}).get("hash", ""))
                old_group[item_id] = str((meta or {}).get("group"))
                if (meta or {}).get(MEMBERS) is None:  # stored before member lists
                    touched[old_group[item_id]] = None
        return stored, old_group, touched

    def _embed(self, passages: Sequence[str], progress: Progress | None) -> list[np.ndarray]:
        vectors: list[np.ndarray] = []
        for start in range(0, len(passages), _EMBED_BATCH):
            vectors.extend(self._embedder.embed_passages(passages[start : start + _EMBED_BATCH]))
            if progress:
                progress(min(start + _EMBED_BATCH, len(passages)), len(passages))
        return vectors

    def ids(self) -> list[str]:
        """Every stored item id."""
        return [item_id for got in self._col.pages([]) for item_id in got["ids"]]

    def _check_sync(self, leaving: int) -> None:
        check_sync(leaving, self._col.count())

    def _stored_groups(self) -> list[str]:
        """Every stored item's group."""
        return list(
            dict.fromkeys(
                str((meta or {}).get("group"))
                for got in self._col.pages(["metadatas"])
                for meta in got["metadatas"] or []
            )
        )

    def _update(self, ids: Sequence[str], metas: Sequence[dict[str, Any]]) -> None:
        """Write these items' metadata, embeddings left as they are."""
        for start in range(0, len(ids), WRITE_BATCH):
            self._col.update(
                ids=list(ids[start : start + WRITE_BATCH]),
                metadatas=list(metas[start : start + WRITE_BATCH]),
            )

    @staticmethod
    def _check_written(col: Collection, written: Sequence[str], probe: Sequence[Any]) -> None:
        """After a write: every written id is stored with its embedding, and the vector
        index answers a query. Raises RetrievalError (hint: ``--repair``) otherwise."""
        found = len(col.vectors(written))
        if found != len(set(written)):
            raise RetrievalError(
                f"the store holds {found} of the {len(set(written))} items just written",
                hint=REPAIR_HINT,
            )
        total = col.count()
        if probe and total:
            found_ids, _, _ = col.nearest(probe[0], min(total, 10))
            if not found_ids:
                raise RetrievalError("the store's vector index returns nothing", hint=REPAIR_HINT)

    def delete(self, ids: Sequence[str]) -> list[str]:
        """See :meth:`polyrank.retrieval.Store.delete`."""
        with self._writing():
            found = self._groups.items(list(dict.fromkeys(ids)))
            present = [item.id for item in found]
            if not present:
                return []
            groups = list(dict.fromkeys(item.group_key for item in found))
            if self._connection.dirty:  # a write was cut short: recompute every list
                groups = self._stored_groups()
            with self._marked():
                for chunk in chunks(present):
                    self._col.delete(ids=chunk)
                rows = self._groups.rows(groups)
                listed = {g: listing(item_id for item_id, _ in r) for g, r in rows.items()}
                self._update(*member_updates(rows, listed))
        return present

    def repair(self, progress: Progress | None) -> int:
        """See :meth:`polyrank.retrieval.Store.repair`."""
        with self._writing():
            items = self._stored_rows()
            vectors: dict[str, Any] = {}
            for chunk in chunks([entry[0] for entry in items]):
                try:
                    vectors.update(self._col.vectors(chunk))
                except RetrievalError:
                    continue  # unreadable here: embedded again below
            missing = [(i, doc) for i, doc, _ in items if i not in vectors]
            embedded = self._embed([doc for _, doc in missing], progress)
            vectors.update((item_id, v) for (item_id, _), v in zip(missing, embedded, strict=True))
            by_group: dict[str, list[str]] = {}
            for item_id, _, meta in items:
                by_group.setdefault(str(meta.get("group")), []).append(item_id)
            listed = {group: listing(members) for group, members in by_group.items()}
            for _, _, meta in items:
                meta[MEMBERS] = listed[str(meta.get("group"))]
            built = self._connection.new_build()
            for start in range(0, len(items), WRITE_BATCH):
                rows = items[start : start + WRITE_BATCH]
                built.add(
                    ids=[entry[0] for entry in rows],
                    embeddings=[vectors[entry[0]] for entry in rows],
                    documents=[entry[1] for entry in rows],
                    metadatas=[entry[2] for entry in rows],
                )
            written = [entry[0] for entry in items]
            self._check_written(built, written, [vectors[written[0]]] if written else [])
            self._connection.swap_in(built)
            self._forget()
        return len(missing)

    def _stored_rows(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every stored item as (id, document, metadata): through Chroma, else, when its
        vector index cannot be loaded, from an embedded store's SQLite rows."""
        items: list[tuple[str, str, dict[str, Any]]] = []
        try:
            for got in self._col.pages(["metadatas", "documents"]):
                for item_id, doc, meta in zip(
                    got["ids"], got["documents"] or [], got["metadatas"] or [], strict=False
                ):
                    items.append((item_id, str(doc or ""), dict(meta or {})))
            return items
        except RetrievalError:
            if self._connection.folder is None:
                raise
        return self._connection.sqlite_rows()
