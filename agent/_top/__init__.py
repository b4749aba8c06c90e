"""polyrank: multilingual recommendations reranked by an LLM, checked, and explained.

``from polyrank import Agent`` is the short path to :mod:`polyrank.agent`'s names; the
parts live in :mod:`polyrank.agent` (the agent, rankers, chat), :mod:`polyrank.retrieval`
(store, embeddings, catalogue), :mod:`polyrank.evals` (suites, metrics, reports) and
:mod:`polyrank.prompts` (the templates). Nothing heavy loads at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyrank.agent import (
    CatalogError,
    ConfigError,
    LLMError,
    OutputError,
    PolyrankError,
    ProfileError,
    RetrievalError,
    RuntimeFault,
    UserError,
    register,
    resolve,
)
from polyrank.agent import __getattr__ as __getattr__

if TYPE_CHECKING:
    from polyrank.agent import (
        Agent,
        ChatModel,
        Event,
        LangChainChat,
        LLMRanker,
        LLMSettings,
        LocalRanker,
        Message,
        OpenAIChat,
        PolyrankCompressor,
        RankedItem,
        Ranker,
        Ranking,
        RankRequest,
        Recommendation,
        RecommendRequest,
        Reply,
        RerankConfig,
        Settings,
        Trace,
        TransportPolicy,
        Usage,
        UserProfile,
        load_profile,
    )

__all__ = [
    "Agent",
    "CatalogError",
    "ChatModel",
    "ConfigError",
    "Event",
    "LLMError",
    "LLMRanker",
    "LLMSettings",
    "LangChainChat",
    "LocalRanker",
    "Message",
    "OpenAIChat",
    "OutputError",
    "PolyrankCompressor",
    "PolyrankError",
    "ProfileError",
    "RankRequest",
    "RankedItem",
    "Ranker",
    "Ranking",
    "RecommendRequest",
    "Recommendation",
    "Reply",
    "RerankConfig",
    "RetrievalError",
    "RuntimeFault",
    "Settings",
    "Trace",
    "TransportPolicy",
    "Usage",
    "UserError",
    "UserProfile",
    "load_profile",
    "register",
    "resolve",
]
