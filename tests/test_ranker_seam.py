"""The ranker seam: both rankers answer one request with one Ranking; the Agent alone
builds the trace from them."""

from __future__ import annotations

import json

import pytest

from polyrank.agent import Agent, ConfigError, LLMError
from polyrank.agent._local import LocalRanker
from polyrank.agent._ranking import Ranker, RankRequest
from polyrank.agent._rerank import LLMRanker, RerankConfig
from polyrank.agent.testing import FunctionModel, ScriptedModel, prompt_candidates
from polyrank.retrieval import Store


def test_both_rankers_are_rankers_and_local_is_not_an_llm(use_store: Store) -> None:
    local = Agent(store=use_store)
    assert isinstance(local.ranker, LocalRanker) and local.llm is None
    assert isinstance(local.ranker, Ranker) and local.model == "local"
    scripted = Agent(store=use_store, model=ScriptedModel([]))
    assert isinstance(scripted.ranker, LLMRanker) and isinstance(scripted.ranker, Ranker)
    assert scripted.model == "scripted"
    with pytest.raises(ConfigError, match="unknown model 'locl'; did you mean 'local'"):
        Agent(store=use_store, model="locl")


def test_wrong_language_reasons_are_filled_from_one_local_scoring(
    use_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: the local ranker ran once per item needing a reason (vectors, history,
    intent, MMR each time). Now one scoring of the candidates serves every reason."""

    def english(messages, schema):  # every reason in English for a Japanese request
        keys = [k for k, _ in prompt_candidates(messages)] or ["c1", "c2", "c3", "c4", "c5"]
        return json.dumps({"ranking": [{"id": k, "reason": "A fine pick."} for k in keys]})

    agent = Agent(
        store=use_store, model=FunctionModel(english), rerank=RerankConfig(reason_reasks=0)
    )
    scorings = []
    real = LocalRanker._score
    monkeypatch.setattr(
        LocalRanker, "_score", lambda self, *a: scorings.append(1) or real(self, *a)
    )
    rec = agent.recommend("東京で食べたいラーメン", k=5)
    assert rec.trace.ranker == "function" and not rec.trace.fallback
    assert rec.trace.repairs.get("reason_fallback") == 5
    assert all("A fine pick" not in item.reason for item in rec.items)
    # one scoring for the order the model is shown, one for every reason (not one per item)
    assert len(scorings) == 2


def test_a_failed_llm_ranking_keeps_what_it_spent(use_store: Store) -> None:
    """The model answered twice with garbage, then the transport failed: the local ranker
    answers, and the trace still counts the calls, tokens and repairs of the failed try."""
    garbage = _reply("not json", tokens=40)
    model = ScriptedModel([garbage, garbage, LLMError("connection refused", retryable=False)])
    agent = Agent(store=use_store, model=model, rerank=RerankConfig(max_reasks=2))
    rec = agent.recommend("a gift for a friend who loves hiking", k=3)
    t = rec.trace
    assert t.fallback and t.ranker == "local" and t.model == "scripted"
    assert t.fallback_reason is not None and "connection refused" in t.fallback_reason
    assert t.llm_calls == 2 and t.prompt_tokens == 80 and t.reasks == 2
    assert t.repairs.get("invalid_output") == 2 and t.last_prompt
    assert len(rec.items) == 3


def test_the_local_ranker_answers_a_request_on_its_own(use_store: Store) -> None:
    from polyrank.agent._profile import build_context

    candidates = use_store.search("ramen", 10)
    context = build_context(None, use_store, "en")
    ranking = LocalRanker(use_store).rank(RankRequest("ramen", "en", 4), candidates, context)
    assert ranking.failure is None and len(ranking.items) == 4
    assert len({c.id for c in ranking.items}) == 4
    assert {c.id for c in ranking.items} <= {c.id for c in candidates}
    assert all(r for r in ranking.reasons) and ranking.usage.llm_calls == 0


def _reply(content: str, tokens: int):
    from polyrank.agent._llm import Reply

    return Reply(content=content, model="scripted", prompt_tokens=tokens, completion_tokens=0,
                 finish_reason="stop")  # fmt: skip


def test_the_output_schema_comes_from_the_pydantic_model_alone(use_store: Store, tmp_path) -> None:
    """Was: rerank.yaml restated RerankOutput's schema by hand. Now the model is sent the
    schema derived from RerankOutput (bounded per call), and a template folder cannot
    declare another shape than the code parses."""
    import shutil

    from polyrank.agent import ConfigError
    from polyrank.agent._reply import output_schema
    from polyrank.agent._rerank import RerankOutput
    from polyrank.prompts import BUILTIN_DIR, PromptSet

    schemas = []

    def answer(messages, schema):
        schemas.append(schema)
        keys = [k for k, _ in prompt_candidates(messages)]
        return json.dumps({"ranking": [{"id": k, "reason": "Good."} for k in keys]})

    Agent(store=use_store, model=FunctionModel(answer)).recommend("hiking gear", k=2)
    sent = schemas[0]
    derived = output_schema(RerankOutput)
    item = sent["properties"]["ranking"]["items"]
    assert (
        item["required"]
        == ["id", "reason"]
        == derived["properties"]["ranking"]["items"]["required"]
    )
    assert item["properties"]["id"]["enum"][0] == "c1"  # bound to the shown keys
    assert "$ref" not in json.dumps(sent) and "title" not in item["properties"]["id"]
    folder = tmp_path / "p"
    shutil.copytree(BUILTIN_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    assert PromptSet.load(folder)["rerank"].ref == "rerank@4"
    with (folder / "rerank.yaml").open("a") as f:
        f.write("output_schema: {type: object}\n")
    with pytest.raises(ConfigError, match="output_schema is not a template setting"):
        PromptSet.load(folder)


def test_a_recommend_makes_five_store_calls_and_embeds_text_history_once(
    use_store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """Was: 8 Chroma calls per recommend with a profile (the history fetched twice, its
    groups looked up again, candidate and history vectors apart) and free-text history
    embedded again on every call; then 6, as each search asked Chroma for the count."""
    from collections import Counter

    import yaml

    from polyrank.retrieval._store import _Guarded
    from tests.conftest import ROOT

    profile = yaml.safe_load((ROOT / "data" / "users" / "ana.yaml").read_text())
    profile["history"].append({"text": "novelas de misterio", "event": "like"})
    path = tmp_path / "ana.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True))
    calls: Counter[str] = Counter()
    real = _Guarded.__getattr__
    monkeypatch.setattr(_Guarded, "__getattr__", lambda s, n: calls.update([n]) or real(s, n))
    agent = Agent(store=use_store)
    embedded: list[str] = []
    embed = use_store.embedder.embed_queries
    monkeypatch.setattr(use_store.embedder, "embed_queries",
                        lambda texts: embedded.extend(texts) or embed(texts))  # fmt: skip
    for _ in range(2):
        calls.clear()
        rec = agent.recommend("Quiero aprender a programar", str(path), k=5)
        assert sum(calls.values()) == 5 and not calls["count"], calls
    assert embedded.count("novelas de misterio") == 1
    history = {e["item_id"] for e in profile["history"] if e.get("item_id")}
    assert history and not history & {i.id for i in rec.items}  # still left out
