"""What a request asks for, read from its words in any of the catalogue's languages.

Usage::

    intent = read_intent("Ein Film für Kinder, keine Gruselfilme, unter 15 Franken")
    intent.domain            # 'films': the one domain asked for (restricts the candidates)
    intent.max_price         # Money(amount=15.0, currency='CHF')
    intent.exclude           # ('horror',): genres removed, by their catalogue tags
    intent.audience          # ('kids',)
    intent.summary("de")     # 'Film · ≤ 15,00 CHF · für Kinder · nicht: Horror'

The phrase tables are ``locales/intents.yaml``. Every clause is read only when its words
are in the tables: an amount without a currency, or a currency without a comparison word
("for 20 euros"), is ignored, never guessed. The domain restricts the candidates only when
the request names one (or names two, one of them as the source of taste: "I loved the film
X, which book…"); otherwise the domains found are soft boosts of the local ranker.

The tables hold every language's words together, so a word of one language may be a
common word of another (Turkish "dans", dance, is French "in"; Dutch "kind*" is English
"kind"). Where the request's language is known, another language's word that is one of its
stopwords (stopwords-iso) is not read: :func:`foreign_stopword`.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import stopwordsiso
from pydantic import BaseModel, ConfigDict, Field

from polyrank.agent._locale import in_language
from polyrank.agent._locale import table as locale_table
from polyrank.agent.errors import ConfigError
from polyrank.retrieval.support import RATES_TO_EUR, has_spaceless, to_eur, tokenize

__all__ = [
    "Intent",
    "Money",
    "names_a_model",
    "read_intent",
    "request_text",
    "split_negated",
    "without_refused",
]


def _mark_ranges() -> str:
    """A character class body of the combining marks (Mn, Mc) below U+3000: the vowel signs
    of Devanagari and other Indic scripts are no ``\\w``, so "रोमांटिक" split into three."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x3000):
        if unicodedata.category(chr(code)) in ("Mn", "Mc"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


#: A word: letters and digits with their combining marks.
_WORD = re.compile(rf"[\w{_mark_ranges()}]+", re.UNICODE)
#: How far a negation reaches: the words after "no"/"keine"/"pas de" (or before "말고",
#: "以外"), and for scripts without spaces, characters.
NEGATION_WORDS = 3
NEGATION_CHARS = 6
#: Thai runs words together but spaces its phrases: a negation reaches the next space, at
#: most this many characters ("ไม่ชอบหนังสยองขวัญ": the whole of "หนังสยองขวัญ").
THAI_NEGATION_CHARS = 20
_THAI = re.compile(r"[\u0e00-\u0e7f]")
#: How far (characters) a comparison word may stand from the amount it qualifies
#: ("less than $20", "3000円以下", "unter 30 Franken").
COMPARISON_REACH = 14
#: ... and how far before that a longer comparison may start ("must not cost more than").
LONGEST_COMPARISON = 24
#: Characters between the two amounts of a range ("20 to 30 euros", "от 1000 до 3000 ₽").
RANGE_GAP = 8
#: "About 30 euros" is a ceiling this much above the amount.
AROUND_MARGIN = 1.2
#: Domains that are about something: of a medium and a topic named together, the medium
#: is what is asked for.
MEDIA = frozenset({"books", "films", "music"})
#: Children's ages that make a request one "for kids" ("for my 6-year-old").
KIDS_MAX_AGE = 12
#: Ceilings above this many euros are not read (a year, a model number): no catalogue
#: ceiling a person types is larger.
MAX_EUROS = 1_000_000


class Money(BaseModel):
    """An amount in a currency (ISO 4217)."""

    model_config = ConfigDict(frozen=True)

    amount: float = Field(ge=0, allow_inf_nan=False)
    currency: str

    def in_eur(self) -> float | None:
        return to_eur(self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount:g} {self.currency}"


class Intent(BaseModel):
    """What the request was understood to ask: one typed object for both rankers."""

    model_config = ConfigDict(frozen=True)

    #: Domains the request names or implies, in the order found.
    domains: tuple[str, ...] = ()
    #: The one domain asked for, when the request leaves no doubt: the candidates are
    #: restricted to it.
    domain: str | None = None
    #: Domains the request refuses ("no films, please").
    exclude_domains: tuple[str, ...] = ()
    max_price: Money | None = None
    min_price: Money | None = None
    cheap: bool = False
    #: Price is no object ("haut de gamme", "预算不限"): the dearer items first.
    premium: bool = False
    #: Who it is for: ``kids``, ``beginners``.
    audience: tuple[str, ...] = ()
    #: Genres refused ("keine Krimis"), by the keys of ``intents.yaml``'s ``genres``.
    exclude: tuple[str, ...] = ()
    #: The catalogue tags those genres stand for (an item with one is left out).
    exclude_tags: tuple[str, ...] = ()
    #: Genres asked for ("a funny film"), by the same keys.
    genres: tuple[str, ...] = ()
    occasion: str | None = None
    #: How long a trip should last, in days (shortest, longest): "a weekend" (2, 4).
    days: tuple[int, int] | None = None

    @property
    def kids(self) -> bool:
        return "kids" in self.audience

    @property
    def empty(self) -> bool:
        return self == Intent()

    def summary(self, language: str) -> str:
        """One line in ``language``: "films · ≤ 15 EUR · not: horror"."""
        from polyrank.agent._money import format_money

        words = in_language("reasons", language)
        said: dict[str, str] = words.get("understood", {}) or in_language("reasons", "en").get(
            "understood", {}
        )
        domains = words.get("domains", {})
        parts: list[str] = []
        if self.domain:
            parts.append(str(domains.get(self.domain, self.domain)))
        elif self.domains:
            parts.append(" / ".join(str(domains.get(d, d)) for d in self.domains))
        if self.max_price is not None:
            parts.append(
                "≤ "
                + format_money(self.max_price.amount, self.max_price.currency, language, whole=True)
            )
        if self.min_price is not None:
            parts.append(
                "≥ "
                + format_money(self.min_price.amount, self.min_price.currency, language, whole=True)
            )
        if self.cheap:
            parts.append(said.get("cheap", "cheap"))
        if self.premium:
            parts.append(said.get("premium", "premium"))
        for who in self.audience:
            parts.append(said.get(who, who))
        if self.occasion:
            parts.append(said.get(self.occasion, self.occasion))
        if self.days is not None:
            parts.append(days_said(self.days, language))
        refused = [genre_name(g, language) for g in self.exclude]
        refused += [str(domains.get(d, d)) for d in self.exclude_domains]
        if refused:
            parts.append(f"{said.get('not', 'not')}: {', '.join(refused)}")
        return " · ".join(parts)


def _norm(text: str) -> str:
    """``text`` as the tables match it: NFKC, case-folded; Thai and Lao "am" (ำ, ຳ), which
    NFKC splits into two signs, made one again as written Thai has it."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("’", "'")
    return folded.replace("\u0e4d\u0e32", "\u0e33").replace("\u0ecd\u0eb2", "\u0eb3")


#: Keys of a table entry that are not languages' words.
_NOT_LANGUAGES = frozenset({"tags", "refused", "avoid", "excludes", "refuse_only", "days"})


def entry_stems(by_language: Any, language: str = "") -> tuple[str, ...]:
    """Every language's stems of one table entry (of the intents tables or ``tags.yaml``),
    normalised, longest first (``tags`` and the other non-language keys aside); with
    ``language``, not another language's word that is a stopword of ``language``
    (:func:`foreign_stopword`)."""
    if not isinstance(by_language, dict):
        return ()
    own = {_norm(str(s)) for s in by_language.get(language) or ()} if language else set()
    stems = {
        _norm(str(s))
        for key, values in by_language.items()
        if key not in _NOT_LANGUAGES
        for s in values or ()
    }
    if language:
        stems = {s for s in stems if s in own or not foreign_stopword(s, language)}
    return tuple(sorted(stems, key=lambda s: (-len(s), s)))  # ties: fixed, not by hash


@functools.cache
def _stopwords(language: str) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
    """``language``'s stopwords (stopwords-iso), normalised: as a set, sorted, and each
    reversed and sorted (for a word's start and end); empty for a language it lacks."""
    if not language or not stopwordsiso.has_lang(language):
        return frozenset(), (), ()
    words = {_norm(str(w)) for w in stopwordsiso.stopwords(language)}
    return frozenset(words), tuple(sorted(words)), tuple(sorted(w[::-1] for w in words))


def _any_starts(ordered: tuple[str, ...], head: str) -> bool:
    i = bisect.bisect_left(ordered, head)
    return i < len(ordered) and ordered[i].startswith(head)


@functools.cache
def foreign_stopword(stem: str, language: str) -> bool:
    """Whether the table entry ``stem`` (of another language than ``language``) reads one
    of ``language``'s stopwords as a whole word: "dans" in French, "kind*" in English,
    "ergen*" ("ergens") in Dutch."""
    words, ordered, reversed_ = _stopwords(language)
    core = stem.lstrip("~!")
    if not words or not core:
        return False
    if core.startswith("*") and len(core) > 1:  # the end of a word: "*film"
        return _any_starts(reversed_, core[1:][::-1])
    if core.endswith("*"):  # the start of a word: "kind*"
        return _any_starts(ordered, core[:-1])
    return core in words


@functools.cache
def _tables(language: str = "") -> dict[str, Any]:
    """The intents tables, normalised; with ``language``, the domains, constraints and
    genres without the other languages' words that are stopwords of it."""
    raw = locale_table("intents")
    domains = {d: entry_stems(v, language) for d, v in raw["domains"].items()}
    out: dict[str, Any] = {
        # "~stem": implies the domain softly (a boost, never the one domain asked for).
        "domains": {d: tuple(s.lstrip("~") for s in v) for d, v in domains.items()},
        "soft": {d: frozenset(s[1:] for s in v if s.startswith("~")) for d, v in domains.items()},
        "constraints": {c: entry_stems(v, language) for c, v in raw["constraints"].items()},
        "genres": {g: entry_stems(v, language) for g, v in raw["genres"].items()},
        # Each genre's own words in ``language`` (Portuguese "romance" is a novel there).
        "own_genres": {
            g: frozenset(_norm(str(s)) for s in (v.get(language) or ()) if language)
            for g, v in raw["genres"].items()
        },
        "genre_tags": {g: tuple(v.get("tags") or [g]) for g, v in raw["genres"].items()},
        # Every genre's catalogue tags: kinds of things, not domains ("no chocolate").
        "kinds": frozenset(t for g, v in raw["genres"].items() for t in v.get("tags") or [g]),
        # A refused genre that asks for another ("nothing sad": something light).
        "refused": {g: v["refused"] for g, v in raw["genres"].items() if v.get("refused")},
        # Tags an asked genre pushes down ("a comedy": not a horror film).
        "avoid": {g: tuple(v.get("avoid") or ()) for g, v in raw["genres"].items()},
        # A genre asked for that leaves others out: "vegetarian" leaves out meat.
        "excludes": {g: tuple(v.get("excludes") or ()) for g, v in raw["genres"].items()},
        # Genres read only inside a negation ("not cold"), never asked for.
        "refuse_only": frozenset(g for g, v in raw["genres"].items() if v.get("refuse_only")),
        "liked": entry_stems(raw["liked"]),
        "similar": entry_stems(raw["similar"]),
        # Lengths of a stay: (shortest, longest) days and the words that say it.
        "stays": {
            name: (tuple(v["days"]), entry_stems(v, language)) for name, v in raw["stays"].items()
        },
        "before": entry_stems(raw["negation"]["before"]),
        "after": entry_stems(raw["negation"]["after"]),
    }
    money = raw["money"]
    out["currencies"] = {
        _norm(str(k)): str(v)
        for k, v in sorted(money["currencies"].items(), key=lambda kv: -len(str(kv[0])))
    }
    for kind in ("ceiling", "floor", "around", "denied"):
        out[kind] = entry_stems(money[kind])
    return out


def genre_name(genre: str, language: str) -> str:
    """A genre's name in ``language`` (the first word of its table entry), else English."""
    entry = locale_table("intents")["genres"].get(genre, {})
    words = entry.get(language) or entry.get("en") or [genre]
    return str(words[0]).rstrip("*")


def genre_word(genre: str, query: str, language: str = "") -> str | None:
    """The request's own word for ``genre`` as it wrote it ("сладкое" for ``sweets``, where
    the table has the stem "сладк*"), or ``None`` where no word of the genre's is in it
    (with ``language``, the request's: no stopword of it read as another language's word).
    Of several, the one the request says first ("달리기" before "신나는"), the longest there."""
    entry = locale_table("intents")["genres"].get(genre)
    if not entry:
        return None
    text = _norm(query)
    spans = [
        span for stem in entry_stems(entry, language) for span in _spans(text, stem.lstrip("~"))
    ]
    if not spans:
        return None
    start, end = min(spans, key=lambda span: (span[0], -span[1]))
    while end < len(text) and text[end].isalnum() and not has_spaceless(text[end]):
        end += 1  # the whole word, not the stem
    word = text[start:end].strip()
    found = re.search(re.escape(word), query, re.IGNORECASE) if word else None
    return query[found.start() : found.end()] if found else word or None


def genre_tags(genre: str) -> tuple[str, ...]:
    return tuple(_tables()["genre_tags"].get(genre, (genre,)))


def genre_avoids(genre: str) -> tuple[str, ...]:
    """The tags of items that do not fit a genre asked for (a horror film for a comedy)."""
    return tuple(_tables()["avoid"].get(genre, ()))


# -- matching -----------------------------------------------------------------------------
def normalise(text: str) -> str:
    """``text`` as the tables match it (see :func:`_norm`)."""
    return _norm(text)


def stem_pattern(stem: str) -> str:
    """The regular expression of a table entry ``stem`` (see :func:`_spans`): matched
    against normalised text."""
    if stem.startswith("*") and len(stem) > 1:  # the end of a compound: "*film"
        return r"\w*" + re.escape(stem[1:]) + r"(?!\w)"
    if stem.endswith("*"):
        return r"(?<!\w)" + re.escape(stem[:-1]) + r"\w*"
    if has_spaceless(stem):
        return re.escape(stem)
    # whole words: a boundary where the stem starts or ends with a letter
    head = r"(?<!\w)" if re.match(r"\w", stem) else ""
    tail = r"(?!\w)" if re.search(r"\w$", stem) else ""
    return head + re.escape(stem) + tail


def _spans(text: str, stem: str) -> list[tuple[int, int]]:
    """Where ``stem`` occurs in ``text`` as a word, a word's start (``*``) or a phrase."""
    if not stem:
        return []
    return [(m.start(), m.end()) for m in _compiled(stem).finditer(text)]


@functools.cache
def _compiled(stem: str) -> re.Pattern[str]:
    """``stem``'s pattern, compiled once: the tables hold more stems than ``re``'s own
    cache keeps, so each request compiled most of them again."""
    return re.compile(stem_pattern(stem))


def _same_negation(
    a: tuple[int, int], b: tuple[int, int], negated: Sequence[tuple[int, int]]
) -> bool:
    """Whether spans ``a`` and ``b`` start inside one and the same negated span."""
    return any(s <= a[0] < e and s <= b[0] < e for s, e in negated)


def _inside(span: tuple[int, int], negated: Sequence[tuple[int, int]]) -> bool:
    """Whether ``span`` starts inside one of the ``negated`` spans."""
    return any(a <= span[0] < b for a, b in negated)


def _first(text: str, stems: Sequence[str], outside: Sequence[tuple[int, int]] = ()) -> int:
    """The earliest position where one of ``stems`` occurs outside the ``outside`` spans
    (-1: nowhere)."""
    best = -1
    for stem in stems:
        for start, end in _spans(text, stem):
            if any(a <= start < b or a < end <= b for a, b in outside):
                continue
            if best < 0 or start < best:
                best = start
            break
    return best


def _negated(text: str) -> list[tuple[int, int]]:
    """The spans a negation covers: the words after a ``before`` trigger ("keine
    Gruselfilme"), the words before an ``after`` trigger ("공포 영화 말고")."""
    tables = _tables()
    out: list[tuple[int, int]] = []
    for stem in tables["before"]:
        for _, end in _spans(text, stem):
            out.append((end, _reach_forward(text, end)))
    for stem in tables["after"]:
        for start, _ in _spans(text, stem):
            out.append((_reach_back(text, start), start))
    out = [(a, b) for a, b in out if b > a]
    if not out:
        return out
    # A phrase that holds its own negation ("not too expensive", "pas trop cher") says
    # what is wanted: its negation refuses nothing.
    held = [span for stem in _phrases() for span in _spans(text, stem)]
    return [(a, b) for a, b in out if not any(s < a < e for s, e in held)]


@functools.cache
def _phrases() -> tuple[str, ...]:
    """The constraint tables' entries of more than one word (those that may hold a
    negation of their own)."""
    return tuple(s for stems in _tables()["constraints"].values() for s in stems if " " in s)


def split_negated(query: str) -> tuple[str, str]:
    """``query`` (normalised) without the words a negation covers, and those words: "a
    film, but nothing with fighting" -> ("a film, but nothing ", " with fighting")."""
    text = _norm(query)
    spans = sorted(_negated(text))
    kept: list[str] = []
    refused: list[str] = []
    at = 0
    for start, end in spans:
        if end <= at:
            continue
        start = max(start, at)
        kept.append(text[at:start])
        refused.append(text[start:end])
        at = end
    kept.append(text[at:])
    return " ".join(kept), " ".join(refused)


def without_refused(query: str) -> str:
    """``query`` (normalised) without the words it refuses: in each negation, the first
    word that says something, and the first after each "or" ("nothing with fighting or
    horror" loses "fighting" and "horror"; "sin letra para leer" keeps "para leer"). A
    negation in a script without spaces loses its whole (short) span."""
    text = _norm(query)
    cut: list[tuple[int, int]] = []
    for start, end in sorted(_negated(text)):
        span = text[start:end]
        if has_spaceless(span):
            cut.append((start, end))
            continue
        head = True
        for word in _WORD.finditer(span):
            if word.group() in _OR:
                head = True
            elif head and tokenize(word.group()) and word.group() not in _QUANTITY:
                cut.append((start + word.start(), start + word.end()))
                head = False
    out, at = [], 0
    for start, end in sorted(cut):
        if start >= at:
            out.append(text[at:start])
            at = end
    out.append(text[at:])
    return re.sub(r"\s{2,}", " ", "".join(out)).strip()


_STOP = re.compile(
    r"[,.;:!?、。，！？；]|\b(?:but|pero|mais|aber|ma|mas|maar|но|ama|لكن|ale|nhưng|tapi|tetapi|namun|αλλά)\b"
)


#: Words of degree inside a negation, never what is refused ("without much walking").
_QUANTITY_WORDS = (
    "much many too lots lot so very any more trop beaucoup zu viel viele zuviel mucho mucha "
    "muchos muchas demasiado demasiada troppo molto molta muito muita demais слишком много "
    "çok fazla veel teveel te za dużo zbyt för mycket"
)
_QUANTITY = frozenset(_QUANTITY_WORDS.split())
#: Words that carry a negation on to the next words ("no horror or gore", "ni sang"): only
#: "or"s ("no horror and something funny" does not refuse the funny part).
_OR = frozenset("or nor ni ou oder noch né nem или ни veya eller lub ani hoặc atau ή ούτε".split())  # noqa: SIM905


def _reach_forward(text: str, start: int) -> int:
    rest = text[start:]
    stop = _STOP.search(rest)
    rest = rest[: stop.start()] if stop else rest
    if _THAI.match(rest.lstrip()):  # Thai: words run on to the next space ("ไม่เอาหนังผี")
        lead = len(rest) - len(rest.lstrip())
        gap = re.search(r"\s", rest[lead:])
        return start + lead + min(gap.start() if gap else len(rest) - lead, THAI_NEGATION_CHARS)
    if has_spaceless(rest[:NEGATION_CHARS]):
        return start + min(len(rest), NEGATION_CHARS)
    words = list(_WORD.finditer(rest))
    if not words:
        return start
    # "nothing with fighting or horror": a coordinator carries the negation on.
    last, left = 0, NEGATION_WORDS
    for n, word in enumerate(words):
        if word.group() in _OR:
            left = NEGATION_WORDS
            continue
        if left == 0:
            break
        last, left = n, left - 1
    return start + words[last].end()


def _reach_back(text: str, end: int) -> int:
    before = text[:end]
    stops = list(_STOP.finditer(before))
    floor = stops[-1].end() if stops else 0
    before = before[floor:]
    if _THAI.search(before.rstrip()[-1:]):
        trail = len(before) - len(before.rstrip())
        last = re.split(r"\s", before[: len(before) - trail])[-1]
        return max(floor, end - trail - min(len(last), THAI_NEGATION_CHARS))
    if has_spaceless(before[-NEGATION_CHARS:]):
        return max(floor, end - NEGATION_CHARS)
    words = list(_WORD.finditer(before))
    if not words:
        return end
    return floor + words[max(0, len(words) - NEGATION_WORDS)].start()


# -- prices ---------------------------------------------------------------------------------
_CJK_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5,
    "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_MULTIPLIERS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "萬": 10_000,
                "천": 1000, "백": 100, "만": 10_000, "십": 10}  # fmt: skip
_NUMBER = re.compile(
    r"(?:\d+(?:[.,' \u00a0\u202f]\d{3})*(?:[.,]\d{1,2})?|[零〇一二两兩三四五六七八九十百千万萬]+)"
    r"(?:\s?(?:[十百千万萬천백만십]\d*|k\b|(?:ribu|rb|juta|jt|nghìn|ngàn|triệu|tr|tys\.?|tysięcy)(?!\w)))*",
    re.UNICODE,
)
#: Words for a thousand or a million after an amount ("300 ribu", "2 triệu", "5 tys. zł").
_WORD_MULTIPLIERS = {"k": 1e3, "ribu": 1e3, "rb": 1e3, "juta": 1e6, "jt": 1e6, "nghìn": 1e3,
                     "ngàn": 1e3, "triệu": 1e6, "tr": 1e6, "tys.": 1e3, "tys": 1e3,
                     "tysięcy": 1e3}  # fmt: skip
#: The currency such a word says by itself, where one country uses it: "dưới 500 nghìn" is
#: in đồng, "di bawah 300 ribu" in rupiah (a bare "k" says none).
_MULTIPLIER_CURRENCY = {"ribu": "IDR", "rb": "IDR", "juta": "IDR", "jt": "IDR",
                        "nghìn": "VND", "ngàn": "VND", "triệu": "VND", "tr": "VND"}  # fmt: skip


def _multiplier(text: str) -> str | None:
    """The thousand/million word an amount ends with ("300 ribu": "ribu"), if any."""
    match = re.search(r"[^\W\d]+\.?$", text)
    word = match.group(0) if match else ""
    return word if word in _WORD_MULTIPLIERS else None


def _number(text: str) -> float | None:
    """'1.000' 1000, '29,99' 29.99, '3万' 30000, '20만' 200000, '两百' 200, '5k' 5000."""
    text = text.strip().replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
    if not text:
        return None
    word = _multiplier(text)
    if word is not None:
        base = _number(text[: -len(word)])
        return base * _WORD_MULTIPLIERS[word] if base is not None else None
    if text[0] in _CJK_DIGITS or text[0] in _MULTIPLIERS:
        return _cjk_number(text)
    digits = re.match(r"[\d.,']+", text)
    if digits is None:
        return None
    head, tail = digits.group(0), text[digits.end() :]
    value = _arabic(head)
    if value is None:
        return None
    if any(ch.isdigit() for ch in tail):  # 4万5000, 1만5천: digits between multipliers
        return _cjk_number(text) if re.fullmatch(r"\d+", head) else None
    for ch in tail:  # 3万, 20만: multipliers after digits
        if ch in _MULTIPLIERS:
            value *= _MULTIPLIERS[ch]
    return value


def _arabic(text: str) -> float | None:
    text = text.replace("'", "")
    if re.fullmatch(r"\d+", text):
        return float(text)
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", text):  # thousands separators only
        return float(re.sub(r"[.,]", "", text))
    match = re.fullmatch(r"(\d+(?:[.,]\d{3})*)[.,](\d{1,2})", text)
    if match:
        return float(re.sub(r"[.,]", "", match[1]) + "." + match[2])
    return None


def _cjk_number(text: str) -> float | None:
    total, section, digit = 0.0, 0.0, 0.0
    for ch in text:
        if ch in _CJK_DIGITS:
            digit = _CJK_DIGITS[ch]
        elif ch in ("万", "萬", "만"):
            total += (section + digit) * 10_000
            section, digit = 0.0, 0.0
        elif ch in _MULTIPLIERS:
            section += (digit or 1) * _MULTIPLIERS[ch]
            digit = 0.0
        elif ch.isdigit():
            digit = digit * 10 + int(ch)
        else:
            return None
    value = total + section + digit
    return value or None


def _currency_at(text: str, start: int, end: int, language: str, home: str | None) -> str | None:
    """The currency written just before ``start`` or just after ``end`` of an amount."""
    currencies: dict[str, str] = _tables()["currencies"]
    after = text[end : end + 12].lstrip()
    before = text[max(0, start - 12) : start].rstrip()
    for word, code in currencies.items():
        star = word.endswith("*")
        core = word[:-1] if star else word
        if after.startswith(core):
            rest = after[len(core) :]
            if star or not core[-1:].isalnum() or not rest[:1].isalnum() or has_spaceless(core):
                return _resolve_currency(core, code, language, home)
        if before.endswith(core):
            ahead = before[: len(before) - len(core)]
            if not core[:1].isalnum() or not ahead[-1:].isalnum():
                return _resolve_currency(core, code, language, home)
    return None


def _resolve_currency(symbol: str, code: str, language: str, home: str | None) -> str:
    """'$' is the user's dollar (CAD in Montréal), '¥' is yuan in Chinese."""
    if (
        code == "USD"
        and symbol in ("$", "dollar", "dollars", "dólar", "dólares")
        and home
        in (
            "CAD",
            "AUD",
            "NZD",
            "SGD",
            "HKD",
            "MXN",
        )
    ):
        return home
    if symbol == "¥" and language == "zh":
        return "CNY"
    if code == "SEK" and home in ("NOK", "DKK"):
        return home
    return code


def _prices(text: str, language: str, home: str | None) -> tuple[Money | None, Money | None]:
    """(ceiling, floor) of the request: amounts with a currency and a comparison word."""
    tables = _tables()
    ceiling: Money | None = None
    floor: Money | None = None
    found: list[tuple[int, int, float, str | None]] = []
    for match in _NUMBER.finditer(text):
        start, end = match.span()
        if start > 0 and text[start - 1].isalpha() and not has_spaceless(text[start - 1]):
            ahead = re.search(r"[^\W\d]+$", text[:start])
            if ahead is None or ahead.group(0) not in tables["currencies"]:
                continue  # part of a word ("mp3", "k-pop"), not a currency ("rp300.000")
        value = _number(match.group(0))
        if value is not None:
            currency = _currency_at(text, start, end, language, home)
            word = _multiplier(match.group(0))
            if currency is None and word is not None:
                currency = _MULTIPLIER_CURRENCY.get(word)
            found.append((start, end, value, currency))
    for n, (start, end, value, currency) in enumerate(found):
        if currency is None and n + 1 < len(found) and found[n + 1][0] - end <= RANGE_GAP:
            currency = found[n + 1][3]  # "от 1000 до 3000 рублей": a range's one currency
        if currency is None or currency not in RATES_TO_EUR:
            continue
        euros = to_eur(value, currency)
        if euros is None or not math.isfinite(euros) or euros > MAX_EUROS:
            continue
        offset = max(0, start - COMPARISON_REACH - LONGEST_COMPARISON)
        window = text[offset : end + COMPARISON_REACH]
        kind = _comparison(window, start - offset, end - offset, tables)
        if kind is None:
            continue
        if kind == "floor" and _denied(text, end, tables):
            kind = "ceiling"  # "more than 800 francs it should not cost"
        if kind == "floor":
            floor = Money(amount=value, currency=currency)
        elif kind == "around":
            ceiling = Money(amount=round(value * AROUND_MARGIN, 2), currency=currency)
        else:
            ceiling = Money(amount=value, currency=currency)
    return ceiling, floor


_CLAUSE_END = re.compile(r"[.!?;,:()\[\]–—]|\s-\s|$")


def _denied(text: str, end: int, tables: dict[str, Any]) -> bool:
    """Whether the rest of the clause after an amount ending at ``end`` denies it."""
    stop = _CLAUSE_END.search(text, end)
    tail = text[end : stop.start() if stop else len(text)]
    return any(_spans(tail, stem) for stem in tables["denied"])


def _comparison(window: str, start: int, end: int, tables: dict[str, Any]) -> str | None:
    """Which comparison word is nearest the amount at ``start:end`` of ``window``: one
    that starts within :data:`COMPARISON_REACH` of it, or a longer one ending where such a
    word ends ("should not cost more than 40": a ceiling, though "more than" is a floor)."""
    spans = [
        (a, b, kind)
        for kind in ("ceiling", "floor", "around")
        for stem in tables[kind]
        for a, b in _spans(window, stem)
    ]
    near = {b for a, b, _ in spans if start - COMPARISON_REACH <= a and b <= start}
    best: tuple[int, int, int, str] | None = None  # (gap, 0 before / 1 after, -length, kind)
    for a, b, kind in spans:
        if b <= start and (a >= start - COMPARISON_REACH or b in near):
            key = (start - b, 0, a - b, kind)
        elif a >= end and b <= end + COMPARISON_REACH:
            key = (a - end, 1, a - b, kind)
        else:
            continue
        if best is None or key[:3] < best[:3]:
            best = key
    return best[3] if best is not None else None


# -- the whole request ----------------------------------------------------------------------
_AGE = re.compile(
    r"(\d{1,2})\s?-?\s?(?:years?[- ]old|yo\b|ans\b|años\b|anos\b|jahre?\b|jährig|anni\b|"
    r"jaar\b|лет\b|год|yaş|साल|岁|歳|살|세|lat(?:k\w*)?\b|åring\w*|år\b|tuổi|tahun\b|ขวบ|"
    r"χρονών|χρονων|ετών|ετων)",
)


#: A stay's length in digits: "10 days", "5 Tage", "3 noites", "3泊4日", "5天", "3박".
_DAY_UNITS = (
    r"days?|jours?|tage?n?\b|días|dias|giorni|dagen|dagar|dni\b|дн(?:я|ей)\b|дні\w*|gün\b|"
    r"günlük|أيام|दिन|日間|天|일간|일\b|ngày|hari\b|วัน|μέρες|ημέρες"
)
_NIGHT_UNITS = (
    r"nights?|nuits?|nächte|noches|noites|notti|nachten|nätter|nocy|ноч\w*|gece|ليال\w*|泊|晚|"
    r"박|đêm|malam\b|คืน|νύχτες"
)
_WEEK_UNITS = (
    r"weeks?|semaines?|wochen?\b|semanas?|settimane?|weken|veckor|tygodni\w*|недел\w*|"
    r"hafta\b|週間|周(?!末)|个星期|주일|tuần|minggu\b|สัปดาห์|εβδομάδ\w*"
)
#: Small numbers written as words, in the languages that write a stay so ("four days").
_NUMBER_WORDS = {
    "一": 1,  # ("one day", "un jour" say "some day" as often as a stay)
    **dict.fromkeys(
        ("two", "deux", "dos", "zwei", "due", "dois", "duas", "twee", "два", "две", "二", "两"), 2
    ),
    **dict.fromkeys(("three", "trois", "tres", "drei", "tre", "três", "drie", "три", "三"), 3),
    **dict.fromkeys(("four", "quatre", "cuatro", "vier", "quattro", "quatro", "четыре", "四"), 4),
    **dict.fromkeys(("five", "cinq", "cinco", "fünf", "cinque", "vijf", "пять", "五"), 5),
    **dict.fromkeys(("six", "seis", "sechs", "sei", "zes", "шесть", "六"), 6),
    **dict.fromkeys(
        ("seven", "sept", "siete", "sieben", "sette", "sete", "zeven", "семь", "七"), 7
    ),
    **dict.fromkeys(("eight", "huit", "ocho", "acht", "otto", "oito", "八"), 8),
    **dict.fromkeys(("nine", "neuf", "nueve", "neun", "nove", "negen", "九"), 9),
    **dict.fromkeys(("ten", "dix", "diez", "zehn", "dieci", "dez", "tien", "十"), 10),
}
_COUNT = (
    r"(\d{1,2}|" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=lambda w: (-len(w), w))) + ")"
)
#: A stay said with a number: "4 days", "about four days", "3 Nächte", "三天", "3박".
_STAY = re.compile(
    # not inside a word of a script with spaces ("mp3"); Chinese and Japanese have none
    rf"(?<![A-Za-z\u00c0-\u024f\u0370-\u04ff]){_COUNT}\s?-?\s?"
    rf"(?:({_DAY_UNITS})|({_NIGHT_UNITS})|({_WEEK_UNITS}))"
)


