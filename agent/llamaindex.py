"""LlamaIndex adapter: a ``BaseNodePostprocessor`` that reranks nodes with the agent.

Needs ``llama-index-core`` (``pip install 'polyrank[llamaindex]'``).

Usage::

    from polyrank.agent import Agent
    from polyrank.agent.llamaindex import PolyrankPostprocessor
    engine = index.as_query_engine(
        node_postprocessors=[PolyrankPostprocessor(agent=Agent(), top_n=3)]
    )
    node.metadata["reason"]          # why, in the request's language
"""

from __future__ import annotations

from typing import Any

from polyrank.agent._langchain import text_candidate
from polyrank.agent.errors import ConfigError

try:
    from llama_index.core.bridge.pydantic import ConfigDict
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.schema import NodeWithScore, QueryBundle
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigError(
        "the LlamaIndex postprocessor needs the package llama-index-core",
        hint="pip install llama-index-core (or polyrank[llamaindex])",
    ) from exc

__all__ = ["PolyrankPostprocessor"]


class PolyrankPostprocessor(BaseNodePostprocessor):  # type: ignore[misc]
    """Reranks retrieved nodes with a polyrank :class:`~agent.Agent` (LLM or local ranker).

    Each returned node carries ``rank``, ``reason``, ``ranker`` and ``fallback`` in its
    metadata, and polyrank's score as its score.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    agent: Any
    top_n: int = 3
    user: Any = None

    @classmethod
    def class_name(cls) -> str:
        return "PolyrankPostprocessor"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ConfigError("PolyrankPostprocessor needs the query (a QueryBundle)")
        if not nodes:
            return []
        candidates = [
            text_candidate(
                n.node.node_id,
                n.node.get_content(),
                {"score": n.score or 0.0, **n.node.metadata},
            )
            for n in nodes
        ]
        by_id = {c.id: n for c, n in zip(candidates, nodes, strict=True)}
        rec = self.agent.rerank(query_bundle.query_str, candidates, self.user, k=self.top_n)
        out = []
        for item in rec.items:
            node = by_id[item.id].node.model_copy(deep=True)
            node.metadata.update(
                rank=item.rank,
                reason=item.reason,
                ranker=rec.trace.ranker,
                fallback=rec.trace.fallback,
            )
            out.append(NodeWithScore(node=node, score=item.score))
        return out
