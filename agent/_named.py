"""An item the request names by its title ("loved One Hundred Years of Solitude, what
next?"): its group is left out of the answer (the user knows it) and the search moves
towards it (what is like it)."""

from __future__ import annotations

import re
import threading
import unicodedata

from polyrank.agent._intent import names_a_model
from polyrank.retrieval import StoreReader
from polyrank.retrieval.support import has_spaceless

__all__ = ["MAX_INDEXED", "TitleIndex"]

#: Titles are indexed for stores of at most this many items (a title index of a larger
#: store is not built: nothing is found by title there).
MAX_INDEXED = 20_000
#: A title is looked for only when it is this specific: this many characters (spaceless
#: scripts: a third of it), and two words or one of at least 8 letters ("Sushi" names a
#: dish, not the book).
MIN_TITLE = 8
#: ... and what the request says besides the title: this many words (spaceless: characters).
MIN_REST_WORDS = 3
MIN_REST_CHARS = 6
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCT.sub(" ", text).split())


class TitleIndex:
    """The store's titles (every language's), rebuilt when the store's size changes."""

    def __init__(self, store: StoreReader) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._size = -1
        self._titles: list[tuple[str, str]] = []  # (normalised title, item id), longest first

    def _index(self) -> list[tuple[str, str]]:
        with self._lock:
            size = self.store.count()
            if size != self._size:
                titles: list[tuple[str, str]] = []
                ids = getattr(self.store, "ids", None)  # a store a caller wrote may lack it
                if size <= MAX_INDEXED and callable(ids):
                    for item in self.store.get(ids()):
                        title = _norm(item.title)
                        spaceless = has_spaceless(title)
                        long_enough = len(title) >= (MIN_TITLE // 3 if spaceless else MIN_TITLE)
                        if long_enough and (spaceless or " " in title or len(title) >= 8):
                            titles.append((title, item.id))
                titles.sort(key=lambda t: -len(t[0]))
                self._titles, self._size = titles, size
            return self._titles

    def find(self, query: str) -> str | None:
        """The id of the item whose title ``query`` names (the longest such title), when
        the request says more than the title, or says that it wants something like it:
        "전통 배추김치" asks for that kimchi itself, "loved One Hundred Years of Solitude,
        what next?" and "something like Don Quixote" for something like it."""
        text = f" {_norm(query)} "
        for title, item_id in self._index():
            spaceless = has_spaceless(title)
            at = text.find(title if spaceless else f" {title} ")
            if at < 0:
                continue
            rest = text[:at] + " " + text[at + len(title) + (0 if spaceless else 2) :]
            said = (
                len(rest.replace(" ", "")) >= MIN_REST_CHARS
                if spaceless
                else (len(rest.split()) >= MIN_REST_WORDS)
            ) or names_a_model(rest)
            return item_id if said else None
        return None
