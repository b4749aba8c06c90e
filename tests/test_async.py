"""The async path: ``arecommend`` awaits the model instead of holding a thread per request,
overlapping requests share batches of query embeddings, and ``recommend_many`` runs on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from polyrank.agent import Agent, LLMSettings
from polyrank.agent._batch import QueryBatcher
from polyrank.agent._llm import Message, OpenAIChat, Reply, TransportPolicy
from polyrank.agent.testing import ScriptedOpenAIServer, prompt_candidates
from polyrank.retrieval import Store

QUERIES = [
    "Quiero aprender a programar",
    "a gift for a friend who loves hiking",
    "Ein spannender Krimi für den Urlaub",
    "un film romantique à Paris",
    "хочу фильм о космосе",
    "조용한 피아노 음악",
    "東京で食べたいラーメン",
    "a cheap gift for a coffee lover",
    "Libros de cocina mediterránea",
    "music for a rainy day",
]


def _reversed_answer(messages: Sequence[Any]) -> str:
    keys = [key for key, _ in prompt_candidates(messages)]
    reason = "A good match for what you asked."
    return json.dumps({"ranking": [{"id": k, "reason": reason} for k in reversed(keys)]})


class AsyncOnlyModel:
    """Answers only through ``acomplete`` (``complete`` fails the test), counting how many
    calls are in flight at once."""

    spec = "async-only"

    def __init__(self, hold: float = 0.2, until: int | None = None) -> None:
        self.hold = hold
        #: With ``until``, a call is held until that many are in flight at once (at most 30
        #: s): a fixed hold measured the machine's load, not the concurrency (9 of 10
        #: under load).
        self.until = until
        self.everyone: asyncio.Event | None = None
        self.in_flight = 0
        self.most_in_flight = 0

    def complete(self, messages: Sequence[Message], schema: dict[str, Any] | None) -> Reply:
        raise AssertionError("the async path called the blocking complete()")

    async def acomplete(self, messages: Sequence[Message], schema: dict[str, Any] | None) -> Reply:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.until is None:
                await asyncio.sleep(self.hold)
            else:
                self.everyone = self.everyone or asyncio.Event()
                if self.in_flight >= self.until:
                    self.everyone.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.everyone.wait(), 30)
            return Reply(content=_reversed_answer(messages), model=self.spec)
        finally:
            self.in_flight -= 1


async def test_arecommend_awaits_the_model_for_every_request_at_once(use_store: Store) -> None:
    # as shipped before, arecommend ran recommend in asyncio.to_thread: at most 6 threads, so
    # at most 6 model calls in flight, and through the blocking complete()
    model = AsyncOnlyModel(until=len(QUERIES))
    agent = Agent(store=use_store, model=model, candidates=8, llm_settings=LLMSettings(timeout=60))
    recs = await asyncio.gather(*(agent.arecommend(q, k=3) for q in QUERIES))
    assert model.most_in_flight == len(QUERIES)
    assert all(not r.trace.fallback and r.trace.usage.llm_calls >= 1 for r in recs)
    # the model's order (reversed retrieval order) is what came back, request by request
    for rec in recs:
        assert [i.id for i in rec.items] == list(reversed(rec.trace.candidate_ids))[:3]


async def test_arecommend_matches_recommend(use_store: Store) -> None:
    """Batched query embeddings and the worker threads change nothing in the answers."""
    agent = Agent(store=use_store, candidates=8)
    together = await asyncio.gather(*(agent.arecommend(q, k=4) for q in QUERIES))
    one_by_one = [agent.recommend(q, k=4) for q in QUERIES]
    for a, b in zip(together, one_by_one, strict=True):
        assert [i.id for i in a.items] == [i.id for i in b.items]
        assert [i.reason for i in a.items] == [i.reason for i in b.items]
        assert a.trace.candidate_ids == b.trace.candidate_ids
    assert sum(agent._queries.batches[-len(QUERIES) :]) >= 1
    agent.close()


async def test_overlapping_requests_share_one_encode() -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[list[str]] = []

    def encode(texts: list[str]) -> list[str]:
        seen.append(list(texts))
        started.set()
        release.wait(5)  # the first batch encodes while the others arrive
        return [t.upper() for t in texts]

    batcher = QueryBatcher(encode)
    first = asyncio.ensure_future(batcher.embed("a"))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    rest = [asyncio.ensure_future(batcher.embed(t)) for t in ("b", "c", "b")]
    await asyncio.sleep(0.05)
    release.set()
    assert await first == "A"
    assert [await r for r in rest] == ["B", "C", "B"]
    assert seen == [["a"], ["b", "c"]]  # one encode for the three waiting, "b" once


async def test_a_batch_holds_at_most_max_batch_texts() -> None:
    seen: list[int] = []

    def encode(texts: list[str]) -> list[str]:
        seen.append(len(texts))
        return texts

    batcher = QueryBatcher(encode, max_batch=2)
    texts = [str(n) for n in range(5)]
    assert await asyncio.gather(*(batcher.embed(t) for t in texts)) == texts
    assert seen == [2, 2, 1]


async def test_a_failed_encode_reaches_every_waiter_and_the_next_batch_works() -> None:
    calls = 0

    def encode(texts: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("encoder broke")
        return texts

    batcher = QueryBatcher(encode)
    results = await asyncio.gather(batcher.embed("x"), batcher.embed("y"), return_exceptions=True)
    assert [str(r) for r in results] == ["encoder broke", "encoder broke"]
    assert await batcher.embed("z") == "z"


def test_recommend_many_runs_requests_concurrently_and_in_order(use_store: Store) -> None:
    model = AsyncOnlyModel(hold=0.1)
    agent = Agent(store=use_store, model=model, candidates=8)
    recs = agent.recommend_many(QUERIES, k=2, concurrency=4)
    assert [r.query for r in recs] == QUERIES
    assert model.most_in_flight == 4  # never more than asked, and not fewer
    with pytest.raises(Exception, match="concurrency must be at least 1"):
        agent.recommend_many(QUERIES, concurrency=0)


async def test_recommend_many_works_inside_a_running_loop(use_store: Store) -> None:
    agent = Agent(store=use_store, candidates=8)
    recs = agent.recommend_many(QUERIES[:3], k=2)
    assert [r.query for r in recs] == QUERIES[:3]


FAST = TransportPolicy(attempts=3, initial_wait=0.05, max_wait=0.2)


@pytest.mark.http
async def test_arecommend_over_http_keeps_all_requests_in_flight(use_store: Store) -> None:
    # Every request waits at the server until all 8 have arrived: a client that sent them
    # a few at a time would break the barrier, and the local ranker would answer.
    barrier = threading.Barrier(8, timeout=10)
    lock, first = threading.Lock(), [0]

    def step(body: dict[str, Any]) -> dict[str, Any]:
        with lock:
            first[0] += 1
            wait = first[0] <= 8  # the rankings; re-asks about reasons come later
        if wait:
            barrier.wait()
        return {"content": _reversed_answer(body["messages"])}

    with ScriptedOpenAIServer(default=step) as server:
        model = OpenAIChat("m", base_url=server.base_url, api_key="k", transport=FAST)
        agent = Agent(store=use_store, model=model, candidates=8,
                      llm_settings=LLMSettings(timeout=20))  # fmt: skip
        recs = await asyncio.gather(*(agent.arecommend(q, k=2) for q in QUERIES[:8]))
        await agent.aclose()
    assert [r.trace.fallback_reason for r in recs] == [None] * 8
    assert not barrier.broken


@pytest.mark.http
async def test_arecommend_over_http_retries_and_keeps_the_deadline(use_store: Store) -> None:
    script = [{"status": 429, "headers": {"Retry-After": "0"}}]

    def good(body: dict[str, Any]) -> dict[str, Any]:
        return {"content": _reversed_answer(body["messages"])}

    with ScriptedOpenAIServer(script, default=good) as server:
        model = OpenAIChat("m", base_url=server.base_url, api_key="k", transport=FAST)
        agent = Agent(store=use_store, model=model, candidates=8)
        rec = await agent.arecommend(QUERIES[1])
        await agent.aclose()
    assert (rec.trace.fallback, rec.trace.usage.transport_retries) == (False, 1)
    assert [i.id for i in rec.items] == list(reversed(rec.trace.candidate_ids))[:5]
    # a server that trickles one byte a second never trips a read timeout; the request's
    # deadline (timeout=1) still ends the wait and the local ranker answers
    slow = {"drip": 1.0, "content": _reversed_answer([])}
    with ScriptedOpenAIServer(default=slow) as server:
        model = OpenAIChat("m", base_url=server.base_url, api_key="k", transport=FAST)
        agent = Agent(store=use_store, model=model, candidates=8,
                      llm_settings=LLMSettings(timeout=1))  # fmt: skip
        rec = await asyncio.wait_for(agent.arecommend(QUERIES[0]), timeout=10)
        await agent.aclose()
    assert rec.trace.fallback and "deadline" in (rec.trace.fallback_reason or "")
    assert rec.trace.ranker == "local" and len(rec.items) == 5


@pytest.mark.http
def test_recommend_many_over_http_works_call_after_call(use_store: Store) -> None:
    # each call runs its own event loop; connections pooled by the last one used to fail
    # the next with "Event loop is closed" (and the local ranker answered)
    def good(body: dict[str, Any]) -> dict[str, Any]:
        return {"content": _reversed_answer(body["messages"])}

    with ScriptedOpenAIServer(default=good) as server:
        model = OpenAIChat("m", base_url=server.base_url, api_key="k", transport=FAST)
        agent = Agent(store=use_store, model=model, candidates=8)
        for _ in range(2):
            recs = agent.recommend_many(QUERIES[:2], k=2)
            assert [r.trace.fallback_reason for r in recs] == [None, None]


async def test_the_blocking_methods_work_inside_a_running_loop(use_store: Store) -> None:
    """recommend runs the async core on a loop of its own (in a thread here, as this one is
    busy), and the LLM ranker's blocking rank inside it does the same: no hand-driven
    coroutine, and the model is asked with complete (acomplete would fail the test)."""
    from polyrank.agent.testing import FunctionModel

    def reversed_order(messages: Sequence[Any], schema: Any) -> str:
        return _reversed_answer(messages)

    agent = Agent(store=use_store, model=FunctionModel(reversed_order), candidates=8)
    rec = agent.recommend(QUERIES[1], k=3)
    assert not rec.trace.fallback and rec.trace.usage.llm_calls >= 1
    assert [i.id for i in rec.items] == list(reversed(rec.trace.candidate_ids))[:3]
    again = agent.rerank(QUERIES[1], use_store.search(QUERIES[1], 6), k=2)
    assert not again.trace.fallback and len(again.items) == 2


def test_recommend_many_keeps_like(use_store: Store) -> None:
    """Was: recommend_many had no like= (its signature dropped it)."""
    agent = Agent(store=use_store, candidates=8)
    anchor = agent.recommend("Quiero aprender a programar", k=1).items[0]
    recs = agent.recommend_many(["más como este", "otra vez"], k=3, like=anchor.id)
    single = agent.recommend("más como este", k=3, like=anchor.id)
    assert [i.id for i in recs[0].items] == [i.id for i in single.items]
    assert all(anchor.id not in [i.id for i in r.items] for r in recs)


def test_ctrl_c_interrupts_blocking_work_at_once() -> None:
    """The sync side runs the core without asyncio.run's SIGINT handler, which only
    cancels the task at its next await: a blocking model call inside would run on to its
    timeout. Ctrl-C raises where the work is, as in plain blocking code."""
    import signal

    from polyrank.agent._loop import run_blocking

    async def work() -> list[str]:
        seen = []
        try:
            signal.raise_signal(signal.SIGINT)
            seen.append("ran on")
        except KeyboardInterrupt:
            seen.append("interrupted")
        return seen

    assert run_blocking(work()) == ["interrupted"]
