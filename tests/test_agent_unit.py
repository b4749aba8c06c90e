from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from polyrank.agent import Agent, ConfigError, ProfileError
from polyrank.agent._budget import count_tokens, fair_truncate
from polyrank.agent._local import localized_reason, reason_languages
from polyrank.agent._profile import Interest, load_profile
from polyrank.agent._rerank import RerankConfig
from polyrank.agent.testing import FunctionModel, ScriptedModel, prompt_candidates
from polyrank.prompts import PromptSet
from polyrank.retrieval import Filters, Store, detect_language
from polyrank.retrieval.testing import InMemoryStore
from tests.conftest import ROOT

USERS = ROOT / "data" / "users"


_keys = prompt_candidates


def test_fair_truncation_gives_cjk_and_latin_equal_token_shares() -> None:
    chinese = "这是一本关于徒步旅行的书，介绍路线、装备和安全知识。" * 60
    english = "A book about hiking routes, gear and safety for every season. " * 80
    short = "Short."
    out = fair_truncate([chinese, english, short], 300)
    assert out[2] == short
    cn, en = count_tokens(out[0]), count_tokens(out[1])
    assert abs(cn - en) <= 2 and cn + en + count_tokens(short) <= 300
    assert len(out[0]) < len(out[1]) / 2  # equal tokens means far fewer CJK characters
    assert "\ufffd" not in out[0] and out[0].endswith("…")


def test_prompt_fits_the_context_window(use_store: Store) -> None:
    model = ScriptedModel([json.dumps({"ranking": []})])
    window = 1150  # what 12 candidates and the answer room for the top 3 do not fit
    agent = Agent(
        store=use_store, model=model, rerank=RerankConfig(context_window=window), candidates=12
    )
    rec = agent.recommend("送给喜欢徒步的朋友的礼物", k=3)
    system, user = model.calls[0][0]["content"], model.calls[0][1]["content"]
    answer_room = RerankConfig().answer_tokens_per_item * 3 + 50  # the top 3 is asked for
    assert count_tokens(system) + count_tokens(user) + answer_room <= window
    assert "…" in user  # descriptions were cut to fit
    assert len(prompt_candidates(model.calls[0])) == 12  # but every candidate stayed
    assert rec.trace.repairs["missing_id"] == 3
    assert len(rec.trace.filled) == 3  # the local ranker's order stands in


def _true_order(messages: Sequence[dict[str, str]], bias: bool) -> str:
    shown = _keys(messages)
    best = sorted(shown, key=lambda kt: kt[1])  # "relevance" = alphabetical title
    if bias:  # position bias: whatever is shown first is put first
        best.remove(shown[0])
        best.insert(0, shown[0])
    return json.dumps(
        {"ranking": [{"id": k, "reason": "Es un buen libro para ti."} for k, _ in best]}
    )


def test_sliding_windows_bubble_the_best_to_the_top(use_store: Store) -> None:
    model = FunctionModel(lambda m, s: _true_order(m, bias=False))
    agent = Agent(
        store=use_store, model=model, candidates=10, rerank=RerankConfig(window=4, step=2)
    )
    rec = agent.recommend("libros de cocina", k=3, filters=Filters(domains="books"))
    assert rec.trace.usage.windows == 4 == len(model.calls)  # (10 - 4) / 2 + 1 windows
    assert all(len(_keys(call)) <= 4 for call in model.calls)
    shown = {i.id: i.title for i in use_store.get(rec.trace.candidate_ids)}
    assert len(shown) == 10
    assert rec.items[0].title == min(shown.values())


def test_shuffled_passes_cancel_position_bias(use_store: Store) -> None:
    model = FunctionModel(lambda m, s: _true_order(m, bias=True))
    agent = Agent(store=use_store, model=model, candidates=8)
    one = agent.recommend("novelas", k=1, filters=Filters(domains="books"), language="es")
    first_shown = one.trace.candidate_ids[0]
    shown = agent.store.search("novelas", 8, Filters(prefer_languages=("es",)))
    titles = {c.id: c.title for c in shown if c.domain == "books"}
    assert one.items[0].id == first_shown  # a single pass copies the input order
    many = agent.recommend(
        "novelas", k=1, filters=Filters(domains="books"), passes=7, language="es"
    )
    best = min(many.trace.candidate_ids, key=lambda i: titles.get(i, "~"))
    assert many.items[0].id == best != first_shown
    assert many.trace.usage.passes == 7


def test_cache_makes_a_repeated_request_free(use_store: Store, tmp_path: Path) -> None:
    model = FunctionModel(lambda m, s: _true_order(m, bias=False))
    agent = Agent(store=use_store, model=model, cache=tmp_path / "cache", candidates=6)
    first = agent.recommend("libros de cocina", k=3)
    second = agent.recommend("libros de cocina", k=3)
    assert len(model.calls) == 1
    assert (second.trace.usage.llm_calls, second.trace.usage.cached_calls) == (0, 1)
    assert [i.id for i in first.items] == [i.id for i in second.items]


