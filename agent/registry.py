"""The backend registry, as :mod:`agent` users import it (``register``, ``resolve``).

It lives in :mod:`retrieval.registry`, the lowest layer, so that imports run one way only:
``retrieval`` <- ``prompts`` <- ``agent`` <- ``evals``. This module re-exports it.
"""

from __future__ import annotations

from retrieval.registry import Factory, check, names, register, resolve, split_spec

__all__ = ["Factory", "check", "names", "register", "resolve", "split_spec"]
