"""Whether a model reads the candidates or only their positions, over one run.

A model that is not reading answers with positions (the first row, then the last) and
reasons that copy what it was shown (a title, a price, the request, another item's text).
Both are measured here across the requests of one run (one :class:`LLMRanker`):

- **position following**: the same candidates are shown in different orders across
  shuffled passes; a reading model picks the same *items* in each, a position-following one
  the same *positions*. Measured on the model's picks of the front window of each pass.
- **copying**: a reason whose text is mostly one stretch of a shown title, text or price,
  or of the request.

When either is clear, :meth:`ReadingCheck.verdict` says why in one line; the ranker then
gives up its ranking and reasons for the rest of the run and the local ranker answers.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["ReadingCheck", "copies"]

#: Least model picks compared across shuffles before position following is judged.
MIN_PICKS = 6
#: Position following: the same positions picked at least this often across shuffles...
POSITION_AGREEMENT = 0.6
#: ...and this much more often than the same items.
POSITION_MARGIN = 0.3
#: Least model reasons read before copying is judged, and the share that decides.
MIN_REASONS = 3
COPY_SHARE = 0.5
#: A reason is a copy when one stretch of a source covers this share of it.
COPY_COVER = 0.7

_SPACE = re.compile(r"[\W_]+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def copies(reason: str, sources: Iterable[str]) -> bool:
    """Whether ``reason`` is mostly copied from one of ``sources`` (or is a bare number or
    price): its longest stretch shared with a source covers ``COPY_COVER`` of it."""
    text = _norm(reason)
    if not text:
        return False
    if re.fullmatch(r"[\d\s]+[a-z]{0,4}", text):  # "20 59 bsl": a price, nothing said
        return True
    for source in sources:
        other = _norm(source)
        if not other:
            continue
        if text in other:
            return True
        match = difflib.SequenceMatcher(None, text, other, autojunk=False).find_longest_match(
            0, len(text), 0, len(other)
        )
        if match.size >= COPY_COVER * len(text):
            return True
    return False


@dataclass
class _Counts:
    picks: int = 0
    same_positions: int = 0
    same_items: int = 0
    reasons: int = 0
    copied: int = 0


class ReadingCheck:
    """The evidence of one run; thread-safe (an eval asks from several threads)."""

    def __init__(self) -> None:
        self._counts = _Counts()
        self._lock = threading.Lock()
        self._verdict: str | None = None

    def passes(self, fronts: Sequence[tuple[Sequence[str], Sequence[str]]]) -> None:
        """One request's front windows, one per pass: ``(shown ids, picked ids)``."""
        same_pos = same_items = picks = 0
        for (shown_a, picked_a), (shown_b, picked_b) in itertools.combinations(fronts, 2):
            n = min(len(picked_a), len(picked_b))
            if not n or list(shown_a) == list(shown_b):
                continue  # the same order says nothing about positions
            where_a = {shown_a.index(i) for i in picked_a[:n] if i in shown_a}
            where_b = {shown_b.index(i) for i in picked_b[:n] if i in shown_b}
            same_pos += len(where_a & where_b)
            same_items += len(set(picked_a[:n]) & set(picked_b[:n]))
            picks += n
        with self._lock:
            self._counts.picks += picks
            self._counts.same_positions += same_pos
            self._counts.same_items += same_items

    def reasons(self, reasons: Iterable[str], sources: Sequence[str]) -> None:
        """The model's own reasons of one request, and what it was shown (titles, texts,
        prices, the request)."""
        said = [r for r in reasons if r.strip()]
        copied = sum(copies(r, sources) for r in said)
        with self._lock:
            self._counts.reasons += len(said)
            self._counts.copied += copied

    def absorb(self, other: ReadingCheck) -> None:
        """Add ``other``'s evidence to this one's (the probe sums its requests)."""
        with other._lock:
            theirs = dataclasses.replace(other._counts)
        with self._lock:
            for f in dataclasses.fields(_Counts):
                setattr(
                    self._counts, f.name, getattr(self._counts, f.name) + getattr(theirs, f.name)
                )

    def figures(self) -> dict[str, float | int]:
        """The measurements so far (the probe prints them)."""
        with self._lock:
            c = self._counts
            return {
                "picks_compared": c.picks,
                "same_positions": round(c.same_positions / c.picks, 3) if c.picks else 0.0,
                "same_items": round(c.same_items / c.picks, 3) if c.picks else 0.0,
                "reasons": c.reasons,
                "copied": round(c.copied / c.reasons, 3) if c.reasons else 0.0,
            }

    def position_following(self) -> str | None:
        f = self.figures()
        if int(f["picks_compared"]) < MIN_PICKS:
            return None
        pos, items = float(f["same_positions"]), float(f["same_items"])
        if pos >= POSITION_AGREEMENT and pos - items >= POSITION_MARGIN:
            return (
                f"its picks follow the shown positions, not the items (across shuffles the "
                f"same positions {pos:.0%}, the same items {items:.0%})"
            )
        return None

    def copying(self) -> str | None:
        f = self.figures()
        if int(f["reasons"]) < MIN_REASONS or float(f["copied"]) < COPY_SHARE:
            return None
        return (
            f"its reasons copy the shown text ({float(f['copied']):.0%} of {f['reasons']} are "
            "a title, a price, the request or another item's text)"
        )

    def verdict(self) -> str | None:
        """Why the model is not reading, in one line; ``None`` while it may be. Once
        given, it stands for the rest of the run."""
        with self._lock:
            if self._verdict is not None:
                return self._verdict
        why = self.position_following() or self.copying()
        if why is not None:
            with self._lock:
                self._verdict = f"the model is not reading the candidates: {why}"
        return why and self._verdict