@pytest.mark.parametrize(
    ("query", "user", "expected"),
    [
        ("Pizza", "lena.yaml", ("de", "profile")),
        ("Tokyo", "kenji.yaml", ("ja", "profile")),
        ("Quiero aprender a programar", "lena.yaml", ("es", "detected")),
        ("东京的拉面", "lena.yaml", ("zh", "detected")),
        ("Pizza", None, ("it", "detected")),
    ],
)
def test_profile_language_decides_short_requests(
    query: str, user: str | None, expected: tuple[str, str]
) -> None:
    profile = load_profile(USERS / user) if user else None
    assert Agent.request_language(query, profile) == expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        # Were Polish: Czech was no language the detector knew, though the tables read it.
        ("Jedeme s kámošema autem přes půl Evropy. Potřebuju něco pořádně rockovýho.", "cs"),
        ("Hledám knihu o historii Prahy pro začátečníky.", "cs"),
        ("Szukam książki o historii Krakowa dla początkujących.", "pl"),
    ],
)
def test_czech_is_told_from_polish(text: str, language: str) -> None:
    guess = detect_language(text)
    assert guess is not None and guess.code == language


def test_a_czech_reason_names_the_items_language_in_czech() -> None:
    from polyrank.agent._local import facts
    from polyrank.retrieval import Candidate

    book = Candidate(
        id="b", title="T", description="", language="en", domain="books", group="b", score=0.5
    )
    assert facts(book, "cs") == "kniha v angličtině"  # was "book in angličtina"


def test_explicit_language_wins() -> None:
    assert Agent.request_language("Pizza", None, "FR") == ("fr", "explicit")


@pytest.mark.parametrize("language", reason_languages())
def test_localized_reasons_for_every_shipped_language(language: str) -> None:
    rated = Interest(
        title="Matrix",
        domain="films",
        event="rating",
        scene="video",
        rating=5,
        weight=1.0,
        item_id="x",
    )
    bought = rated.model_copy(update={"rating": None, "event": "purchase"})
    texts = [
        localized_reason(language, query="q", interest=rated),
        localized_reason(language, query="q", interest=bought),
        localized_reason(language, query="hiking", tag="hiking"),
        localized_reason(language, query="quiet piano"),
    ]
    assert "Matrix" in texts[0] and "5" in texts[0]
    assert "Matrix" in texts[1] and "hiking" in texts[2] and "quiet piano" in texts[3]
    assert len(set(texts)) == 4
    guess = detect_language(texts[0].replace("Matrix", ""))
    assert guess is not None and guess.code == language, texts[0]


def test_local_recommendations_use_profile_and_exclude_history(use_store: Store) -> None:
    agent = Agent(store=use_store)
    rec = agent.recommend("ラーメン", USERS / "kenji.yaml", k=5)
    profile = load_profile(USERS / "kenji.yaml")
    seen = {e.item_id for e in profile.history}
    assert rec.trace.ranker == "local" and not rec.trace.fallback
    assert not seen & {i.id for i in rec.items}
    assert all(detect_language(i.reason).code == "ja" for i in rec.items)  # type: ignore[union-attr]
    # a reason states a fact: the clause of the item's own description that matches the
    # request (no quoted request word); a loosely related past item (the ramen kit for
    # kimchi, cosine 0.64) is never named as the link
    stored = {item.id: item for item in use_store.get([i.id for i in rec.items])}
    assert not any("「ラーメン」" in i.reason for i in rec.items)
    assert any(
        "ラーメン" in i.reason.split(" · ")[0]
        and i.reason.split(" · ")[0].rstrip("…") in stored[i.id].description
        for i in rec.items
    )
    assert not any(
        "本格とんこつラーメンセット" in i.reason for i in rec.items if i.group == "fd-kimchi"
    )


def test_bad_profile_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: x\nlanguages: [english]\nhistory:\n  - {event: buy}\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert "bad.yaml" in message and "languages" in message and "history.0.event" in message


def test_user_prompt_folder_is_sandboxed_and_strict(tmp_path: Path) -> None:
    for name in ("system", "rerank"):
        (tmp_path / f"{name}.yaml").write_text(f"name: {name}\nversion: 7\n")
    (tmp_path / "system.j2").write_text("{{ language }}")
    (tmp_path / "rerank.j2").write_text("{{ query.__class__.__mro__ }}")
    prompts = PromptSet.load(tmp_path)
    assert prompts["rerank"].ref == "rerank@7"
    with pytest.raises(ConfigError, match=r"unsafe"):
        prompts["rerank"].render(query="x")
    with pytest.raises(ConfigError, match="system@7"):
        prompts["system"].render()


