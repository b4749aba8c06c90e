"""The adapter that hands polyrank's embedders to Chroma.

Kept apart so that ``import polyrank.retrieval`` does not import chromadb (0.5 s): only opening a
store does.
"""

from __future__ import annotations

from typing import Any

from chromadb import Documents, EmbeddingFunction, Embeddings

from polyrank.retrieval._embeddings import Embedder

__all__ = ["ChromaEmbeddingFunction"]


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
