"""An on-disk cache of LLM replies, keyed by the rendered prompt, model and parameters."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agent._llm import Reply

__all__ = ["ReplyCache", "cache_key"]


def cache_key(model: str, messages: Any, schema: Any, params: dict[str, Any]) -> str:
    payload = json.dumps(
        {"model": model, "messages": messages, "schema": schema, "params": params},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class ReplyCache:
    """One JSON file per reply under ``folder``; writes are atomic."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Reply | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        data["cached"] = True
        data["transport_retries"] = 0
        return Reply(**data)

    def put(self, key: str, reply: Reply) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(reply), handle, ensure_ascii=False)
        os.replace(tmp, path)
