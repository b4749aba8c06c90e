"""An item the request names by its title (agent._named)."""

from __future__ import annotations

import pytest

from polyrank.agent._named import TitleIndex

pytestmark = pytest.mark.store


def test_a_title_named_among_other_words_is_found(use_store) -> None:
    index = TitleIndex(use_store)
    found = index.find("Loved One Hundred Years of Solitude! What should I read next?")
    assert found is not None
    assert use_store.get([found])[0].title == "One Hundred Years of Solitude"


def test_a_request_that_is_the_title_asks_for_the_item_itself(use_store) -> None:
    index = TitleIndex(use_store)
    assert index.find("One Hundred Years of Solitude") is None
    assert index.find("a book about solitude for the holidays") is None


def test_the_named_item_is_left_out_and_what_is_like_it_comes_first(use_store) -> None:
    from polyrank.agent import Agent

    agent = Agent(store=use_store)
    rec = agent.recommend("Ya leí Cien años de soledad y me encantó, ¿qué libro leo ahora?", k=5)
    named = use_store.get([TitleIndex(use_store).find("Cien años de soledad, y ahora qué")])
    assert named and all(i.group != named[0].group for i in rec.items)
    assert rec.items and all(i.domain == "books" for i in rec.items)


@pytest.mark.parametrize(
    "query",
    [
        "something like Don Quixote?",
        "anything similar to One Hundred Years of Solitude",
        "quelque chose comme Don Quichotte",
        "algo parecido a Cien años de soledad",
        "etwas wie Der kleine Prinz",
    ],
)
def test_something_like_a_title_names_it_as_the_model(use_store, query: str) -> None:
    # Two words besides the title are too few to say more than the title, unless they
    # say "like it": then the item is the model, not what is asked for.
    assert TitleIndex(use_store).find(query) is not None


def test_a_gift_of_the_title_itself_still_asks_for_it(use_store) -> None:
    # "comme" alone is "as" ("comme cadeau"), not "like": the book itself is asked for.
    assert TitleIndex(use_store).find("Don Quichotte comme cadeau") is None


def test_something_like_a_title_gives_others_of_its_domain(use_store) -> None:
    from polyrank.agent import Agent

    for query in ("something like Don Quixote?", "quelque chose comme Le Petit Prince"):
        rec = Agent(store=use_store).recommend(query, k=5)
        named = use_store.get([TitleIndex(use_store).find(query) or ""])
        assert named, query
        assert len(rec.items) == 5 and all(i.group != named[0].group for i in rec.items), query
        assert all(i.domain == named[0].domain for i in rec.items), query
        assert rec.trace.understood, query  # the domain it implies is said
