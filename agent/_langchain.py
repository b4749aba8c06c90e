"""LangChain adapter: a ``BaseDocumentCompressor`` that reranks documents with the agent.

Usage::

    from langchain_classic.retrievers import ContextualCompressionRetriever  # or your own
    compressor = PolyrankCompressor(agent=Agent(model="openai:gpt-4o-mini"), top_n=3)
    docs = compressor.compress_documents(docs, "un regalo para un amigo senderista")
    docs[0].metadata["reason"]       # why, in the request's language
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict

from polyrank.retrieval import Candidate, detect_language

__all__ = ["PolyrankCompressor", "text_candidate"]

T = TypeVar("T")


def _candidate(index: int, doc: Document) -> Candidate:
    meta = doc.metadata
    return text_candidate(str(doc.id or meta.get("id") or f"doc-{index}"), doc.page_content, meta)


def text_candidate(key: str, text: str, meta: Mapping[str, Any]) -> Candidate:
    """A document of another framework (a LangChain ``Document``, a LlamaIndex node) as a
    candidate: its text and what its metadata says (title, language, domain, group, tags,
    regions, price; :func:`polyrank.retrieval.candidate_document` writes all of them)."""
    guess = detect_language(text)
    attributes = {
        k: v
        for k, v in (meta.get("attributes") or {}).items()
        if isinstance(v, str | int | float | bool)
    }
    for name in ("price", "currency"):  # PolyrankRetriever's documents carry them
        if isinstance(meta.get(name), str | int | float) and name not in attributes:
            attributes[name] = meta[name]
    return Candidate(
        id=key,
        group=str(meta.get("group") or key),
        score=float(meta.get("score", 0.0)),
        title=str(meta.get("title") or text[:60]),
        description=text,
        language=str(meta.get("language") or (guess.code if guess else "")),
        domain=str(meta.get("domain") or "documents"),
        tags=tuple(str(t) for t in meta.get("tags") or ()),
        regions=tuple(str(r) for r in meta.get("regions") or ()),
        attributes=attributes,
    )


def _nested(callbacks: Callbacks | None, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call`` inside the caller's LangChain run: the chat model's runs become children
    of the run that ``callbacks`` belongs to (a retriever's, say), not new roots."""
    if callbacks is None:
        return call(*args, **kwargs)
    from langchain_core.runnables.config import set_config_context

    with set_config_context({"callbacks": callbacks}) as context:
        return context.run(call, *args, **kwargs)


class PolyrankCompressor(BaseDocumentCompressor):
    """Reranks documents with a polyrank :class:`~agent.Agent` (LLM or local ranker).

    Each returned document carries ``rank``, ``relevance_score``, ``reason``, ``ranker`` and
    ``fallback`` in its metadata.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    agent: Any
    top_n: int = 3
    user: Any = None

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        candidates = [_candidate(i, d) for i, d in enumerate(documents)]
        by_id = {c.id: d for c, d in zip(candidates, documents, strict=True)}
        rec = _nested(callbacks, self.agent.rerank, query, candidates, self.user, k=self.top_n)
        return self._documents(rec, by_id)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """:meth:`compress_documents` on the event loop: the model is awaited
        (``Agent.arerank``), not run in one executor thread per call."""
        if not documents:
            return []
        candidates = [_candidate(i, d) for i, d in enumerate(documents)]
        by_id = {c.id: d for c, d in zip(candidates, documents, strict=True)}
        if callbacks is None:
            rec = await self.agent.arerank(query, candidates, self.user, k=self.top_n)
        else:
            from langchain_core.runnables.config import set_config_context

            with set_config_context({"callbacks": callbacks}) as context:
                # the coroutine's task runs in this context: the caller's run is the parent
                rec = await asyncio.create_task(
                    self.agent.arerank(query, candidates, self.user, k=self.top_n),
                    context=context,
                )
        return self._documents(rec, by_id)

    @staticmethod
    def _documents(rec: Any, by_id: Mapping[str, Document]) -> list[Document]:
        out = []
        for item in rec.items:
            doc = by_id[item.id]
            meta = {
                **doc.metadata,
                "rank": item.rank,
                "relevance_score": item.score,
                "reason": item.reason,
                "ranker": rec.trace.ranker,
                "fallback": rec.trace.fallback,
            }
            out.append(Document(page_content=doc.page_content, id=doc.id, metadata=meta))
        return out