def test_prompt_folder_without_version_is_refused(tmp_path: Path) -> None:
    for name in ("system", "rerank"):
        (tmp_path / f"{name}.yaml").write_text("purpose: x\n")
        (tmp_path / f"{name}.j2").write_text("x")
    with pytest.raises(ConfigError, match="version"):
        PromptSet.load(tmp_path)


def test_recommend_many_keeps_order(memory_store: InMemoryStore) -> None:
    agent = Agent(store=memory_store)
    queries = ["ramen", "hiking boots", "piano"]
    results = agent.recommend_many(queries, k=2, concurrency=3)
    assert [r.query for r in results] == queries


async def test_arecommend_answers_what_recommend_answers(use_store: Store) -> None:
    """Was: only the length was checked; the awaited path gives the same items with the
    same reasons, food for a food query."""
    agent = Agent(store=use_store)
    rec = await agent.arecommend("chocolate", k=2)
    same = agent.recommend("chocolate", k=2)
    assert [(i.id, i.reason) for i in rec.items] == [(i.id, i.reason) for i in same.items]
    assert len(rec.items) == 2 and {i.domain for i in rec.items} == {"food"}
    assert rec.trace.ranker == "local" and not rec.trace.fallback


def test_unknown_model_suggests(memory_store: InMemoryStore) -> None:
    with pytest.raises(ConfigError, match="did you mean 'openai'"):
        Agent(store=memory_store, model="opneai:gpt")


def test_cache_key_separates_seeds(memory_store: InMemoryStore, tmp_path: Path) -> None:
    model = FunctionModel(lambda m, s: _true_order(m, bias=False))
    for seed in (0, 1, 0):
        agent = Agent(
            store=memory_store,
            model=model,
            cache=tmp_path / "cache",
            candidates=6,
            rerank=RerankConfig(seed=seed),
        )
        agent.recommend("libros de cocina", k=3)
    assert len(model.calls) == 2  # seed 0 again came from the cache


def test_a_sample_user_goes_by_name_from_python_too(use_store: Store, tmp_path: Path) -> None:
    """Was: only the CLI's --user found sample users by name."""
    assert load_profile("kenji").id == "kenji"
    rec = Agent(store=use_store).recommend("東京で食べたいラーメン", "kenji", k=2)
    assert rec.user_id == "kenji"
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile(tmp_path / "nobody.yaml")


def test_token_counts_keep_no_huge_text_alive() -> None:
    """The same candidates recur across requests and their counts are remembered; a huge
    text is counted but not kept (a long-running server would hold every one it saw)."""
    import gc
    import tracemalloc

    from polyrank.agent import _budget

    short = "una novela policíaca " * 4
    assert count_tokens(short) == count_tokens(short) == _budget._count(short)
    size = 8 * _budget.MEMO_CHARS
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(12):  # 12 distinct texts of 32 K characters each
            assert count_tokens(f"{n} " + "x " * (size // 2)) > 1000
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 4 * size, f"{kept} bytes kept after counting 12 texts of {size} characters"


def test_a_genre_asked_for_keeps_the_profile_from_lifting_items_without_it(
    use_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polyrank.agent import _local
    from polyrank.agent._intent import genre_tags, read_intent
    from polyrank.agent._profile import build_context, load_profile
    from polyrank.agent._ranking import RankRequest
    from polyrank.agent._sample import USERS

    # Lena's history (a hiking trip, boots) is close to nature films; she asks for suspense.
    query = "un film à suspense pour ce soir"
    intent = read_intent(query, language="fr")
    assert intent.genres == ("crime",)
    request = RankRequest(query=query, language="fr", k=5, intent=intent)
    candidates = [c for c in use_store.search(query, 20) if c.domain == "films"]
    context = build_context(load_profile(USERS / "lena.yaml"), use_store, "fr")
    ranker = _local.LocalRanker(use_store)

    def base(only_fitting: bool) -> list[float]:
        monkeypatch.setattr(_local, "PROFILE_ONLY_FITTING", only_fitting)
        return ranker._score(request, candidates, context).base

    kept, lifted = base(True), base(False)
    fits = [bool(set(genre_tags("crime")) & {t.lower() for t in c.tags}) for c in candidates]
    assert any(fits) and not all(fits)
    for fit, now, before in zip(fits, kept, lifted, strict=True):
        assert now == pytest.approx(before) if fit else now <= before + 1e-12
    # Some film of no suspense genre had been lifted by the profile, and is no longer.
    dropped = [b - n for f, n, b in zip(fits, kept, lifted, strict=True) if not f]
    assert max(dropped) > 1e-6