def _counted_stay(match: re.Match[str]) -> tuple[int, int] | None:
    """The days a numbered stay says, give or take one: "four days" 3-5, "3 nights" 3-5,
    "two weeks" 12-16; ``None`` for no stay at all (0 days)."""
    said = match.group(1)
    n = int(said) if said.isdigit() else _NUMBER_WORDS.get(said, 0)
    if n <= 0:
        return None
    if match.group(2):  # days
        return (1, 1) if n == 1 else (n - 1, n + 1)
    if match.group(3):  # nights: a day more
        return (n, n + 2)
    return (7 * n - 2, 7 * n + 2)


def names_a_model(text: str) -> bool:
    """Whether ``text`` (a request without the title it names) makes the title the model of
    what is asked for: "something like …", "loved …", "quelque chose comme …"."""
    tables = _tables()
    folded = _norm(text)
    return any(_spans(folded, stem) for stem in (*tables["similar"], *tables["liked"]))


def read_intent(query: str, *, language: str = "", currency: str | None = None) -> Intent:
    """What ``query`` asks for; an empty :class:`Intent` when it says nothing we read.

    ``language``: the request's language (for "¥"); ``currency``: the user's (for "$").
    """
    text = _norm(query)
    tables = _tables(language)
    negated = _negated(text)
    ceiling, floor = _prices(text, language, currency)
    # Genres refused (inside a negation) and asked for (outside).
    exclude: list[str] = []
    genres: list[str] = []
    genre_spans: list[tuple[int, int]] = []
    refused_at: dict[str, list[tuple[int, int]]] = {}
    # Where the request's own language names a genre, another language's word for another
    # genre is not read there: Portuguese "romance" is a novel, not a romance.
    own = tables["own_genres"]
    found_at = [
        (genre, stem, _spans(text, stem.lstrip("!")))
        for genre, stems in tables["genres"].items()
        for stem in stems
    ]
    own_hits = [(g, span) for g, stem, spans in found_at if stem in own[g] for span in spans]
    for genre, stem, hits in found_at:
        said_refused = stem.startswith("!")  # a refusal in itself: "不冷", "寒くない"
        if stem not in own[genre]:
            hits = [
                h
                for h in hits
                if not any(g != genre and h[0] < b and a < h[1] for g, (a, b) in own_hits)
            ]
        inside = hits if said_refused else [h for h in hits if _inside(h, negated)]
        outside = [] if said_refused else [h for h in hits if not _inside(h, negated)]
        if outside and genre not in (*genres, *tables["refuse_only"]):
            genres.append(genre)
        if inside:
            refused_at.setdefault(genre, []).extend(inside)
    for genre, spans in refused_at.items():
        # "a novel, but no crime novels": a genre asked for outside the negation, refused
        # only beside another refused genre, is that genre's noun, not refused itself.
        if genre in genres and any(
            _same_negation(a, b, negated)
            for other, theirs in refused_at.items()
            if other != genre
            for a in spans
            for b in theirs
        ):
            continue
        exclude.append(genre)
        genre_spans.extend(spans)
    for genre in genres:
        for other in tables["excludes"][genre]:
            if other not in exclude:
                exclude.append(other)
    for genre in exclude:
        opposite = tables["refused"].get(genre)
        if opposite and opposite not in genres and opposite not in exclude:
            genres.append(opposite)
    # Domains: named outside a negation count; one inside counts as refused unless it is
    # the noun of a refused genre ("no horror films": films, not horror).
    found: list[tuple[int, str]] = []
    refused: list[str] = []
    softly: set[str] = set()  # domains implied only by soft stems
    for domain, stems in tables["domains"].items():
        where = _first(text, stems, outside=negated)
        if where >= 0:
            found.append((where, domain))
            strong = [s for s in stems if s not in tables["soft"][domain]]
            if _first(text, strong, outside=negated) < 0:
                softly.add(domain)
            continue
        for stem in stems:
            if stem.strip("*~") in tables["kinds"]:  # "no chocolate": not all food
                continue
            hits = [h for h in _spans(text, stem) if _inside(h, negated) and h not in genre_spans]
            if not hits:
                continue
            start = hits[0][0]
            span = next((a, b) for a, b in negated if a <= start < b)
            if any(span[0] <= g[0] < span[1] for g in genre_spans):
                found.append((start, domain))
            else:
                refused.append(domain)
            break
    found.sort()
    domains = tuple(d for _, d in found)
    flags = {
        name: _first(text, stems, outside=negated) >= 0
        for name, stems in tables["constraints"].items()
    }
    audience = []
    if flags.get("kids") or any(int(m[1]) <= KIDS_MAX_AGE for m in _AGE.finditer(text)):
        audience.append("kids")
    if flags.get("beginners"):
        audience.append("beginners")
    exclude_tags = tuple(dict.fromkeys(t for g in exclude for t in genre_tags(g)))
    domain = _the_domain(text, [f for f in found if f[1] not in softly], tables)
    # A length said with a number, or a trip-length phrase ("a weekend" is neither).
    stay_said = bool(flags.get("trip_length")) or _STAY.search(text) is not None
    if not found and not flags.get("gift") and stay_said:
        # "a week somewhere in the south, not a city": a stay's length, nothing else named.
        domain, domains = "travel", ("travel",)
    days = _stay(text, negated, tables)
    # "take my mum away for four days, good food": the food is the trip's ("something
    # sweet for the weekend" is food)
    if stay_said and domains and set(domains) <= {"food", "travel"} and not flags.get("gift"):
        domain, domains = "travel", ("travel", *(d for d in domains if d != "travel"))
    if domains and "travel" not in domains:
        days = None  # "a film for the weekend", "breakfasts at the weekend": no stay
    return Intent(
        domains=domains,
        domain=domain,
        exclude_domains=tuple(d for d in dict.fromkeys(refused) if d not in domains),
        max_price=ceiling,
        min_price=floor,
        cheap=flags.get("cheap", False) and ceiling is None,
        premium=flags.get("premium", False) and not flags.get("cheap", False),
        audience=tuple(audience),
        exclude=tuple(exclude),
        exclude_tags=exclude_tags,
        genres=tuple(g for g in genres if g not in exclude),
        occasion="gift" if flags.get("gift") else None,
        days=days,
    )


