"""The ranker seam: both rankers answer one request with one Ranking; the Agent alone
builds the trace from them."""

from __future__ import annotations

import asyncio
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
    assert t.usage.llm_calls == 2 and t.usage.prompt_tokens == 80 and t.usage.reasks == 2
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


def test_free_text_history_is_embedded_once_and_a_repeat_gives_the_same_answer(
    use_store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """Was: free-text history embedded again on every call (an embedding API billed per
    request for the same profile). The count of Chroma calls behind it (5) is the bench's
    figure (store_calls_per_recommend), not a contract of this test."""
    import yaml

    from tests.conftest import ROOT

    profile = yaml.safe_load((ROOT / "data" / "users" / "ana.yaml").read_text())
    profile["history"].append({"text": "novelas de misterio", "event": "like"})
    path = tmp_path / "ana.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True))
    agent = Agent(store=use_store)
    embedded: list[str] = []
    embed = use_store.embedder.embed_queries
    monkeypatch.setattr(use_store.embedder, "embed_queries",
                        lambda texts: embedded.extend(texts) or embed(texts))  # fmt: skip
    first = agent.recommend("Quiero aprender a programar", str(path), k=5)
    rec = agent.recommend("Quiero aprender a programar", str(path), k=5)
    assert embedded.count("novelas de misterio") == 1
    assert [(i.id, i.reason) for i in rec.items] == [(i.id, i.reason) for i in first.items]
    assert len(rec.items) == 5
    history = {e["item_id"] for e in profile["history"] if e.get("item_id")}
    assert history and not history & {i.id for i in rec.items}  # still left out


# -- adding a ranker: one module, one registration -------------------------------------
class TitleRanker:
    """A whole ranker: the candidates by title, each with the same reason (what a new
    ranker's module holds, besides its factory)."""

    spec = "titles"

    def rank(self, request, candidates, context):
        from polyrank.agent import Ranking

        items = tuple(sorted(candidates, key=lambda c: c.title)[: request.k])
        return Ranking(
            ranker=self.spec,
            items=items,
            scores=tuple(1.0 / n for n in range(1, len(items) + 1)),
            reasons=tuple("First by title." for _ in items),
            version="titles@2",
        )

    async def arank(self, request, candidates, context):
        return self.rank(request, candidates, context)


@pytest.fixture
def titles(monkeypatch: pytest.MonkeyPatch):
    """``titles`` registered as a ranker for one test (the registration is undone)."""
    from polyrank.agent.registry import register
    from polyrank.retrieval import registry

    monkeypatch.setattr(registry, "_REGISTRY", {k: dict(v) for k, v in registry._REGISTRY.items()})
    seen: list[dict] = []

    def make(arg, **options):
        seen.append({"arg": arg, **options})
        return TitleRanker()

    register("ranker", "titles", make)  # the one registration
    return seen


def test_a_registered_ranker_answers_recommend_chat_and_an_eval(
    titles, use_store: Store, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polyrank._cli import main
    from polyrank.agent._chat import ChatSession
    from tests.conftest import FIXTURES

    agent = Agent(store=use_store, model="titles")
    assert titles[0]["arg"] is None and titles[0]["store"] is use_store
    assert titles[0]["local"] is agent.local and agent.llm is None
    rec = agent.recommend("a gift for a friend who loves hiking", k=3)
    t = rec.trace
    assert (t.ranker, t.model, t.version, t.fallback) == ("titles", "titles", "titles@2", False)
    titles_shown = [i.title for i in rec.items]
    assert titles_shown == sorted(titles_shown) and {i.reason for i in rec.items} == {
        "First by title."
    }
    # the async core gives the same answer; an object works as well as a name
    same = asyncio.run(agent.arecommend("a gift for a friend who loves hiking", k=3))
    assert [i.id for i in same.items] == [i.id for i in rec.items]
    direct = Agent(store=use_store, ranker=TitleRanker()).recommend("hiking", k=2)
    assert direct.trace.ranker == "titles"
    # chat: the ranker answers; follow-ups are read by the phrase tables (no LLM)
    chat = ChatSession(make_agent=lambda spec: Agent(store=use_store, model=spec), model="titles")
    first = chat.handle("a gift for a friend who loves hiking")
    assert first[0].kind == "answer" and first[0].recommendation.trace.ranker == "titles"
    more = chat.handle("something else")
    assert more[0].kind == "answer" and not set(i.id for i in more[0].recommendation.items) & {
        i.id for i in first[0].recommendation.items
    }
    # an eval run is labelled by the ranker's own name@version, not the local ranker's
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "titles.json"
    args = ["eval", str(FIXTURES / "mini_suite.yaml"), "--store", str(tmp_path / "mini")]
    main([*args, "--model", "titles", "--json", str(out), "--no-cache"])
    report = json.loads(out.read_text())
    assert (report["template"], report["model"]) == ("titles@2", "titles")
    assert {r["ranker"] for c in report["cases"] for r in c["languages"].values()} == {"titles"}


def test_ranker_and_model_names_are_checked_together(titles, use_store: Store) -> None:
    with pytest.raises(ConfigError, match="unknown model 'titls'; did you mean 'titles'"):
        Agent(store=use_store, model="titls")
    with pytest.raises(ConfigError, match="unknown ranker 'titls'; did you mean 'titles'"):
        Agent(store=use_store, ranker="titls")
    with pytest.raises(ConfigError, match="the local ranker takes no argument"):
        Agent(store=use_store, model="local:fast")
    # an LLM that reads follow-ups, and another ranker that ranks
    both = Agent(store=use_store, model=ScriptedModel([]), ranker="titles")
    assert both.ranker.spec == "titles" and both.llm_ranker is not None
    assert both.recommend("hiking", k=2).trace.usage.llm_calls == 0


def test_the_trace_holds_the_rankings_usage_and_its_json_stays_flat() -> None:
    """Was: Trace restated every field of Usage (a new one took two edits). Now it holds
    the Usage; the JSON keeps the fields flat, and reads back."""
    import dataclasses

    from polyrank.agent import Recommendation, Trace, Usage

    names = [f.name for f in dataclasses.fields(Usage)]
    assert not set(names) & set(Trace.model_fields)  # composed, not mirrored
    usage = Usage(prompt_tokens=7, completion_tokens=3, llm_calls=2, reasks=1)
    trace = Trace(request_language="en", language_source="detected", ranker="r", model="m",
                  usage=usage, calls=[{"n": 1}])  # fmt: skip
    rec = Recommendation(query="q", user_id=None, items=[], trace=trace)
    shown = rec.to_json()["trace"]
    assert {n: shown[n] for n in names} == dataclasses.asdict(usage) and "usage" not in shown
    assert "calls" not in shown and rec.to_json(calls=True)["trace"]["calls"] == [{"n": 1}]
    assert Trace.model_validate(rec.to_json(calls=True)["trace"]) == trace
