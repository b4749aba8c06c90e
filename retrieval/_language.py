"""Offline language identification for short texts.

lingua is the most accurate detector on short text, but loading every language costs
1.3 GB and seconds; it is restricted here to :data:`SUPPORTED_LANGUAGES` and loads each
language model lazily. Scripts that identify a language on their own (kana, hangul) are
decided before lingua is asked.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SUPPORTED_LANGUAGES",
    "LanguageGuess",
    "detect_language",
    "is_in_language",
    "without_quotes",
]

#: ISO 639-1 codes polyrank detects, the languages of the sample data and the locales.
SUPPORTED_LANGUAGES: tuple[str, ...] = (
    "ar", "de", "el", "en", "es", "fr", "hi", "id", "it", "ja", "ko", "nl",
    "pl", "pt", "ru", "sv", "th", "tr", "uk", "vi", "zh",
)  # fmt: skip

_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_MARKS = frozenset({"Mn", "Mc"})
_LETTER = re.compile(r"\w", re.UNICODE)
_LOCK = threading.Lock()
_QUOTED = re.compile(
    r"«[^»]*»|“[^”]*”|„[^“”]*[“”]|「[^」]*」|『[^』]*』|《[^》]*》|‘[^’]*’|\"[^\"]*\""
)


def without_quotes(text: str) -> str:
    """``text`` with quoted passages removed: a quoted title is not the sentence's language."""
    return _QUOTED.sub(" ", text)


@dataclass(frozen=True)
class LanguageGuess:
    """A detected language and how sure the detector is (0..1)."""

    code: str
    confidence: float


@functools.cache
def _detector() -> Any:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, c.upper()) for c in SUPPORTED_LANGUAGES]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()


@functools.lru_cache(maxsize=4096)
def detect_language(text: str) -> LanguageGuess | None:
    """Guess the language of ``text``; ``None`` when there is nothing to go on.

    Remembered per text: one request is asked about by the agent (its language), the
    store (which version of each group to show) and the fusion embedder (which halves).

    A confidence below about 0.5 means the text is short or ambiguous ("Pizza", "Tokyo"):
    callers should then prefer what they know of the writer (the profile's language).
    """
    if not _LETTER.search(text):
        return None
    if _KANA.search(text):
        return LanguageGuess("ja", 1.0)
    if _HANGUL.search(text):
        return LanguageGuess("ko", 1.0)
    with _LOCK:  # lingua's lazy model loading is not documented as thread-safe
        values = _detector().compute_language_confidence_values(text)
    if not values:
        return None
    best = values[0]
    code = best.language.iso_code_639_1.name.lower()
    if code == "zh" or (_HAN.search(text) and code in ("ja", "ko")):
        return LanguageGuess("zh", float(best.value))
    return LanguageGuess(code, float(best.value))


#: Fewer letters than this (two for Chinese, Japanese, Korean) say nothing about a language:
#: "c1", "...", "42", "Mine".
MIN_LETTERS = 8
MIN_CJK = 2
#: Share of letters among the visible characters below which a text is not prose.
MIN_LETTER_SHARE = 0.5


def is_in_language(text: str, language: str, titles: Sequence[str] = ()) -> bool:
    """Whether ``text`` reads as ``language``, quoted passages and ``titles`` aside.

    Strict: a text with too few letters to tell, or that the detector places in another
    language, is not in ``language`` (an English sentence naming a Spanish title is English).
    """
    rest = without_quotes(text)
    for title in sorted({t for t in titles if len(t) >= 3}, key=len, reverse=True):
        rest = rest.replace(title, " ")
    # Combining marks are letters' parts: Devanagari, Thai and Arabic vowel signs (Mn/Mc).
    letters = sum(ch.isalpha() or unicodedata.category(ch) in _MARKS for ch in rest)
    cjk = len(_HAN.findall(rest)) + len(_KANA.findall(rest)) + len(_HANGUL.findall(rest))
    if letters < MIN_LETTERS and cjk < MIN_CJK:
        return False
    visible = sum(not ch.isspace() for ch in rest)
    if letters < MIN_LETTER_SHARE * visible:  # "累勉＆＆＆＆…": symbols, not a sentence
        return False
    guess = detect_language(rest)
    return guess is not None and guess.code == language
