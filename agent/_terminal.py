"""Untrusted text (catalogue titles, model reasons, requests, ids) on a terminal.

Everything printed through rich that did not come from polyrank itself goes through
:func:`plain`: it becomes a :class:`rich.text.Text`, which rich never parses as markup
(``[/]`` prints as is, ``[link=…]`` is not a link), with control characters (ESC, OSC, BEL,
C1) and bidirectional overrides removed, so nothing in a title can clear the screen, retitle
the window or reorder what the user reads.
"""

from __future__ import annotations

import re

from rich.text import Text

__all__ = ["clean", "plain"]

# C0 controls except tab and newline, DEL and C1 controls; bidi embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069).
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """``text`` without terminal control and bidi-override characters."""
    return _UNSAFE.sub("", text)


def plain(text: object, style: str = "") -> Text:
    """``text`` as plain (never markup) rich text, cleaned of control characters."""
    return Text(clean(str(text)), style=style)
