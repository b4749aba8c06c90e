"""The localized tables in ``agent/locales/*.yaml``: read once each, and looked up by
language with English as the fallback."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from polyrank.retrieval.support import load_yaml

__all__ = ["in_language", "table"]

FOLDER = Path(__file__).parent / "locales"


@functools.cache
def table(name: str) -> Any:
    """``locales/NAME.yaml``, parsed once per process. Shared: callers must not mutate it."""
    return load_yaml((FOLDER / f"{name}.yaml").read_text(encoding="utf-8"))


def in_language(name: str, language: str) -> dict[str, Any]:
    """The ``language`` section of ``locales/NAME.yaml``, English where it has none."""
    sections: dict[str, dict[str, Any]] = table(name)
    return sections.get(language) or sections["en"]
