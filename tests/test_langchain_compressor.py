from __future__ import annotations

import json

from langchain_core.documents import Document

from polyrank.agent import Agent
from polyrank.agent._langchain import PolyrankCompressor
from polyrank.agent.testing import FunctionModel, prompt_candidates
from polyrank.retrieval import Store, is_in_language

DOCS = [
    Document(page_content="A cookbook of Italian pasta and risotto.", id="d1"),
    Document(page_content="Waterproof boots for mountain hiking trails.", id="d2"),
    Document(page_content="Ein Rucksack für Tageswanderungen in den Alpen.", id="d3"),
    Document(page_content="Jazz piano for quiet evenings.", id="d4"),
]


def test_local_compressor_reranks_and_explains(use_store: Store) -> None:
    compressor = PolyrankCompressor(agent=Agent(store=use_store), top_n=2)
    out = compressor.compress_documents(DOCS, "regalo para un amigo que hace senderismo")
    assert {d.id for d in out} <= {"d2", "d3"}
    assert out[0].metadata["rank"] == 1 and out[0].metadata["ranker"] == "local"
    reason = out[0].metadata["reason"]
    assert is_in_language(reason, "es") and "regalo para un amigo" not in reason  # no echo


def test_llm_compressor_follows_the_model(use_store: Store) -> None:
    def last_first(messages, schema):
        keys = [key for key, _ in prompt_candidates(messages)]
        return json.dumps(
            {"ranking": [{"id": k, "reason": "Perfect for the evening."} for k in reversed(keys)]}
        )

    agent = Agent(store=use_store, model=FunctionModel(last_first))
    out = PolyrankCompressor(agent=agent, top_n=2).compress_documents(DOCS, "music for tonight")
    assert [d.id for d in out] == ["d4", "d3"]
    assert out[0].metadata["reason"] == "Perfect for the evening."
    assert out[0].metadata["fallback"] is False


class AsyncOnly:
    """A model that answers only on the event loop: its complete() must not be called."""

    spec = "async-only"

    def __init__(self) -> None:
        self.awaited = 0

    def complete(self, messages, schema):
        raise AssertionError("the sync path ran (an executor thread per call)")

    async def acomplete(self, messages, schema):
        from polyrank.agent import Reply

        self.awaited += 1
        keys = [key for key, _ in prompt_candidates(messages)]
        ranking = [{"id": k, "reason": "Perfect for the evening."} for k in reversed(keys)]
        return Reply(content=json.dumps({"ranking": ranking}), model="async-only")


async def test_the_async_compressor_awaits_the_model(use_store: Store) -> None:
    """Was: acompress_documents ran the sync path in executor threads."""
    import asyncio

    model = AsyncOnly()
    compressor = PolyrankCompressor(agent=Agent(store=use_store, model=model), top_n=2)
    outs = await asyncio.gather(
        *(compressor.acompress_documents(DOCS, "music for tonight") for _ in range(3))
    )
    assert model.awaited == 3
    assert all([d.id for d in out] == ["d4", "d3"] for out in outs)
    assert outs[0][0].metadata["fallback"] is False
