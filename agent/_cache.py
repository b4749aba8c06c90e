"""An on-disk cache of LLM replies, keyed by the rendered prompt, model and parameters.

Only replies that parsed and validated are stored (one bad burst must not poison later
requests); a file of the wrong shape is a miss; a failed write is skipped, never an error;
the folder keeps at most ``max_entries`` replies (the oldest go first).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from polyrank.agent._llm import Reply

__all__ = ["ReplyCache", "cache_key"]

#: A reply larger than this is not cached (no real answer of ours comes close).
MAX_REPLY_BYTES = 1_000_000
_FIELDS = frozenset(f.name for f in dataclasses.fields(Reply))


def cache_key(model: str, messages: Any, schema: Any, params: dict[str, Any]) -> str:
    payload = json.dumps(
        {"model": model, "messages": messages, "schema": schema, "params": params},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _reply_of(data: Any) -> Reply | None:
    """The cached reply, or ``None`` when the file does not hold one (wrong shape)."""
    if not isinstance(data, dict) or set(data) != _FIELDS:
        return None
    if not isinstance(data["content"], str) or not isinstance(data["model"], str):
        return None
    counts = (data["prompt_tokens"], data["completion_tokens"], data["transport_retries"])
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
        return None
    if data["finish_reason"] is not None and not isinstance(data["finish_reason"], str):
        return None
    return Reply(**{**data, "cached": True, "transport_retries": 0})


class ReplyCache:
    """One JSON file per reply under ``folder``; writes are atomic and best-effort."""

    def __init__(self, folder: str | Path, max_entries: int = 50_000) -> None:
        self.folder = Path(folder)
        self.max_entries = max_entries
        self._puts = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def _linked(self, path: Path) -> bool:
        """Whether the cache folder, the reply's subfolder or its file is a symbolic link:
        the cache neither reads nor writes through one (a planted ``.polyrank/cache``
        link had replies written wherever it pointed)."""
        return any(p.is_symlink() for p in (self.folder, path.parent, path))

    def get(self, key: str) -> Reply | None:
        if self._linked(self._path(key)):
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return _reply_of(data)

    def put(self, key: str, reply: Reply) -> bool:
        """Store ``reply``; ``False`` when it was not stored (too big, or the write failed)."""
        payload = json.dumps(dataclasses.asdict(reply), ensure_ascii=False)
        if len(payload.encode()) > MAX_REPLY_BYTES:
            return False
        path = self._path(key)
        if self._linked(path):
            return False
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(tmp, path)
        except OSError:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            return False
        self._puts += 1
        if self._puts % 500 == 1:
            self._prune()
        return True

    def _prune(self) -> None:
        """Keep the newest ``max_entries`` replies."""
        if self.folder.is_symlink():
            return
        try:
            files = sorted(self.folder.glob("*/*.json"), key=lambda p: p.stat().st_mtime)
            for stale in files[: max(0, len(files) - self.max_entries)]:
                stale.unlink(missing_ok=True)
        except OSError:
            pass
