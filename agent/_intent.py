"""What a request asks for, read from its words in any of the catalogue's languages.

Usage::

    intent = read_intent("Quero um filme brasileiro engraçado")
    intent.domains        # ("films",)
    intent.cheap, intent.kids

The phrase table is ``locales/intents.yaml`` (17 languages). The local ranker uses an
intent as soft boosts, never as a filter: a request that names no domain gets none.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from agent._locale import table as locale_table
from agent.errors import ConfigError
from retrieval._lexical import has_spaceless

__all__ = ["Intent", "read_intent", "request_text"]

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Intent:
    """Domains the request names (in the order found), and its constraints."""

    domains: tuple[str, ...] = ()
    cheap: bool = False
    kids: bool = False


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@functools.cache
def _phrases() -> dict[str, dict[str, tuple[str, ...]]]:
    raw = locale_table("intents")
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for section in ("domains", "constraints"):
        for name, by_language in raw[section].items():
            stems = {_norm(s) for stems in by_language.values() for s in stems}
            table.setdefault(section, {})[name] = tuple(sorted(stems, key=len, reverse=True))
    return table


def _match(text: str, words: list[str], stem: str) -> str | None:
    """The request's word (or phrase) that ``stem`` matches, if any."""
    if " " in stem or has_spaceless(stem):
        return stem if stem in text else None
    if stem.endswith("*"):
        return next((w for w in words if w.startswith(stem[:-1])), None)
    return stem if stem in words else None


def read_intent(query: str) -> Intent:
    """Domains and constraints the request names; empty when it names none."""
    text = _norm(query)
    words = _WORD.findall(text)
    table = _phrases()
    found: list[tuple[int, str]] = []  # (where the request names it, domain)
    for domain, stems in table["domains"].items():
        for stem in stems:
            word = _match(text, words, stem)
            if word is not None:
                found.append((text.find(word), domain))
                break
    found.sort()
    flags = {
        name: any(_match(text, words, stem) is not None for stem in stems)
        for name, stems in table["constraints"].items()
    }
    return Intent(
        domains=tuple(d for _, d in found),
        cheap=flags.get("cheap", False),
        kids=flags.get("kids", False),
    )


def request_text(query: str) -> str:
    """The text to search for ``query``; refuses a request that says nothing.

    A request of emoji or other pictographs alone ("🥾", "🍣🍜") is searched by the
    symbols' Unicode names ("hiking boot", "sushi steaming bowl"); one that is empty,
    whitespace or punctuation only raises :class:`ConfigError`.
    """
    text = query.strip()
    if _WORD.search(text):
        return text
    symbols = [unicodedata.name(ch, None) for ch in text if unicodedata.category(ch) == "So"]
    names = [name.lower() for name in symbols if name]
    if names:
        return " ".join(dict.fromkeys(names))
    shown = f" ({text!r})" if text else ""
    raise ConfigError(f"the request is empty{shown}: say what you are looking for")
