"""polyrank: multilingual recommendations reranked by an LLM, checked, and explained.

Heavy parts (Chroma, the embedding models) load on first use, not at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.errors import (
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
from agent.registry import register, resolve
from retrieval._lazy import lazy_attributes

if TYPE_CHECKING:
    from agent._agent import Agent
    from agent._config import Settings
    from agent._langchain import PolyrankCompressor
    from agent._lcchat import LangChainChat
    from agent._llm import ChatModel, Message, OpenAIChat, Reply, TransportPolicy
    from agent._local import LocalRanker
    from agent._profile import Event, UserProfile, load_profile
    from agent._ranking import Ranker, Ranking, RankRequest
    from agent._rerank import LLMRanker, RerankConfig
    from agent._result import RankedItem, Recommendation, Trace

__all__ = [
    "Agent",
    "CatalogError",
    "ChatModel",
    "ConfigError",
    "Event",
    "LLMError",
    "LLMRanker",
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
    "Recommendation",
    "Reply",
    "RerankConfig",
    "RetrievalError",
    "RuntimeFault",
    "Settings",
    "Trace",
    "TransportPolicy",
    "UserError",
    "UserProfile",
    "load_profile",
    "register",
    "resolve",
]

_LAZY = {
    "Agent": "agent._agent",
    "__version__": "retrieval._version",
    "ChatModel": "agent._llm",
    "Event": "agent._profile",
    "LangChainChat": "agent._lcchat",
    "LocalRanker": "agent._local",
    "Message": "agent._llm",
    "OpenAIChat": "agent._llm",
    "PolyrankCompressor": "agent._langchain",
    "LLMRanker": "agent._rerank",
    "RankRequest": "agent._ranking",
    "RankedItem": "agent._result",
    "Ranker": "agent._ranking",
    "Ranking": "agent._ranking",
    "Recommendation": "agent._result",
    "Reply": "agent._llm",
    "RerankConfig": "agent._rerank",
    "Settings": "agent._config",
    "Trace": "agent._result",
    "TransportPolicy": "agent._llm",
    "UserProfile": "agent._profile",
    "load_profile": "agent._profile",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
