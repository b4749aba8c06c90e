"""A word tokenizer that handles every script of the catalogue (the local ranker's and
the intent parser's word matching, and the hash embedder's words).

Tokens: NFKC-normalised, case-folded words; Latin, Cyrillic, Greek, Arabic and Devanagari
words also give their first :data:`STEM` characters (a light, language-free stemmer that
joins "brasileiro"/"brasileira", "космос"/"космосе") and their last ones (the head of a
compound: "Alpenkrimi" is a "Krimi"); runs of Han, kana, Hangul and Thai,
which have no spaces between words, give character unigrams and bigrams.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["STEM", "has_spaceless", "spaceless", "tokenize"]

#: Length of the prefix a long word also stands for.
STEM = 5
_SPACELESS = (
    r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, Han
    r"\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"  # Hangul
    r"\u0e00-\u0e7f"  # Thai
)
_TOKEN = re.compile(rf"[{_SPACELESS}]+|[^\W\d_{_SPACELESS}][^\W_{_SPACELESS}]*", re.UNICODE)
_IS_SPACELESS = re.compile(rf"[{_SPACELESS}]")
_HIRAGANA = re.compile(r"[\u3040-\u309f]")
#: Words too common to say anything, in the catalogue's languages (short ones are dropped
#: anyway: a Latin-script word needs 3 letters to count).
_STOP = frozenset(
    (  # noqa: SIM905 (a word list reads better as text)
        "the and for with from that this you your are was our who what want need some los "
        "las una uno con para por que del más como quiero les des une pour avec dans sur "
        "qui est vous veux der die das und ein eine einen für mit den dem ich möchte "
        "etwas gli per con che del della una uno voglio uma para com que dos das por "
        "quero для что это как хочу про bir için ile "
    ).split()
)


def spaceless(text: str) -> bool:
    """Whether ``text`` starts in a script written without spaces (Han, kana, Hangul, Thai)."""
    return bool(_IS_SPACELESS.match(text))


def has_spaceless(text: str) -> bool:
    """Whether ``text`` has any character of a script written without spaces."""
    return bool(_IS_SPACELESS.search(text))


def tokenize(text: str) -> list[str]:
    """The tokens of ``text`` (see the module docstring)."""
    out: list[str] = []
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).casefold()):
        word = match.group()
        if _IS_SPACELESS.match(word):
            out.extend(ch for ch in word if not _HIRAGANA.match(ch))  # particles say nothing
            out.extend(word[i : i + 2] for i in range(len(word) - 1))
            continue
        if len(word) < 3 or word in _STOP:
            continue
        out.append(word)
        if len(word) > STEM:
            out.append(word[:STEM] + "~")
        if len(word) >= STEM:  # the head of a compound: "Alpenkrimi" is a "Krimi"
            out.append("~" + word[-STEM:])
    return out
