"""Stored items and their groups' member lists.

Each stored item's metadata carries its item (JSON) and its group's member ids (JSON,
:data:`MEMBERS`), written by ingest: a group's language versions are then fetched by id
(3 ms at 100,000 items) instead of by a ``group $in`` lookup (16 ms).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from polyrank.retrieval._catalog import Item

if TYPE_CHECKING:
    from polyrank.retrieval._chroma import Connection

__all__ = [
    "MEMBERS",
    "MEMBERS_LISTED_MAX",
    "Groups",
    "chunks",
    "listing",
    "member_updates",
    "metadata",
]

#: The metadata key holding an item's group's member ids (JSON), and how many groups' lists
#: a Store keeps in memory (each read with the metadata that carried it).
MEMBERS = "members"
_MEMBERS_KEPT = 50_000
#: A group with more members than this carries no member list (its items' lists held
#: every other member: 4,000 versions of one group made a 761 MB store and a 9.4 s delete);
#: its variants are looked up by group instead.
MEMBERS_LISTED_MAX = 64

#: Ids per Chroma lookup: SQLite limits the variables of one statement.
ID_BATCH = 500

Rows = dict[str, list[tuple[str, dict[str, Any]]]]


def chunks(ids: Sequence[str]) -> list[list[str]]:
    """``ids`` without repeats (a repeated id is a DuplicateIDError in Chroma), batched."""
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + ID_BATCH] for i in range(0, len(unique), ID_BATCH)]


def metadata(item: Item, digest: str, members: str) -> dict[str, str | int | float | bool]:
    """What is stored beside an item's embedding."""
    return {
        "title": item.title,
        "language": item.language or "",
        "domain": item.domain,
        "group": item.group_key,
        "hash": digest,
        "item": json.dumps(item.model_dump(mode="json"), ensure_ascii=False),
        MEMBERS: members,
    }


@functools.lru_cache(maxsize=8192)
def _parsed_item(text: str) -> Item:
    """An item from its stored JSON, parsed once per process (Items are frozen): every
    search parsed about 100 of them again, 1.7 ms of each recommend."""
    return Item.model_validate_json(text)


def item_of(meta: Any) -> Item:
    return _parsed_item(str(meta["item"]))


def listing(ids: Iterable[str]) -> str:
    """A group's member list as stored: its ids (JSON), or "" for a group too large to
    list (looked up by group)."""
    unique = sorted(set(ids))
    return json.dumps(unique) if len(unique) <= MEMBERS_LISTED_MAX else ""


def member_updates(rows: Rows, listed: dict[str, str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The stored items (``rows`` by group) whose member list is not ``listed[group]``,
    and their metadata with the right list."""
    ids: list[str] = []
    metas: list[dict[str, Any]] = []
    for group, group_rows in rows.items():
        for item_id, meta in group_rows:
            if meta.get(MEMBERS) != listed[group]:
                ids.append(item_id)
                metas.append({**meta, MEMBERS: listed[group]})
    return ids, metas


class Groups:
    """Reads items by id and groups' language versions, remembering the member lists
    read with them (until :meth:`forget`, after any write)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        #: group -> its member ids (JSON), as last read
        self.members: dict[str, str] = {}

    def forget(self) -> None:
        self.members = {}

    def note(self, meta: Any) -> Item:
        """The item of stored ``meta``, noting its group's member ids."""
        item = item_of(meta)
        listed = meta.get(MEMBERS) if isinstance(meta, dict) else None
        if isinstance(listed, str) and listed:
            if len(self.members) >= _MEMBERS_KEPT:
                self.members.pop(next(iter(self.members)), None)
            self.members[item.group_key] = listed
        return item

    def items(self, ids: Sequence[str]) -> list[Item]:
        """The stored items with these ids, in the order given (unknown ids skipped)."""
        by_id: dict[str, Item] = {}
        for chunk in chunks(ids):
            got = self._connection.collection.get(ids=chunk, include=["metadatas"])
            metas = got["metadatas"] or []
            by_id.update((i, self.note(m)) for i, m in zip(got["ids"], metas, strict=False))
        return [by_id[i] for i in ids if i in by_id]

    def rows(self, groups: Sequence[str]) -> Rows:
        """The stored items (id, metadata) of each of these groups that has any."""
        rows: Rows = {}
        for chunk in chunks(groups):
            got = self._connection.collection.get(
                where={"group": {"$in": chunk}}, include=["metadatas"]
            )
            for item_id, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                rows.setdefault(str((meta or {}).get("group")), []).append(
                    (item_id, dict(meta or {}))
                )
        return rows

    def variants(self, groups: Sequence[str]) -> dict[str, list[Item]]:
        """Every stored language version of these groups (an ungrouped item is its own).

        Fetched by id where the group's member ids are known; groups without a list
        (written before ingest kept members, or too large to list) are looked up by group,
        and so is every group while a write is under way or was cut short (its lists may
        be stale).
        """
        dirty = self._connection.dirty
        found: dict[str, list[Item]] = {g: [] for g in groups}
        known = {g: None if dirty else self.members.get(g) for g in groups}
        by_id = [i for g in groups for i in json.loads(known[g] or "[]")]
        for item in self.items(by_id):
            if item.group_key in found:
                found[item.group_key].append(item)
        rest = [g for g in groups if not known[g]]
        for group, rows in self.rows(rest).items():
            found[group].extend(item_of(meta) for _, meta in rows)
        return found
