"""LangChain adapter: a ``BaseRetriever`` over a polyrank store.

Usage::

    from polyrank.retrieval import PolyrankRetriever, Store
    docs = PolyrankRetriever(store=Store.open(), k=5).invoke("Kochbücher")
    docs[0].metadata["variants"]     # [{"id": ..., "language": "en", "title": ...}, ...]
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from polyrank.retrieval._types import Candidate, Filters, Retriever

__all__ = ["PolyrankRetriever", "candidate_document"]


def candidate_document(candidate: Candidate) -> Document:
    """A candidate as a LangChain document (``page_content`` = title and description).

    ``metadata``: ``id``, ``group``, ``score``, ``title``, ``language``, ``domain``,
    ``tags``, ``regions``, ``price`` and ``currency`` (``None`` when the item has none),
    ``attributes`` (all of them), ``languages`` (of every variant) and ``variants``
    (``id``, ``language``, ``title`` each): what a chain needs to show or filter an item,
    and what :class:`polyrank.agent.PolyrankCompressor` reads back.
    """
    attributes = dict(candidate.attributes)
    return Document(
        page_content=f"{candidate.title}. {candidate.description}",
        id=candidate.id,
        metadata={
            "id": candidate.id,
            "group": candidate.group,
            "score": candidate.score,
            "title": candidate.title,
            "language": candidate.language,
            "domain": candidate.domain,
            "tags": list(candidate.tags),
            "regions": list(candidate.regions),
            "price": attributes.get("price"),
            "currency": attributes.get("currency"),
            "attributes": attributes,
            "languages": [v.language for v in candidate.variants],
            "variants": [
                {"id": v.id, "language": v.language, "title": v.title} for v in candidate.variants
            ],
        },
    )


class PolyrankRetriever(BaseRetriever):
    """Multilingual retrieval from a polyrank store.

    Usage: ``PolyrankRetriever(store=Store.open(), k=5).invoke("Kochbücher")``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Retriever
    k: int = 4
    filters: Filters | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k = int(kwargs.pop("k", self.k))
        filters = kwargs.pop("filters", self.filters)
        return [candidate_document(c) for c in self.store.search(query, k, filters)]
