"""The LlamaIndex node postprocessor (issue 20), with llama-index-core from the dev extra."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("llama_index.core", reason="llama-index-core (dev extra) is not installed")

from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from polyrank.agent import Agent
from polyrank.agent.llamaindex import PolyrankPostprocessor
from polyrank.agent.testing import FunctionModel, prompt_candidates
from polyrank.retrieval import Store, is_in_language

NODES = [
    NodeWithScore(node=TextNode(text="A cookbook of Italian pasta and risotto.", id_="n1"),
                  score=0.9),
    NodeWithScore(node=TextNode(text="Waterproof boots for mountain hiking trails.", id_="n2",
                                metadata={"title": "Hiking boots", "domain": "products"}),
                  score=0.5),
    NodeWithScore(node=TextNode(text="Ein Rucksack für Tageswanderungen in den Alpen.",
                                id_="n3"), score=0.4),
]  # fmt: skip


def test_the_local_ranker_reranks_nodes_and_explains(use_store: Store) -> None:
    post = PolyrankPostprocessor(agent=Agent(store=use_store), top_n=2)
    out = post.postprocess_nodes(NODES, query_str="regalo para un amigo que hace senderismo")
    assert out[0].node.node_id in {"n2", "n3"} and len(out) == 2
    meta = out[0].node.metadata
    assert meta["rank"] == 1 and meta["ranker"] == "local" and meta["fallback"] is False
    assert is_in_language(meta["reason"], "es")
    assert "reason" not in NODES[1].node.metadata  # the input nodes are left alone


def test_an_llm_ranks_the_nodes(use_store: Store) -> None:
    def last_first(messages, schema):
        keys = [key for key, _ in prompt_candidates(messages)]
        ranking = [{"id": k, "reason": "Good for the trail."} for k in reversed(keys)]
        return json.dumps({"ranking": ranking})

    post = PolyrankPostprocessor(agent=Agent(store=use_store, model=FunctionModel(last_first)))
    out = post.postprocess_nodes(NODES, QueryBundle("gear for hiking"))
    assert [n.node.node_id for n in out] == ["n3", "n2", "n1"]
    assert out[0].node.metadata["reason"] == "Good for the trail."
    assert out[0].score is not None


def test_a_query_is_needed(use_store: Store) -> None:
    from polyrank.agent.errors import ConfigError

    with pytest.raises(ConfigError, match="needs the query"):
        PolyrankPostprocessor(agent=Agent(store=use_store)).postprocess_nodes(NODES)
