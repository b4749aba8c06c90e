"""What a local model server can take: its context size and slots, and which structured-output
mode it accepts, learned from the server instead of assumed.

- llama.cpp's server answers ``GET /props`` (``n_ctx``, ``total_slots``); ``cache_prompt``
  is then sent so its prefix cache serves the second pass and window.
- Ollama answers ``POST /api/show`` (the model's ``context_length``, or ``num_ctx``).
- llama-cpp-python's server has neither; its ``/v1/models`` rows (``owned_by: "me"``) tell
  it apart: one slot (it serves one request at a time), and the context size it says when
  a request is too long ("exceed context window of 2048") is learned from that error.

The mode a server refused (``json_schema``) is remembered per base URL and model in the
per-user cache folder, so each process does not spend a request finding out again. So is
what ``polyrank probe`` found about a model (``model-verdicts.json``): a model it found not
reading the candidates is not asked to rank until it is probed again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

__all__ = [
    "ServerLimits",
    "Verdict",
    "context_from_error",
    "fetch_limits",
    "forget_verdict",
    "is_format_refusal",
    "remember_mode",
    "remember_verdict",
    "remembered_mode",
    "remembered_verdict",
]

#: Seconds each limits request may take (a server that does not answer is "unknown").
PROBE_TIMEOUT = 2.0
#: Largest limits reply read, in bytes (``/props`` of llama.cpp is a few KB).
MAX_PROBE_BYTES = 2**20
MODES_FILE = "server-modes.json"
#: Where the modes are remembered; ``None``: ``MODES_FILE`` in the per-user cache folder.
MODES_PATH: Path | None = None
VERDICTS_FILE = "model-verdicts.json"
#: Where the probe's verdicts are remembered; ``None``: in the per-user cache folder.
VERDICTS_PATH: Path | None = None


@dataclass(frozen=True)
class ServerLimits:
    """What a server said about itself; ``None``: it did not say."""

    #: Tokens of context per request (prompt plus answer).
    context: int | None = None
    #: Requests it serves at once.
    slots: int | None = None
    #: ``llama.cpp``, ``llama-cpp-python``, ``ollama``, or ``""`` (unknown).
    server: str = ""

    def describe(self) -> str:
        context = f"{self.context:,} tokens" if self.context else "context unknown"
        slots = f"{self.slots} slot{'s' if self.slots != 1 else ''}" if self.slots else ""
        return ", ".join(p for p in (self.server or "server unknown", context, slots) if p)


_CONTEXT_ERRORS = (
    re.compile(r"exceed context window of (\d+)"),  # llama-cpp-python
    re.compile(r"available context size \((\d+)"),  # llama.cpp
    re.compile(r"maximum context length is (\d+)"),  # OpenAI, vLLM
    re.compile(r"context length of (?:only )?(\d+)"),
)
#: Words with which servers refuse a response_format they lack (llama-cpp-python: HTTP 500
#: "Input should be 'text' or 'json_object'"; vLLM/others: "response_format ... not supported").
_FORMAT_WORDS = re.compile(
    r"json_schema|response_format|json_object|structured output|grammar|validation error",
    re.IGNORECASE,
)
#: HTTP statuses with which servers lacking json_schema have been seen to refuse it.
FORMAT_REFUSALS = frozenset({400, 404, 415, 422, 500, 501})


def context_from_error(message: str) -> int | None:
    """The context size a context-length error states, if it does."""
    for pattern in _CONTEXT_ERRORS:
        found = pattern.search(message)
        if found:
            return int(found[1])
    return None


def is_format_refusal(status: int | None, message: str) -> bool:
    """Whether an HTTP error is the server refusing the structured-output format: a status
    servers use for that, a message naming the format, and no context-length complaint (a
    prompt too long, or a transient 5xx, says nothing about the format)."""
    if status not in FORMAT_REFUSALS or context_from_error(message) is not None:
        return False
    if re.search(r"context|too long|too many tokens", message, re.IGNORECASE):
        return False
    return bool(_FORMAT_WORDS.search(message))


def _root(base_url: str) -> str:
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _get(url: str, api_key: str | None, body: dict[str, Any] | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
            return json.loads(response.read(MAX_PROBE_BYTES) or b"null")
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _positive(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**8:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return _positive(int(value.strip()))
    return None


def _from_props(props: Any) -> ServerLimits | None:
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    n_ctx = props.get("n_ctx")
    if n_ctx is None and isinstance(settings, dict):
        n_ctx = settings.get("n_ctx")
    slots = props.get("total_slots")
    if _positive(n_ctx) is None and _positive(slots) is None:
        return None
    return ServerLimits(context=_positive(n_ctx), slots=_positive(slots), server="llama.cpp")


def _from_ollama(show: Any) -> ServerLimits | None:
    if not isinstance(show, dict):
        return None
    context = None
    parameters = show.get("parameters")
    if isinstance(parameters, str):  # "num_ctx 8192\nstop ..." (the Modelfile's setting)
        found = re.search(r"^\s*num_ctx\s+(\d+)", parameters, re.MULTILINE)
        context = _positive(int(found[1])) if found else None
    if context is None and isinstance(show.get("model_info"), dict):
        # Without num_ctx, Ollama runs a model with its default context (2,048 tokens in
        # the versions seen), not the length it was trained for.
        context = 2048
    return ServerLimits(context=context, server="ollama")


def _from_models(models: Any) -> ServerLimits | None:
    rows = models.get("data") if isinstance(models, dict) else None
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return None
    meta = rows[0].get("meta")
    if isinstance(meta, dict) and _positive(meta.get("n_ctx")):
        return ServerLimits(context=_positive(meta.get("n_ctx")), server="llama.cpp")
    if rows[0].get("owned_by") == "me" and rows[0].get("permissions") == []:
        return ServerLimits(slots=1, server="llama-cpp-python")
    return None


_LIMITS: dict[tuple[str, str], ServerLimits] = {}
_LIMITS_LOCK = threading.Lock()


def fetch_limits(base_url: str | None, model: str, api_key: str | None = None) -> ServerLimits:
    """The server's limits, asked once per process and base URL (nothing is asked of
    OpenAI's own API, ``base_url=None``)."""
    if not base_url:
        return ServerLimits()
    key = (base_url, model)
    with _LIMITS_LOCK:
        if key in _LIMITS:
            return _LIMITS[key]
        root = _root(base_url)
        limits = _from_props(_get(f"{root}/props", api_key))
        if limits is None and isinstance(_get(f"{root}/api/version", api_key), dict):
            limits = _from_ollama(_get(f"{root}/api/show", api_key, {"model": model}))
        if limits is None:
            limits = _from_models(_get(f"{base_url.rstrip('/')}/models", api_key))
        _LIMITS[key] = limits or ServerLimits()
        return _LIMITS[key]


