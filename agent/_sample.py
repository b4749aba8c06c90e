"""The sample catalogue and users, shipped inside the package so ``polyrank demo`` works
from any folder (in a clone, ``data/`` points here too).

Usage::

    from polyrank.agent._sample import CATALOG, user
    agent.ingest(CATALOG)
    agent.recommend("Quiero aprender a programar", user("ana"))
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CATALOG", "FOLDER", "USERS", "profile_path", "user"]

FOLDER = Path(__file__).resolve().parent / "sample"
CATALOG = FOLDER / "catalog.jsonl"
USERS = FOLDER / "users"


def user(name: str) -> Path:
    """The profile file of the sample user ``name``."""
    return USERS / f"{name}.yaml"


def profile_path(value: str) -> str:
    """``--user`` as given: a file, else the name of a sample user (``--user ana``)."""
    if not Path(value).exists() and user(value).is_file():
        return str(user(value))
    return value
