"""Multilingual retrieval for polyrank: embeddings, the Chroma store, catalogue files.

Test doubles (a hash embedder and an in-memory store, no model and no database) are in
:mod:`polyrank.retrieval.testing`.

``import polyrank.retrieval`` does not import chromadb; opening a :class:`Store` does.

Logging: every part logs under the ``polyrank`` logger (``polyrank.retrieval``,
``polyrank.agent``, ``polyrank.evals``), silent until the application configures it
(``polyrank -v``, or ``logging.basicConfig(level="INFO")``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from polyrank.retrieval._catalog import Item, content_hash, language_code, load_catalog, region_code
from polyrank.retrieval._embeddings import (
    DEFAULT_EMBEDDINGS,
    E5Embedder,
    Embedder,
    FusionEmbedder,
    OpenAIEmbedder,
    USEEmbedder,
)
from polyrank.retrieval._language import (
    SUPPORTED_LANGUAGES,
    LanguageGuess,
    detect_language,
    is_in_language,
    without_quotes,
)
from polyrank.retrieval._lazy import lazy_attributes
from polyrank.retrieval._prices import RATES_TO_EUR, to_eur
from polyrank.retrieval._process import ProcessSettings, configure
from polyrank.retrieval._protocol import StoreReader, WritableStore
from polyrank.retrieval._store import (
    DEFAULT_COLLECTION,
    DEFAULT_STORE,
    Feedback,
    IngestReport,
    Store,
    preferred_variant,
)
from polyrank.retrieval._types import Candidate, Filters, Retriever, Variant

# A library's loggers stay quiet unless the application asks (no "last resort" stderr).
logging.getLogger("polyrank").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from polyrank.retrieval._chroma import ChromaEmbeddingFunction
    from polyrank.retrieval._langchain import PolyrankRetriever, candidate_document

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_EMBEDDINGS",
    "DEFAULT_STORE",
    "RATES_TO_EUR",
    "SUPPORTED_LANGUAGES",
    "Candidate",
    "ChromaEmbeddingFunction",
    "E5Embedder",
    "Embedder",
    "Feedback",
    "Filters",
    "FusionEmbedder",
    "IngestReport",
    "Item",
    "LanguageGuess",
    "OpenAIEmbedder",
    "PolyrankRetriever",
    "ProcessSettings",
    "Retriever",
    "Store",
    "StoreReader",
    "USEEmbedder",
    "Variant",
    "WritableStore",
    "candidate_document",
    "configure",
    "content_hash",
    "detect_language",
    "is_in_language",
    "language_code",
    "load_catalog",
    "preferred_variant",
    "region_code",
    "to_eur",
    "without_quotes",
]


__getattr__ = lazy_attributes(
    __name__,
    {
        "ChromaEmbeddingFunction": "polyrank.retrieval._chroma",
        "__version__": "polyrank.retrieval._version",
        # LangChain's retriever interface, imported only when asked for
        "PolyrankRetriever": "polyrank.retrieval._langchain",
        "candidate_document": "polyrank.retrieval._langchain",
    },
)
