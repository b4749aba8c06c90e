"""What the rest of polyrank needs from a store: the narrow seam that the Chroma
:class:`~polyrank.retrieval.Store` and :class:`~polyrank.retrieval.testing.InMemoryStore`
both satisfy.

``StoreReader`` is what the agent, the local ranker, profiles and the eval metrics read;
``WritableStore`` adds the one write an :class:`~polyrank.agent.Agent` makes
(``Agent.ingest``). Deleting, repairing and sync guards belong to the concrete store that
the command line opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from polyrank.retrieval._catalog import Item
    from polyrank.retrieval._embeddings import Embedder
    from polyrank.retrieval._search import Feedback
    from polyrank.retrieval._types import Candidate, Filters
    from polyrank.retrieval._writes import IngestReport, Progress

__all__ = ["StoreReader", "WritableStore"]


@runtime_checkable
class StoreReader(Protocol):
    """The reads of a store of catalogue items, each item one language version of a group."""

    @property
    def embedder(self) -> Embedder:
        """The model the stored passages were embedded with (queries use it too)."""
        ...

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        feedback: Feedback | None = None,
        vector: Any = None,
    ) -> list[Candidate]:
        """The ``k`` best groups for ``query`` (or its ``vector``), one candidate each."""
        ...

    def search_by_id(self, item_id: str, prefer_languages: Sequence[str] = ()) -> Item | None:
        """The stored item, shown in the first preferred language its group has."""
        ...

    def get(self, ids: Sequence[str]) -> list[Item]:
        """The stored items with these ids, in the order given (unknown ids skipped)."""
        ...

    def variants(self, groups: Sequence[str]) -> dict[str, list[Item]]:
        """Every stored language version of these groups."""
        ...

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored embeddings of these ids (unknown ids skipped)."""
        ...

    def check_domains(self, domains: Sequence[str]) -> tuple[str, ...]:
        """``domains`` lower-cased; ConfigError naming the stored ones for an unknown one."""
        ...

    def ids(self) -> list[str]:
        """Every item id in the store."""
        ...

    def count(self) -> int:
        """How many items are stored."""
        ...

    def close(self) -> None:
        """Release what the store holds. Idempotent."""
        ...


@runtime_checkable
class WritableStore(StoreReader, Protocol):
    """A :class:`StoreReader` that can also be filled."""

    def ingest(
        self,
        items: Sequence[Item],
        progress: Progress | None = None,
        *,
        sync: bool = False,
        allow_delete_all: bool = False,
    ) -> IngestReport:
        """Upsert ``items`` (unchanged ones not re-embedded); ``sync`` deletes the rest."""
        ...
