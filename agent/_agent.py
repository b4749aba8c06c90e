"""The polyrank façade: one object for ingestion, search and (later) recommendation.

Usage::

    from agent import Agent
    agent = Agent(store=".polyrank/store")          # embeddings: the store's or the default
    agent.ingest("data/catalog.jsonl")
    for c in agent.search("送给喜欢徒步的朋友的礼物", k=5, domains=["products"]):
        print(c.title, c.language)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from agent.errors import ConfigError
from retrieval import Candidate, Filters, IngestReport, Store, detect_language, load_catalog
from retrieval._embeddings import Embedder

__all__ = ["Agent"]


def _tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


class Agent:
    """Multilingual recommendation agent.

    Args:
        store: a folder for embedded Chroma, ``chroma://HOST:PORT``, or an open
            :class:`~retrieval.Store`. Default ``.polyrank/store``.
        model: the LLM spec (``local`` or ``openai:MODEL``); used by ``recommend``.
        embeddings: an embedding spec (``fusion``, ``e5-small``, ``use-m3``,
            ``openai:MODEL``) or an :class:`~retrieval.Embedder`. Default: the one the
            store was built with, else the measured default.
    """

    def __init__(
        self,
        store: str | Path | Store | None = None,
        *,
        model: str = "local",
        embeddings: str | Embedder | None = None,
    ) -> None:
        if isinstance(store, Store):
            if embeddings is not None:
                raise ConfigError("pass embeddings when opening the Store, not with an open one")
            self.store = store
        else:
            self.store = Store.open(str(store) if store else None, embeddings=embeddings)
        self.model = model

    def ingest(
        self, path: str | Path, progress: Callable[[int, int], None] | None = None
    ) -> IngestReport:
        """Validate a whole catalogue file, then upsert it (unchanged items are not re-embedded).

        Raises:
            CatalogError: listing every bad line; the store is left untouched.
        """
        return self.store.ingest(load_catalog(path), progress=progress)

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        domains: str | Iterable[str] | None = None,
        languages: str | Iterable[str] | None = None,
        region: str | None = None,
        exclude_ids: Iterable[str] | None = None,
        prefer_languages: str | Iterable[str] | None = None,
    ) -> list[Candidate]:
        """The ``k`` best catalogue items for ``query``, one per group.

        Each group is shown in the first of ``prefer_languages`` it exists in; by default
        that is the detected language of the query.
        """
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        preferred = _tuple(prefer_languages)
        if not preferred:
            guess = detect_language(query)
            preferred = (guess.code,) if guess else ()
        filters = Filters(
            domains=_tuple(domains),
            languages=_tuple(languages),
            region=region,
            exclude_ids=_tuple(exclude_ids),
            prefer_languages=preferred,
        )
        return self.store.search(query, k, filters)
