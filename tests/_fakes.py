"""Test doubles shared by the durability and crash tests."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from polyrank.retrieval import Item

DIM = 16


class HashEmbedder:
    """A deterministic embedder with no model: a text's vector comes from its hash, the
    same for a query and a passage (so a passage found as a query is its own nearest)."""

    spec = "hash-test"

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), DIM)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)


def item(item_id: str, group: str, language: str, title: str | None = None) -> Item:
    return Item(
        id=item_id,
        group=group,
        title=title or f"Item {item_id}",
        description=f"about {group}",
        language=language,
        domain="books",
    )


def catalogue(groups: int, languages: Sequence[str], prefix: str = "g") -> list[Item]:
    return [
        item(f"{prefix}{g}-{lang}", f"{prefix}{g}", lang)
        for g in range(groups)
        for lang in languages
    ]


@contextlib.contextmanager
def interrupted(method: str, after: int = 0) -> Iterator[list[int]]:
    """Chroma collection calls named ``method`` raise KeyboardInterrupt (as SIGINT would)
    once ``after`` of them have run; yields the count of calls made."""
    from polyrank.retrieval._chroma import watched_calls

    calls = [0]

    def cut(name: str, kwargs: dict[str, Any]) -> None:
        if name == method:
            calls[0] += 1
            if calls[0] > after:
                raise KeyboardInterrupt

    with watched_calls(before=cut):
        yield calls


def fresh_process_view() -> None:
    """Forget Chroma's per-path clients, as a new process would open the store."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
