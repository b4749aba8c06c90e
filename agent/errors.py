"""The polyrank error tree, as :mod:`agent` users import it.

The classes live in :mod:`polyrank.retrieval.errors`, the lowest layer, so that imports run one way
only: ``retrieval`` <- ``prompts`` <- ``agent`` <- ``evals``. This module re-exports them.
"""

from __future__ import annotations

from polyrank.retrieval.errors import *  # noqa: F403 - the same names, re-exported
from polyrank.retrieval.errors import __all__ as __all__
