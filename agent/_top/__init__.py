"""polyrank: multilingual recommendations reranked by an LLM, checked, and explained.

``from polyrank import Agent`` is the short path to :mod:`polyrank.agent`'s names; the
parts live in :mod:`polyrank.agent` (the agent, rankers, chat), :mod:`polyrank.retrieval`
(store, embeddings, catalogue), :mod:`polyrank.evals` (suites, metrics, reports) and
:mod:`polyrank.prompts` (the templates). Nothing heavy loads at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polyrank import agent as _agent

if TYPE_CHECKING:
    from polyrank.agent import *  # noqa: F403 - the same names, for type checkers

#: The agent's public names, one list (polyrank.agent's).
__all__ = _agent.__all__


def __getattr__(name: str) -> Any:
    """Each name is polyrank.agent's, loaded when first used as it is there."""
    if name in __all__:
        return getattr(_agent, name)
    raise AttributeError(f"module 'polyrank' has no attribute {name!r}")