def learn_context(base_url: str | None, model: str, context: int) -> ServerLimits:
    """Record the context size a server stated in an error; the limits now known."""
    key = (base_url or "", model)
    with _LIMITS_LOCK:
        known = _LIMITS.get(key, ServerLimits())
        _LIMITS[key] = replace(known, context=context)
        return _LIMITS[key]


def _modes_path() -> Path:
    from polyrank.retrieval.support import cache_home

    return MODES_PATH or cache_home() / MODES_FILE


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` at once; best effort (a read-only cache folder is
    skipped)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".modes-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True, ensure_ascii=False)
        os.replace(tmp, path)


def _modes() -> dict[str, str]:
    return {k: v for k, v in _read(_modes_path()).items() if isinstance(v, str)}


def remembered_mode(base_url: str | None, model: str) -> str | None:
    """The structured-output mode this server took last time, if one was recorded."""
    if not base_url:
        return None
    mode = _modes().get(f"{base_url} {model}")
    return mode if mode in ("json_schema", "json_object") else None


def remember_mode(base_url: str | None, model: str, mode: str) -> None:
    """Record the mode a server takes; best effort (a read-only cache folder is skipped)."""
    if not base_url:
        return
    modes = _modes()
    key = f"{base_url} {model}"
    if modes.get(key) == mode:
        return
    modes[key] = mode
    _write(_modes_path(), modes)


def _verdicts_path() -> Path:
    from polyrank.retrieval.support import cache_home

    return VERDICTS_PATH or cache_home() / VERDICTS_FILE


@dataclass(frozen=True)
class Verdict:
    """What ``polyrank probe`` said about a model on one server."""

    #: ``use it``, ``use it for reasons only`` or ``use the local ranker``.
    verdict: str
    #: Why, in one line (empty when it reads).
    why: str
    #: When it was probed (ISO date).
    date: str

    @property
    def not_reading(self) -> bool:
        return self.verdict == "use the local ranker"

    @property
    def reasons_only(self) -> bool:
        """It explains well but reads positions, not items: it writes the local ranker's
        reasons, never its order."""
        return self.verdict == "use it for reasons only"


def remembered_verdict(base_url: str | None, model: str) -> Verdict | None:
    """The probe's last verdict on ``model`` at ``base_url``, if one was recorded."""
    if not base_url:
        return None
    entry = _read(_verdicts_path()).get(f"{base_url} {model}")
    if not isinstance(entry, dict) or not all(
        isinstance(entry.get(f), str) for f in ("verdict", "why", "date")
    ):
        return None
    return Verdict(verdict=entry["verdict"], why=entry["why"], date=entry["date"])


def remember_verdict(base_url: str | None, model: str, verdict: Verdict) -> None:
    """Record the probe's verdict on a model at a server (a new probe replaces it)."""
    if not base_url:
        return
    verdicts = _read(_verdicts_path())
    verdicts[f"{base_url} {model}"] = dataclasses.asdict(verdict)
    _write(_verdicts_path(), verdicts)


def forget_verdict(base_url: str | None, model: str) -> bool:
    """Drop the recorded verdict on a model at a server; whether there was one."""
    verdicts = _read(_verdicts_path())
    if verdicts.pop(f"{base_url} {model}", None) is None:
        return False
    _write(_verdicts_path(), verdicts)
    return True
