"""The polyrank error tree, as :mod:`agent` users import it.

The classes live in :mod:`retrieval.errors`, the lowest layer, so that imports run one way
only: ``retrieval`` <- ``prompts`` <- ``agent`` <- ``evals``. This module re-exports them.
"""

from __future__ import annotations

from retrieval.errors import (
    CatalogError,
    ConfigError,
    LineProblem,
    LLMError,
    OutputError,
    PolyrankError,
    ProfileError,
    RetrievalError,
    RuntimeFault,
    UserError,
)

__all__ = [
    "CatalogError",
    "ConfigError",
    "LLMError",
    "LineProblem",
    "OutputError",
    "PolyrankError",
    "ProfileError",
    "RetrievalError",
    "RuntimeFault",
    "UserError",
]
