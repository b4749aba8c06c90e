"""polyrank's version: the installed package's, or the source tree's pyproject."""

from __future__ import annotations

__all__ = ["__version__"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("polyrank")
    except PackageNotFoundError:  # a bare source tree, not installed
        return "0+unknown"


__version__ = _version()
