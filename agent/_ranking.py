"""The ranker seam: one request in, one :class:`Ranking` out.

Two rankers ship with polyrank: the LLM ranker (:class:`polyrank.agent._rerank.LLMRanker`,
a chat model behind the prompts, with validation, repair and re-asks) and the local ranker
(:class:`polyrank.agent._local.LocalRanker`, embeddings and rules). A ranker returns what it did —
the order, the scores, the reasons, what it spent and what it repaired — and never touches
the :class:`~agent._result.Trace`: the Agent builds the trace once from the rankings.

Usage::

    ranking = ranker.rank(RankRequest("ramen in Tokyo", "en", k=5), candidates, context)
    for c, score, reason in ranking.rows():
        print(c.title, score, reason)

Adding a ranker is one module and one registration: a class with ``spec``, ``rank`` and
``arank`` (its rankings say its ``version``, which evals key baselines by), and a factory
registered as kind ``ranker``::

    register("ranker", "mine", "mypkg.mine:make")   # or the entry point "ranker.mine"
    agent = Agent(model="mine")                     # also Agent(ranker=Mine(...)), --model mine

A factory is called as ``factory(ARG, store=..., local=..., prompts=...)``: the spec's
argument (``None`` when absent), the agent's store, its local ranker (the fallback) and its
prompt set (:data:`RANKER_OPTIONS`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from polyrank.agent._intent import Intent
from polyrank.agent._profile import UserContext
from polyrank.agent.errors import ConfigError
from polyrank.retrieval import Candidate

__all__ = [
    "LOCAL_VERSION",
    "RANKER_OPTIONS",
    "RankRequest",
    "Ranker",
    "Ranking",
    "Usage",
    "make_local",
]

#: The local ranker's name@version (its rules and reason templates), the label of its runs.
LOCAL_VERSION = "local-ranker@1"
#: The keyword arguments every ranker factory is given (besides the spec's argument).
RANKER_OPTIONS = ("store", "local", "prompts")


@dataclass(frozen=True)
class RankRequest:
    """What a ranker is asked: the request text, the answer language, how many items.

    ``anchor`` is the title of the item the user asked for more of ("more like 2");
    ``passes`` overrides the LLM ranker's shuffled passes. ``intent`` is what the request
    was understood to ask (its constraints are already applied to the candidates);
    ``understood`` its one-line summary in ``language``, which the LLM's prompt states.
    ``currency`` and ``locale``: how the user reads prices (from the profile's locale).
    """

    query: str
    language: str
    k: int
    passes: int | None = None
    anchor: str | None = None
    intent: Intent = field(default_factory=Intent)
    understood: str = ""
    currency: str | None = None
    locale: str | None = None
    #: The request's embedding, when retrieval made one (the local ranker checks that a
    #: history item it names is related to the request).
    vector: Any = None


@dataclass
class Usage:
    """What one ranking spent on the model (all zero for the local ranker)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_calls: int = 0
    cached_calls: int = 0
    transport_retries: int = 0
    reasks: int = 0
    windows: int = 0
    passes: int = 1


@dataclass(frozen=True)
class Ranking:
    """One ranker's answer: ``items`` best first (at most ``k``), with a score and a
    reason each; what it spent and repaired; and, for an LLM, the prompts it rendered.

    ``failure`` is set (and ``items`` empty) when the ranker could not answer: the
    model failed or never gave a usable reply. What it spent until then is still here.

    ``version``: the ranker's own name@version (``mine@2``), which labels its eval runs;
    an LLM ranking is labelled by its ``prompt_template`` instead, and the local ranker's
    by :data:`LOCAL_VERSION`.
    """

    ranker: str
    items: tuple[Candidate, ...] = ()
    scores: tuple[float, ...] = ()
    reasons: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)
    repairs: dict[str, int] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    prompt_template: str | None = None
    system_template: str | None = None
    last_prompt: str | None = None
    failure: str | None = None
    #: Ids of ``items`` the model did not pick (it is asked for the top k of each window):
    #: placed in the order the ranker was given, the local ranker's in ``recommend``.
    filled: tuple[str, ...] = ()
    #: Ids of ``items`` whose reason the model wrote (as answered or re-asked); the
    #: others' reasons are the local ranker's. Empty for a ranker that is not an LLM.
    model_reasons: tuple[str, ...] = ()
    #: Every model call: messages sent (system prompt included), raw reply, tokens,
    #: latency, what was wrong with it (``--trace FILE`` writes them).
    calls: tuple[dict[str, Any], ...] = ()
    version: str | None = None

    def rows(self) -> Iterator[tuple[Candidate, float, str]]:
        """``(candidate, score, reason)`` per item, best first."""
        return zip(self.items, self.scores, self.reasons, strict=True)

    def label(self) -> str:
        """name@version of what made this ranking: the LLM's prompt template, the ranker's
        own ``version``, the local ranker's :data:`LOCAL_VERSION`; else its spec (a ranker
        that states no version)."""
        if self.prompt_template:
            return self.prompt_template
        if self.version:
            return self.version
        return LOCAL_VERSION if self.ranker == "local" else self.ranker


@runtime_checkable
class Ranker(Protocol):
    """Orders candidates for a user and explains each choice in the request's language."""

    #: ``local``, or the spec of the model that ranks (``openai:gpt-4o-mini``).
    spec: str

    def rank(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> Ranking:
        """The best ``request.k`` candidates. Never raises because a model misbehaved: a
        ranking that could not be made says so in :attr:`Ranking.failure`."""
        ...

    async def arank(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> Ranking:
        """:meth:`rank` without blocking the event loop."""
        ...


def make_local(arg: str | None, *, local: Ranker, **_: Any) -> Ranker:
    """The ``local`` ranker spec: the agent's own local ranker (also its fallback)."""
    if arg is not None:
        raise ConfigError(f"the local ranker takes no argument (got 'local:{arg}')")
    return local
