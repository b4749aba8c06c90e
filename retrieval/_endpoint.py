"""OpenAI-compatible endpoints, shared by the chat models (``polyrank.agent._llm``) and the
embeddings (``polyrank.retrieval._embeddings``): where the key and base URL come from, what is
refused, and how secrets are kept out of every message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlparse

from polyrank.retrieval.errors import ConfigError

__all__ = ["credentials", "redact"]

_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_URL_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:api[_-]?key|key|token|access_token|secret|sig|password)=)[^&\s#\"']+"
)


def redact(text: str, secrets: Sequence[str | None] = ()) -> str:
    """``text`` with secrets replaced by ``***``: the given keys, ``user:pass@`` in URLs and
    key-like URL parameters (``?api_key=…``)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _URL_USERINFO.sub("***@", text)
    return _URL_SECRET_PARAM.sub(r"\1***", text)


def credentials(
    what: str, base_url: str | None, api_key: str | None
) -> tuple[str | None, str | None]:
    """``(base_url, api_key)`` for ``what`` (``openai:MODEL``), as given: the environment
    (``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``) is read at the edge, by
    :meth:`polyrank.agent.Settings.load`, and passed in.

    Raises:
        ConfigError: neither is given (no placeholder key is ever sent to the public API),
            or the base URL is not an http(s) URL (not retried: a typo stays a typo).
    """
    base_url = base_url or None
    api_key = api_key or None
    if base_url is None and api_key is None:
        raise ConfigError(
            f"{what} has neither an API key nor a base URL: set OPENAI_API_KEY for "
            "OpenAI, or OPENAI_BASE_URL for a local server (e.g. http://127.0.0.1:8080/v1); "
            "from Python pass api_key= or base_url=, or build with Settings.load()"
        )
    if base_url is not None:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(
                f"base URL {redact(base_url, [api_key])!r} is not an http(s) URL "
                "(e.g. http://127.0.0.1:8080/v1)"
            )
    return base_url, api_key
