"""Offline language identification for short texts.

Two steps, each as light as it can be. The script decides where it names one language of
:data:`SUPPORTED_LANGUAGES` (kana: Japanese, hangul: Korean, Han alone: Chinese, Arabic,
Devanagari, Thai, Greek). Latin and Cyrillic texts go to py3langid (langid.py's model,
numpy only, loaded once in about 0.5 s), restricted to the languages of that script.

Measured on the 227 Latin-script request variants of ``evals/suites/core.yaml``: py3langid
210 right, lingua (high accuracy) 207, lingua's low-accuracy mode 175-200, CLD2 192. Where
py3langid is unsure (p < 0.5, 25 texts) lingua was no better (13 vs 12 right), and loading
lingua's models took 1.8-1.9 s of every CLI call, so lingua is gone. Czech joined later
(issue 18): of the 625 variants of core, holdout, blind10 and blind11, 605 are read right
with it and 600 without (the five Czech ones were read as Polish), none lost.
"""

from __future__ import annotations

import functools
import math
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
    "ar", "cs", "de", "el", "en", "es", "fr", "hi", "id", "it", "ja", "ko", "nl",
    "pl", "pt", "ru", "sv", "th", "tr", "uk", "vi", "zh",
)  # fmt: skip

_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
#: Scripts that name one supported language, and the scripts py3langid tells apart.
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("zh", _HAN),
    ("ar", re.compile(r"[\u0600-\u06ff\u0750-\u077f]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("el", re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("latin", re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")),
)
_BY_SCRIPT = {
    "cyrillic": ("ru", "uk"),
    "latin": ("cs", "de", "en", "es", "fr", "id", "it", "nl", "pl", "pt", "sv", "tr", "vi"),
}
_NUMBER = re.compile(r"[$€£¥₩₹₽₺]?\d[\d.,\u00a0\u202f']*[$€£¥₩₹₽₺]?")
_MARKS = frozenset({"Mn", "Mc"})
#: What stands around a price in a reason ("旅行 · ≈ ¥3,245 (≤ ¥10,000)"): not a word, and
#: no more a symbol than the price itself.
_PRICE_MARKS = frozenset("·≈≤≥()（）")
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
def _identifier() -> Any:
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    identifier = _uncompressed_identifier(LanguageIdentifier, MODEL_DIR / MODEL_FILE)
    if identifier is None:
        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
    identifier.set_languages([c for codes in _BY_SCRIPT.values() for c in codes])
    return identifier


def _uncompressed_identifier(kind: Any, model_file: Any) -> Any:
    """py3langid's model, cut to the languages we tell apart and memory-mapped from the
    per-user cache (:func:`polyrank.retrieval._derived.derived_arrays`). The wheel ships it
    xz-compressed: inflating it took 0.4 s and cutting it to our languages 0.1 s of each
    start. ``None``: build the identifier from the original."""
    from polyrank.retrieval._derived import derived_arrays

    languages = sorted(c for codes in _BY_SCRIPT.values() for c in codes)

    def build() -> dict[str, Any]:
        import numpy as np
        from py3langid import modelio

        ptc, pc, classes, nextmove, row, output = modelio.load_model(model_file)
        wanted = set(languages)
        keep = [i for i, c in enumerate(classes) if c in wanted]
        return {
            "ptc": np.ascontiguousarray(np.asarray(ptc)[:, keep]),
            "pc": np.asarray(pc)[keep],
            "classes": np.asarray([classes[i] for i in keep]),
            "nextmove": np.asarray(nextmove),
            "nextmove_row": np.asarray(row),
            "out_feat": np.asarray(output),
        }

    try:
        import hashlib

        from py3langid import modelio

        digest = hashlib.sha256(",".join(languages).encode()).hexdigest()[:8]
        data = derived_arrays(f"py3langid-{digest}", "py3langid", build)
        if data is None:
            return None
        return kind(
            data["ptc"],
            data["pc"],
            data["classes"].tolist(),
            modelio._to_array(data["nextmove"]),
            data["out_feat"].tolist(),
            norm_probs=False,
            tk_row=modelio._to_array(data["nextmove_row"]),
        )
    except Exception:
        return None


def _script(text: str) -> str | None:
    """The script most of the text's letters are in (``None``: none we know)."""
    counts = {name: len(pattern.findall(text)) for name, pattern in _SCRIPTS}
    name, count = max(counts.items(), key=lambda kv: kv[1])
    return name if count else None


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
    script = _script(text)
    if script is None:
        return None
    if script not in _BY_SCRIPT:
        return LanguageGuess(script, 1.0)
    with _LOCK:  # load the model once
        identifier = _identifier()
    scores = dict(identifier.rank(text))  # log-probabilities, over every set language
    codes = _BY_SCRIPT[script]
    best = max(codes, key=lambda c: scores[c])
    # Probability among this script's languages (softmax of the log-probabilities).
    total = sum(math.exp(scores[c] - scores[best]) for c in codes)
    return LanguageGuess(best, 1.0 / total)


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
    for title in sorted({t for t in titles if len(t) >= 3}, key=lambda t: (-len(t), t)):
        rest = rest.replace(title, " ")
    # Combining marks are letters' parts: Devanagari, Thai and Arabic vowel signs (Mn/Mc).
    letters = sum(ch.isalpha() or unicodedata.category(ch) in _MARKS for ch in rest)
    cjk = len(_HAN.findall(rest)) + len(_KANA.findall(rest)) + len(_HANGUL.findall(rest))
    if letters < MIN_LETTERS and cjk < MIN_CJK:
        return False
    # Prices and numbers ("¥1,084.19", "US$ 12") and their marks are not words in any language.
    visible = sum(not ch.isspace() and ch not in _PRICE_MARKS for ch in _NUMBER.sub(" ", rest))
    if letters < MIN_LETTER_SHARE * visible:  # "累勉＆＆＆＆…": symbols, not a sentence
        return False
    guess = detect_language(rest)
    return guess is not None and guess.code == language
