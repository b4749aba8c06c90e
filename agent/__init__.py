"""polyrank: multilingual recommendations reranked by an LLM, checked, and explained.

Heavy parts (Chroma, the embedding models) load on first use, not at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyrank.agent.errors import (
    CatalogError,
    ConfigError,
    LLMError,
    OutputError,
    PolyrankError,
    ProfileError,
    RetrievalError,
    RuntimeFault,
    UserError,
)
from polyrank.agent.registry import register, resolve
from polyrank.retrieval.support import lazy_attributes

if TYPE_CHECKING:
    from polyrank.agent._agent import Agent, RecommendRequest
    from polyrank.agent._config import LLMSettings, Settings
    from polyrank.agent._langchain import PolyrankCompressor
    from polyrank.agent._lcchat import LangChainChat
    from polyrank.agent._llm import ChatModel, Message, OpenAIChat, Reply, TransportPolicy
    from polyrank.agent._local import LocalRanker
    from polyrank.agent._profile import Event, UserProfile, load_profile
    from polyrank.agent._ranking import Ranker, Ranking, RankRequest, Usage
    from polyrank.agent._rerank import LLMRanker, RerankConfig
    from polyrank.agent._result import RankedItem, Recommendation, Trace

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

_LAZY = {
    "Agent": "polyrank.agent._agent",
    "__version__": "polyrank.retrieval",
    "ChatModel": "polyrank.agent._llm",
    "Event": "polyrank.agent._profile",
    "LangChainChat": "polyrank.agent._lcchat",
    "LocalRanker": "polyrank.agent._local",
    "Message": "polyrank.agent._llm",
    "OpenAIChat": "polyrank.agent._llm",
    "PolyrankCompressor": "polyrank.agent._langchain",
    "LLMRanker": "polyrank.agent._rerank",
    "LLMSettings": "polyrank.agent._config",
    "RecommendRequest": "polyrank.agent._agent",
    "RankRequest": "polyrank.agent._ranking",
    "RankedItem": "polyrank.agent._result",
    "Ranker": "polyrank.agent._ranking",
    "Ranking": "polyrank.agent._ranking",
    "Recommendation": "polyrank.agent._result",
    "Reply": "polyrank.agent._llm",
    "RerankConfig": "polyrank.agent._rerank",
    "Settings": "polyrank.agent._config",
    "Trace": "polyrank.agent._result",
    "TransportPolicy": "polyrank.agent._llm",
    "Usage": "polyrank.agent._ranking",
    "UserProfile": "polyrank.agent._profile",
    "load_profile": "polyrank.agent._profile",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
