"""polyrank: multilingual recommendations reranked by an LLM, checked, and explained.

Heavy parts (Chroma, the embedding models) load on first use, not at import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from agent._agent import Agent

__all__ = [
    "Agent",
    "CatalogError",
    "ConfigError",
    "LLMError",
    "OutputError",
    "PolyrankError",
    "ProfileError",
    "RetrievalError",
    "RuntimeFault",
    "UserError",
    "register",
    "resolve",
]

_LAZY = {"Agent": "agent._agent"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