def _stay(
    text: str, negated: Sequence[tuple[int, int]], tables: dict[str, Any]
) -> tuple[int, int] | None:
    """The length of stay the request names first, outside a negation ("a weekend in
    Lisbon": 2 to 4 days); ``None`` when it names none."""
    best: tuple[int, tuple[int, int]] | None = None
    for days, stems in tables["stays"].values():
        where = _first(text, stems, outside=negated)
        if where >= 0 and (best is None or where < best[0]):
            best = (where, (int(days[0]), int(days[1])))
    for match in _STAY.finditer(text):  # "for about four days": said with a number
        counted = _counted_stay(match)
        if counted and not _inside(match.span(), negated):
            if best is None or match.start() < best[0]:
                best = (match.start(), counted)
            break
    return best[1] if best else None


def days_said(days: tuple[int, int], language: str) -> str:
    """A length of stay in ``language``: "2–4 days", "3 days"."""
    said = in_language("reasons", language).get("understood", {}) or {}
    low, high = days
    key = "day" if low == high == 1 else "days"
    template = str(said.get(key) or in_language("reasons", "en")["understood"][key])
    return template.format(n=str(low) if low == high else f"{low}–{high}")


def _the_domain(text: str, found: list[tuple[int, str]], tables: dict[str, Any]) -> str | None:
    """The one domain asked for: the only one named, or, of two, the one that is not the
    source of taste ("Me encantó la película…, ¿qué libro…?"), or, of a medium and a
    topic, the medium ("a film about space travel"), or, of things and a trip, the things
    ("what should I take on my trip")."""
    if len(found) == 1:
        return found[0][1]
    if len(found) != 2:
        return None
    markers = [s for stem in tables["liked"] for s, _ in _spans(text, stem)]
    if not markers:
        # A medium about a topic: "a film about space travel", "un livre de cuisine".
        media = [d for _, d in found if d in MEDIA]
        if len(media) == 1:
            return media[0]
        # What to take on a trip: the trip is where, the things are what is asked for.
        return "products" if {d for _, d in found} == {"products", "travel"} else None
    # The source is the domain named nearest a "liked" word.
    source = min(found, key=lambda f: min(abs(f[0] - m) for m in markers))
    return next(d for _, d in found if d != source[1])


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
