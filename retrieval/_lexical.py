"""Lexical retrieval: BM25 over a tokenizer that handles every script of the catalogue.

Dense multilingual embeddings find an item across languages but blur exact words ("Krimi",
"ramen", a place name); BM25 finds exact and near-exact words but only within a language.
The store fuses both by reciprocal rank fusion (see :mod:`polyrank.retrieval._store`).

Tokens: NFKC-normalised, case-folded words; Latin, Cyrillic, Greek, Arabic and Devanagari
words also give their first :data:`STEM` characters (a light, language-free stemmer that
joins "brasileiro"/"brasileira", "космос"/"космосе") and their last ones (the head of a
compound: "Alpenkrimi" is a "Krimi"); runs of Han, kana, Hangul and Thai,
which have no spaces between words, give character unigrams and bigrams.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["STEM", "LexicalIndex", "has_spaceless", "spaceless", "tokenize"]

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
    """The BM25 tokens of ``text`` (see the module docstring)."""
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


class LexicalIndex:
    """An in-memory BM25 index (``bm25s``) over ``(id, text)`` pairs.

    Usage::

        index = LexicalIndex.build([("bk-1", "Alpenkrimi: Tod am Gipfelkreuz"), ...])
        index.scores("ein Krimi")          # {id: BM25 score} for ids sharing a token
    """

    def __init__(self, ids: Sequence[str], retriever: Any, vocab: dict[str, int]) -> None:
        self.ids = list(ids)
        self._retriever = retriever
        self._vocab = vocab
        self._lock = threading.Lock()

    @classmethod
    def build(cls, documents: Sequence[tuple[str, str]]) -> LexicalIndex:
        import bm25s

        ids = [doc_id for doc_id, _ in documents]
        corpus = [tokenize(text) or ["\x00"] for _, text in documents]
        vocab: dict[str, int] = {}
        encoded = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in corpus]
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenization.Tokenized(ids=encoded, vocab=vocab), show_progress=False)
        return cls(ids, retriever, vocab)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> dict[str, float]:
        """BM25 score of every document that shares a token with ``query``."""
        tokens = [self._vocab[t] for t in dict.fromkeys(tokenize(query)) if t in self._vocab]
        if not tokens or not self.ids:
            return {}
        with self._lock:
            values = np.asarray(self._retriever.get_scores(tokens), dtype=np.float64)
        hits = np.nonzero(values > 0)[0]
        return {self.ids[i]: float(values[i]) for i in hits}
