"""The local ranker: a real ranker without an LLM.

Relevance to the request decides: similarity to it, plus what the request says it wants
(:mod:`polyrank.agent._intent`: genres, audience, a gift, "cheap", a domain named among several),
minus penalties for items the user cannot read (language-sensitive domains: the profile's
languages, else the request's) or cannot buy (region). The profile (history, weighted by
rating and event) then moves an item by at most :data:`PROFILE_MARGIN`, so it reorders
only items whose relevance is that close; MMR keeps the list diverse. The request's hard
constraints (its one domain, price ceiling, exclusions) are filters applied before ranking.

Reasons come from localized templates (``locales/reasons.yaml``) and state facts: a
history item related to this request, else the clause of the item's own description most
like the request (when it is shown in the user's language), and the request's aspects
the item matches (genre, audience, gift) and the request's own words for the item's tags
("Bergen" for a book tagged mountains); then what it is (domain, its language when
another, year) and its price against the request's ceiling.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from polyrank.agent._intent import (
    Intent,
    days_said,
    genre_avoids,
    genre_name,
    genre_tags,
    genre_word,
    read_intent,
    split_negated,
)
from polyrank.agent._locale import in_language
from polyrank.agent._locale import table as locale_table
from polyrank.agent._money import price_text
from polyrank.agent._profile import LANGUAGE_SENSITIVE_DOMAINS, Interest, UserContext
from polyrank.agent._ranking import Ranking, RankRequest
from polyrank.agent._topics import TopicMatcher, Topics, tag_word
from polyrank.retrieval import Candidate, StoreReader, to_eur
from polyrank.retrieval.support import has_spaceless, tokenize

__all__ = ["LocalRanker", "item_languages", "localized_reason", "reason_languages", "unit"]

#: Weight of the profile's pull (similarity to liked items, -1..1 times the event weight),
#: and the most it may move an item: the profile reorders only items this close in
#: relevance, so a true but unrelated link (a tea purchase) cannot outrank the request.
#: Measured by in-process runs of core.yaml (its 78 older cases and the 61 fresh
#: tune requests): margin 0.04 -> fresh nDCG@5 0.498, sensible top-3 14/61; 0.1 -> 0.498,
#: 14; unbounded -> 0.493, 16 (core: 6 vs 7 failed gates at that point). 0.1 keeps the
#: request first at no measured cost.
W_HISTORY = 0.35
PROFILE_MARGIN = 0.1
#: Where the request asks for a genre, the profile lifts only the items of that genre.
#: In-process core.yaml: fresh tune half nDCG@5 0.6457 -> 0.6579, top-1 agreement 0.583 ->
#: 0.611; the 78 older cases 0.833 -> 0.8336; every gate met. The held-out half not used.
#: The same for a gift (the user's history lifting nothing) changed no ranking: left out.
PROFILE_ONLY_FITTING = True
#: Soft boosts from the request's intent, added to the cosine similarity.
W_DOMAIN = 0.04  # the item is of a domain the request names (half for a second domain)
#: The item carries a genre the request asks for ("a funny film"). Swept on core.yaml
#: in-process (older 78 cases / fresh-* / fresh2-*, nDCG@5 and sensible top-3): 0.07 ->
#: 0.8397 / 154, 0.6995, 0.5363 / 16; 0.11 -> 0.8415, 0.7096, 0.5456 / 17; 0.14 -> 0.8401 /
#: 155, 0.712, 0.551 / 18; 0.18 -> 0.8387, 0.7142, 0.5521 / 18; every gate met from the
#: own-language genre reading on (before it, 0.10+ failed magical-realism: Portuguese
#: "romance" read as romance too). Cosines of unrelated hub items ran 0.1 above a jazz
#: album for "재즈 입문". The held-out half and the blind sets were not used to choose.
W_GENRE = 0.14
GENRES_COUNTED = 2  # at most this many genres count
W_AVOID = 0.1  # ... or a tag that genre pushes down (a horror film for "something light")
#: A reason names the item's tags in the request's own words ("in den Bergen": mountains,
#: see :mod:`polyrank.agent._topics`), at most this many, and each such tag (up to the same
#: count) adds ``W_TOPIC`` to the item's relevance. Without the word list
#: (``locales/tags.yaml``), 0.02 left the tune half where it was and 0.04 failed two
#: consistency gates (ja 宇宙 and ko 우주 named nothing). With it, in-process core.yaml runs
#: (78 older cases / 25 fresh tune cases, nDCG@5 and sensible top-3): 0 -> 0.8019 / 133,
#: 0.5885 / 24; 0.03 -> 0.8222 / 142, 0.6156 / 25; 0.05 -> 0.8343 / 148, 0.6174 / 25,
#: top-1 agreement 0.778 -> 0.801 and 0.528 -> 0.583; 0.07 and 0.10 raised the older cases
#: (0.8365, 0.8417) and not the tune half (0.6142, 0.6119). Every gate met from 0.05 up.
#: Weighting a tag by how few candidates carry it (0.05: 0.8307, 0.6192) and counting an
#: item's place as its country too (naples: italy) did no better and were left out. The
#: held-out half was not used to choose. Measured again once the profile lifted only the
#: items of a genre asked for (PROFILE_ONLY_FITTING): 0.03 -> 0.8222 / 140, 0.6494 / 27;
#: 0.05 -> 0.8336 / 149, 0.6579 / 27; 0.07 -> 0.8378 / 151, 0.6604 / 28; 0.09 -> 0.8415 /
#: 153, 0.6561 / 28 (top-1 agreement of the tune half 0.611 at 0.07, 0.583 at 0.09).
TOPICS_COUNTED = 2
W_TOPIC = 0.07
#: Where the request asks for a genre, the boost goes only to the domains of the
#: candidates of that genre ("something sweet for my tea": no tea set): 0.8340 / 148,
#: 0.6221 / 25, every gate met. Only to items of the genre: 0.8311, 0.6188, and a Brazilian
#: film that is no comedy lost its place for "a Brazilian comedy" (a gate failed).
TOPICS_WITHIN_GENRE = True
#: A genre's tags get the genre's boost, not this one too: 0.8329 / 147, 0.6269 / 26 (with
#: W_GIFT_PRODUCT) -> 0.8321 / 148, 0.6293 / 26, every gate met.
TOPICS_NOT_GENRES = True
#: Tags never named this way: "a gift" is the occasion, said by the intent's aspects.
NOT_TOPICS = frozenset({"gift"})
#: The catalogue's tags are English words: a reason for an item shown in another language
#: (no clause of its own to quote) names this many of them ("tagged alps, mountains"), in
#: the languages whose reasons.yaml has a ``tagged`` template (English only).
TAGS_SHOWN = 2
#: Tags that say something is absent: refusing "gluten" must not remove "gluten-free".
_ABSENCE = re.compile(r"free|^non|^no-|less$|without|vegan|instrumental")
W_AUDIENCE = 0.03  # "for kids" / "for beginners": items tagged for them
#: A gift naming no domain lifts products a little: items tagged as gifts (boxes of sweets)
#: are over-found by the embeddings already (every gift request drew the same ones). It
#: failed the wine-gift and robot-gift-kid gates before the tag word list; now, in-process
#: core.yaml (78 older / 25 fresh tune cases, nDCG@5 and sensible top-3): 0 -> 0.8340 /
#: 148, 0.6221 / 25; 0.04 -> 0.8329 / 147, 0.6269 / 26; 0.06 -> 0.8320, 0.6273 / 26; 0.08
#: -> 0.8309, 0.6308 / 26; every gate met. A penalty for the gift-tagged items instead
#: (0.03): 0.8335, 0.6176 / 24. The held-out half was not used to choose.
W_GIFT_PRODUCT = 0.04
W_CHEAP = 0.03  # "cheap": times how cheap the item is among the priced candidates
W_PREMIUM = 0.03  # "price is no object": times how dear the item is among them
#: A trip that lasts as long as the request says ("a weekend": 2 to 4 days). In-process
#: core.yaml: the 78 older cases 0.8378 -> 0.8406 nDCG@5, 151 -> 154 sensible; the fresh
#: tune half 0.6604 -> 0.6604, 28 -> 29; every gate met.
W_STAY = 0.05
#: Items of another domain than the one the request asked for fill in only after it (they
#: are there when its domain had too few items: the trace's ``relaxed``).
OFF_DOMAIN_PENALTY = 1.0
#: ... and the tags that let a reason say "for kids" (a family drama is not for children).
SAID_AUDIENCE = {
    "kids": frozenset({"kids", "children", "toy"}),
    "beginners": frozenset({"beginners"}),
}
AUDIENCE_TAGS = {
    "kids": frozenset({"kids", "children", "family", "animation", "toy"}),
    "beginners": frozenset({"beginners"}),
}
#: A language-sensitive item (book, film) in no language the user reads, guessed from the
#: request's language (no profile): see the shares below.
UNREADABLE_PENALTY = 0.12
#: ... and in no language the user's profile says they read: such items come after every
#: readable one of the domain (above off-domain fillers). Blind graders counted them as
#: failures for profile users. In-process runs of core.yaml: 0.12 -> core's 78 older cases
#: nDCG@5 0.7999, tune half 0.5711 / 23 sensible; 0.2 / 0.4 / 1.0 -> 0.7987 / 0.5725 / 23
#: (0.4 and 1.0 alike), every gate met. Held-out half not used to choose it.
UNREADABLE_PROFILE_PENALTY = 0.5
#: Without a profile, the request's language is the one known to be read; English, which
#: many read besides, costs half. Full weight cost the core suite's consistency (RBO 0.696
#: at 0.3 of it, 0.675 at all of it; 19 failed gates) while the fresh tune requests moved
#: little (nDCG@5 0.496-0.501): 0.08 met every gate with fresh nDCG@5 0.499, 15/61.
ENGLISH_SHARE = 0.5
NO_PROFILE_SHARE = 0.08
#: An item not sold in the user's region. 0.2 sank it below unrelated items (a Seoul user
#: asking what to take camping never saw the tent, sold in US/GB/CA/AU); 0.05 raised the
#: core suite's nDCG@5 0.807 -> 0.813 and 0.727 -> 0.738, RBO 0.735 -> 0.742 and 0.660 ->
#: 0.671, with every gate met.
REGION_PENALTY = 0.05
#: Relevance vs diversity in MMR. 0.8 cost nDCG@5 and cross-language agreement without a
#: gate's worth of diversity; 1.0 (no MMR) failed one RBO gate. Relevance is the cosine
#: itself since the request decides (it was 0.6 of it in a weighted sum, with 0.95):
#: 0.92 keeps the old balance and met the space-films RBO gate that 0.95 missed.
MMR_LAMBDA = 0.92
LINK_SPECIFICITY = 1.0  # z-score of a history item's similarity across the candidates
#: A history item of the candidate's domain is named only when its similarity to the
#: candidate reaches this (cosine of the stored fusion vectors). Measured on pairs of the
#: sample users: related same-domain pairs scored 0.69-0.79 (Italian / Japanese cookbook
#: 0.69, two hiking guides 0.79), loose ones 0.56-0.66 (ramen kit / kimchi 0.64, headphones /
#: headlamp 0.66, BBQ sauce / shortbread 0.56).
LINK_MIN = 0.665
#: ... and only when the history item is itself related to this request: its similarity
#: to the request at least this share of the candidate's own.
LINK_REQUEST_SHARE = 0.8
#: Hubs: an item close to every other candidate (a generic compilation) is close to every
#: request too; its relevance loses this times how much closer it is to the other
#: candidates than the average candidate is (local scaling, as CSLS does for
#: cross-lingual retrieval). Chosen on the tune half of the fresh requests (core.yaml's
#: fresh-* cases; `polyrank eval`): 0 -> nDCG@5 0.499, sensible top-3 13/61; 0.15 -> 0.502,
#: 14/61; 0.3 -> 0.488, 14/61; 0.6 -> 0.486, 14/61. A small effect, kept at its best.
W_HUB = 0.15
#: Free-text history vectors remembered per ranker (oldest dropped first).
TEXT_VECTOR_CACHE = 1024
#: Bounds of a description clause quoted in a reason (characters).
CLAUSE_MIN, CLAUSE_MAX = 12, 90


@functools.cache
def _locale(language: str) -> Any:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def language_name(code: str, in_language: str) -> str:
    """The name of language ``code`` written in ``in_language`` ("pt" in "es": portugués)."""
    return str(_locale(in_language).languages.get(code, code))


def domain_name(domain: str, language: str) -> str:
    """A catalogue domain's name in ``language`` ("films" in "es": película)."""
    table = in_language("reasons", language)
    return str(table.get("domains", {}).get(domain, domain))


def format_price(
    candidate: Candidate,
    language: str,
    currency: str | None = None,
    locale: str | None = None,
) -> str | None:
    """The candidate's price as the user reads it (:func:`polyrank.agent._money.price_text`)."""
    return price_text(candidate.attributes, language, currency=currency, locale=locale)


def _in_language(domain: str, code: str, language: str) -> str:
    """The "book in English" of ``language``: its ``in_language`` template, with the name of
    ``code`` from its ``language_names`` (Polish "w języku angielskim") or CLDR's, lower-cased
    where the template says so (Vietnamese "tiếng Anh", Greek "αγγλικά")."""
    table = in_language("reasons", language)
    name = (table.get("language_names") or {}).get(code) or language_name(code, language)
    if table.get("language_lower"):
        name = name[:1].lower() + name[1:]
    template = str(table.get("in_language", "{domain} ({language})"))
    return template.format(domain=domain, language=name)


def _year(candidate: Candidate, language: str) -> str | None:
    year = candidate.attributes.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1000 <= year <= 2999:
        return None
    return str(in_language("reasons", language).get("year", "{year}")).format(year=year)


def facts(candidate: Candidate, language: str, request: RankRequest | None = None) -> str:
    """What the item is, in ``language``: its domain, its language if another, its year;
    its price when the request spoke of price (against the ceiling, if it gave one)."""
    known = candidate.domain in in_language("reasons", language).get("domains", {})
    # A domain the tables do not name (a LangChain document's) is an "item", not an
    # English word in a German reason.
    head = domain_name(candidate.domain if known else "item", language)
    if candidate.language and candidate.language != language:
        head = _in_language(head, candidate.language, language)
    parts = [head]
    year = _year(candidate, language)
    if year:
        parts[0] += f", {year}"
    intent = request.intent if request is not None else Intent()
    length = _days(candidate) if intent.days is not None else None
    if length is not None:  # the request said how long: say how long this one is
        parts.append(days_said((length, length), language))
    if intent.max_price or intent.min_price or intent.cheap or intent.premium:
        assert request is not None
        price = format_price(candidate, language, request.currency, request.locale)
        if price:
            bound = intent.max_price or intent.min_price
            if bound is not None:
                from polyrank.agent._money import format_money

                sign = "≤" if intent.max_price else "≥"
                said = format_money(
                    bound.amount, bound.currency, request.locale or language, whole=True
                )
                price += f" ({sign} {said})"
            parts.append(price)
    return " · ".join(parts)


def aspects(
    candidate: Candidate, intent: Intent, language: str, query: str | None = None
) -> list[str]:
    """The request's aspects this item has, named in ``language``: genres asked for (in
    the words of ``query``, the user's request, where it has one for the genre), the
    audience, a gift."""
    tags = {t.lower() for t in candidate.tags}
    said = in_language("reasons", language).get("understood", {})
    out = [
        (query and genre_word(g, query, language)) or genre_name(g, language)
        for g in intent.genres
        if tags & set(genre_tags(g))
    ]
    out += [str(said.get(who, who)) for who in intent.audience if tags & SAID_AUDIENCE[who]]
    if intent.occasion == "gift" and "gift" in tags:
        out.append(str(said.get("gift", "gift")))
    return list(dict.fromkeys(out))


# Clause ends: Latin punctuation before a space (not "3.5" or "1,5"), CJK punctuation.
_CLAUSES = re.compile(r"(?<=[.;:!?,])\s+|(?<=[。；！？，、])\s*|\s+[—–-]\s+")


def best_clause(description: str, query: str) -> str | None:
    """The clause of ``description`` that shares most words with ``query`` (the first
    on a tie), cut to :data:`CLAUSE_MAX` characters; ``None`` when none is long enough."""
    wanted = set(tokenize(query))
    best: tuple[int, str] | None = None
    for part in _CLAUSES.split(description):
        clause = part.strip().rstrip(".;:,。；，、")
        if len(clause) < (4 if has_spaceless(clause) else CLAUSE_MIN):
            continue
        overlap = len(wanted & set(tokenize(clause)))
        if best is None or overlap > best[0]:
            best = (overlap, clause)
    if best is None:
        return None
    return _short(best[1], CLAUSE_MAX)


def reason_languages() -> list[str]:
    """Languages the local ranker can explain itself in."""
    return sorted(locale_table("reasons"))


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def localized_reason(
    language: str,
    *,
    query: str,
    interest: Interest | None = None,
    tag: str | None = None,
    anchor: str | None = None,
) -> str:
    """One reason in ``language`` (English when it has no templates).

    ``anchor`` is the title of the item the user asked for more of ("more like 2").
    """
    table = in_language("reasons", language)
    if interest is None and not anchor and not tag and query == "":
        return str(table["fits"])
    if interest is not None:
        title = _short(interest.title)
        if interest.rating is not None:
            rating = f"{interest.rating:g}"
            return _agree(str(table["rated"]).format(title=title, rating=rating), language)
        kind = interest.event if interest.item_id else "text"
        return _agree(str(table.get(kind, table["like"])).format(title=title), language)
    if anchor:
        return _agree(str(table["similar"]).format(title=_short(anchor)), language)
    if tag:
        return _agree(str(table["tag"]).format(tag=tag), language)
    return str(table["query"]).format(query=_short(query.strip(), 60))


_KO_PAIR = re.compile(r"(.)」(와|과)")
#: How Korean reads the digits a title may end with: does the word end in a consonant?
_KO_DIGIT_CONSONANT = {"0": True, "1": True, "2": False, "3": True, "4": False, "5": False,
                       "6": True, "7": True, "8": True, "9": False}  # fmt: skip


def _ends_in_consonant(ch: str) -> bool:
    if "\uac00" <= ch <= "\ud7a3":
        return (ord(ch) - 0xAC00) % 28 != 0
    if ch.isdigit():
        return _KO_DIGIT_CONSONANT.get(ch, True)
    return ch.isalpha() and ch.lower() not in "aeiouy"


def _agree(text: str, language: str) -> str:
    """Korean particles agree with the word before them: 「책」과, 「영화」와."""
    if language != "ko":
        return text
    return _KO_PAIR.sub(lambda m: f"{m[1]}」{'과' if _ends_in_consonant(m[1]) else '와'}", text)


@dataclass(frozen=True)
class _Scores:
    base: list[float]
    links: list[Interest | None]  # the history item each reason names, if any
    vectors: np.ndarray | None
    topics: Topics | None = None

    def reason(self, i: int, request: RankRequest, candidate: Candidate) -> str:
        """The reason of candidate ``i``: written only for the items that are shown."""
        return LocalRanker.reason(candidate, self.links[i], request, self.topics)


def _refused(request: RankRequest, topics: Topics | None) -> set[str]:
    """The tags the request refuses: its intent's, and those it names in its own words,
    but never a tag that itself says something is absent ("sin letra" names
    ``instrumental`` inside a negation: the request wants it), as in ``refused_tags``."""
    refused = {t.lower() for t in request.intent.exclude_tags}
    if topics is not None:
        refused |= {t.lower() for t in topics.refused if not _ABSENCE.search(t.lower())}
    return refused


def _nameable(candidate: Candidate) -> list[str]:
    """The item's tags a reason or the request's words may name: not the occasion, not
    its domain's own name."""
    domain = candidate.domain.lower()
    return [
        t
        for t in candidate.tags
        if t.lower() not in NOT_TOPICS and t.lower() not in (domain, domain.rstrip("s"))
    ]


def _days(candidate: Candidate) -> int | None:
    """How many days a trip lasts (its ``days`` attribute), if it says."""
    days = candidate.attributes.get("days")
    return int(days) if isinstance(days, int | float) and days > 0 else None


def _lasts(candidate: Candidate, days: tuple[int, int]) -> bool:
    """Whether the item is a trip of a length within ``days`` (shortest, longest)."""
    length = _days(candidate)
    return length is not None and days[0] <= length <= days[1]


def _tag_word(tag: str, language: str) -> str | None:
    """A tag as a reason lists it: the catalogue's own word in English, else its name in
    ``language`` from the tags' word list (none where the list has no word there)."""
    return tag if language == "en" else tag_word(tag, language)


def _asked_tags(intent: Intent) -> set[str]:
    """The catalogue tags of the genres ``intent`` asks for."""
    return {t for g in intent.genres for t in genre_tags(g)}


def _lower(tags: Iterable[str]) -> set[str]:
    return {t.lower() for t in tags}


def topic_count(candidate: Candidate, topics: Topics, asked: set[str], kinds: set[str]) -> int:
    """How many of the item's tags the request names in its own words and the ranking
    counts (at most ``TOPICS_COUNTED``). A genre's tags (``asked``) are boosted as the
    genre already, not twice ("ein Roman in den Bergen": the novels' "Roman" does not
    outweigh the mountains). Where the request asks for a genre, only items of the domains
    its candidates are of (``kinds``) count: "something sweet for my tea" is no tea set."""
    if TOPICS_WITHIN_GENRE and kinds and candidate.domain not in kinds:
        return 0
    named = _named_tags(candidate, topics) - (asked if TOPICS_NOT_GENRES else set())
    return min(TOPICS_COUNTED, len(named))


def _named_tags(candidate: Candidate, topics: Topics) -> set[str]:
    """The item's tags the request names in words of its own (:func:`_nameable`), and the
    nationality its language gives a film or an album ("un film français")."""
    named = {t.lower() for t in _nameable(candidate) if t.lower() in topics.wanted}
    own = language_tag(candidate)
    return named | {own} if own and own in topics.wanted else named


#: The nationality tag a film or an album in a language has by being in it.
LANGUAGE_TAGS = {
    "ar": "arabic", "de": "german", "es": "spanish", "fr": "french", "hi": "indian",
    "it": "italian", "ja": "japanese", "ko": "korean", "pt": "portuguese", "ru": "russian",
    "tr": "turkish", "zh": "chinese",
}  # fmt: skip
#: Films and music only: a Japanese-language cookbook is no answer to "une soirée japonaise"
#: (with books, core.yaml's fresh2-* lost it: 0.5581 -> 0.5547 nDCG@5).
LANGUAGE_TAG_DOMAINS = frozenset({"films", "music"})


def language_tag(candidate: Candidate) -> str | None:
    """:data:`LANGUAGE_TAGS`' tag for ``candidate``, a film or an album."""
    if candidate.domain not in LANGUAGE_TAG_DOMAINS:
        return None
    return LANGUAGE_TAGS.get(candidate.language)


def item_languages(candidate: Candidate) -> set[str]:
    """The languages ``candidate`` can be read in: its own and its group's versions'."""
    return {candidate.language, *(v.language for v in candidate.variants)}


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to length 1 (a zero vector as it is)."""
    n = float(np.linalg.norm(v))
    return v / n if n else v


class LocalRanker:
    """Ranks candidates with embeddings and rules; explains with localized templates.

    A :class:`~agent._ranking.Ranker`; it answers when no LLM is configured and whenever
    the LLM fails.
    """

    spec = "local"

    def __init__(self, store: StoreReader | None = None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._texts: dict[str, np.ndarray] = {}
        self._matcher = TopicMatcher()

    def vectors(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """Unit vectors of the candidates: stored ones, else embedded as passages now."""
        return self._vectors(candidates)[0]

    def _vectors(
        self, candidates: Sequence[Candidate], also: Sequence[str] = ()
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`vectors`, and the stored vectors of the item ids ``also`` (the user's
        history), fetched in the same store call."""
        assert self.store is not None
        stored = self.store.vectors([c.id for c in candidates] + list(also))
        fetched = {i: stored[i] for i in also if i in stored}
        missing = [c for c in candidates if c.id not in stored]
        if missing:
            fresh = self.store.embedder.embed_passages(
                [f"{c.title}. {c.description}" for c in missing]
            )
            stored.update({c.id: v for c, v in zip(missing, fresh, strict=True)})
        return np.vstack([unit(stored[c.id]) for c in candidates]), fetched

    def _text_vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Unit query vectors of free-text history, remembered per text (a profile's texts
        were embedded again on every request)."""
        assert self.store is not None
        with self._lock:
            known = {t: self._texts[t] for t in texts if t in self._texts}
        new = [t for t in dict.fromkeys(texts) if t not in known]
        if new:
            fresh = self.store.embedder.embed_queries(new)
            with self._lock:
                for text, vector in zip(new, fresh, strict=True):
                    if len(self._texts) >= TEXT_VECTOR_CACHE:
                        self._texts.pop(next(iter(self._texts)))
                    self._texts[text] = known[text] = unit(vector)
        return known

    def _interest_vectors(
        self, context: UserContext, stored: dict[str, np.ndarray]
    ) -> list[tuple[Interest, np.ndarray]]:
        if self.store is None or not context.interests:
            return []
        by_text = self._text_vectors(
            [i.text for i in context.interests if not i.item_id and i.text]
        )
        out = []
        for interest in context.interests:
            if interest.item_id and interest.item_id in stored:
                out.append((interest, unit(stored[interest.item_id])))
            elif interest.text in by_text:
                out.append((interest, by_text[interest.text]))
        return out

    def _without_refused(
        self,
        interests: list[tuple[Interest, np.ndarray]],
        request: RankRequest,
        topics: Topics | None,
    ) -> list[tuple[Interest, np.ndarray]]:
        """``interests`` without the history items of what the request refuses ("done
        with hiking": the hiking tour bought last year neither pulls nor is named)."""
        refused = _refused(request, topics)
        ids = [i.item_id for i, _ in interests if i.item_id]
        if not refused or not ids or self.store is None:
            return interests
        tagged = {
            item.id for item in self.store.get(ids) if refused & {t.lower() for t in item.tags}
        }
        return [(i, v) for i, v in interests if i.item_id not in tagged]

    def rank(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> Ranking:
        """Order ``candidates`` for the user: the best ``request.k``, diversified (MMR)."""
        if not candidates:
            return Ranking(ranker=self.spec)
        scored = self._score(request, candidates, context)
        if scored.vectors is None:
            order = sorted(range(len(candidates)), key=lambda i: -scored.base[i])[: request.k]
        else:
            order = self._mmr(scored.base, scored.vectors, request.k)
        return Ranking(
            ranker=self.spec,
            items=tuple(candidates[i] for i in order),
            scores=tuple(round(scored.base[i], 6) for i in order),
            reasons=tuple(scored.reason(i, request, candidates[i]) for i in order),
        )

    async def arank(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> Ranking:
        """:meth:`rank` in a worker thread (it is CPU work: scores, MMR, reasons)."""
        return await asyncio.to_thread(self.rank, request, candidates, context)

    def explain(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> dict[str, str]:
        """This ranker's reason for each candidate, by item id, from one scoring of them
        all (what fills in for an LLM reason that is missing or in the wrong language)."""
        if not candidates:
            return {}
        scored = self._score(request, candidates, context)
        return {c.id: scored.reason(i, request, c) for i, c in enumerate(candidates)}

    def _score(
        self, request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> _Scores:
        """Every candidate's score and the history item its reason names (in input order),
        and their unit vectors."""
        topics = self.topics(request, candidates)
        if self.store is None:
            relevance = self._relevance(request, candidates, context)
            return _Scores(relevance, [None] * len(candidates), None, topics)
        history = [i.item_id for i in context.interests if i.item_id]
        vectors, fetched = self._vectors(candidates, also=history)  # one store call
        relevance = self._relevance(request, candidates, context)
        interests = self._without_refused(self._interest_vectors(context, fetched), request, topics)
        n = len(candidates)
        links: list[Interest | None] = [None] * n
        personal = np.zeros(n)
        if interests:
            matrix = np.vstack([v for _, v in interests])
            weights = np.array([i.weight for i, _ in interests])
            # Cross-domain interests count, a little less than same-domain ones.
            same = np.array(
                [
                    [i.domain is None or i.domain == c.domain for i, _ in interests]
                    for c in candidates
                ]
            )
            sims = vectors @ matrix.T
            pulls = sims * np.where(same, 1.0, 0.8) * weights
            personal = np.clip(pulls, 0, None).max(axis=1) + np.clip(pulls, None, 0).min(axis=1)
            # A history item is named in the reason only where it is of the candidate's
            # domain, close in absolute terms (LINK_MIN), specific to this candidate (well
            # above its similarity to the other candidates), explains it at least as well
            # as the request does, and is itself related to the request.
            spread = sims.std(axis=0) + 1e-6
            specific = (sims - sims.mean(axis=0)) / spread >= LINK_SPECIFICITY
            request_sim = np.array([c.score for c in candidates])[:, None]
            eligible = (
                specific
                & same
                & (sims >= LINK_MIN)
                & (weights > 0)[None, :]
                & (sims >= request_sim)
            )
            if request.vector is not None:
                query = unit(np.asarray(request.vector, dtype=np.float64))
                to_request = matrix @ query
                eligible &= to_request[None, :] >= LINK_REQUEST_SHARE * request_sim
            for i in range(n):
                if eligible[i].any():
                    links[i] = interests[int(np.where(eligible[i], sims[i], -np.inf).argmax())][0]
        asked = _asked_tags(request.intent)
        of_genre = np.array([bool(asked & _lower(c.tags)) for c in candidates], dtype=bool)
        if W_HUB and n > 2:
            # Closeness to the candidates of no genre the request asks for: items of that
            # genre, fetched for it (GENRE_RECALL in _agent), are close to each other
            # without being hubs. Closeness to all had put a teapot above baklava for
            # "something sweet for my tea, but no chocolate" once eight sweets were fetched.
            # In-process core.yaml at GENRE_RECALL 8: 78 older cases 0.7999 -> 0.8007, fresh
            # tune half 0.5876 / 23 -> 0.5853 / 24 sensible; held-out half unchanged.
            plain = ~of_genre
            if plain.sum() < 3:
                plain = np.ones(n, dtype=bool)
            # Each candidate's mean similarity to the plain ones, itself left out.
            closeness = ((vectors @ vectors[plain].T).sum(axis=1) - plain) / (plain.sum() - plain)
            relevance = list(np.array(relevance) - W_HUB * (closeness - closeness.mean()))
        if W_TOPIC and topics is not None and topics.wanted:
            kinds = {c.domain for c, fits in zip(candidates, of_genre, strict=True) if fits}
            relevance = [
                r + W_TOPIC * topic_count(c, topics, asked, kinds)
                for r, c in zip(relevance, candidates, strict=True)
            ]
        if PROFILE_ONLY_FITTING and request.intent.genres:
            # A genre asked for: the profile lifts only the items of that genre ("a
            # suspense film": not the nature film a hiking history is close to).
            personal = np.where(of_genre | (personal < 0), personal, 0.0)
        moved = np.clip(W_HISTORY * personal, -PROFILE_MARGIN, PROFILE_MARGIN)
        base = [relevance[i] + float(moved[i]) for i in range(n)]
        return _Scores(base, links, vectors, topics)

    def refused_tags(
        self, query: str, candidates: Sequence[Candidate], language: str = ""
    ) -> set[str]:
        """The candidates' tags that ``query`` (in ``language``) refuses in words of its own
        ("no chocolate"), but never a tag that itself says something is absent
        ("gluten-free", "vegan")."""
        if not split_negated(query)[1].strip():  # no negation: nothing refused
            return set()
        topics = self._matcher.match(query, (t for c in candidates for t in c.tags), language)
        return {t for t in topics.refused if not _ABSENCE.search(t)}

    def topics(self, request: RankRequest, candidates: Sequence[Candidate]) -> Topics | None:
        """The candidates' tags that the request names or refuses in words of its own."""
        if request.anchor or not request.query.strip():
            return None
        tags = [t for c in candidates for t in c.tags]
        tags += [t for c in candidates if (t := language_tag(c))]  # "un film français"
        return self._matcher.match(request.query, tags, request.language)

    @staticmethod
    def _relevance(
        request: RankRequest, candidates: Sequence[Candidate], context: UserContext
    ) -> list[float]:
        """Relevance to the request: similarity, what the request says it wants, and
        whether the user can read and buy the item."""
        intent = request.intent
        region = context.hints.region if context.hints else None
        reads = set(context.languages) or {request.language}
        boosts = LocalRanker._intent_boosts(intent, candidates)
        out = []
        for c, boost in zip(candidates, boosts, strict=True):
            score = c.score + boost
            if c.domain in LANGUAGE_SENSITIVE_DOMAINS:
                readable = item_languages(c)
                if not readable & reads:
                    if context.languages:
                        score -= UNREADABLE_PROFILE_PENALTY
                    else:  # only the request's language to go by
                        share = NO_PROFILE_SHARE * (ENGLISH_SHARE if "en" in readable else 1.0)
                        score -= UNREADABLE_PENALTY * share
            if region and c.regions and region not in c.regions:
                score -= REGION_PENALTY
            out.append(score)
        return out

    @staticmethod
    def _intent_boosts(intent: Intent, candidates: Sequence[Candidate]) -> list[float]:
        """Soft boosts for what the request names: a domain among several, genres,
        audience, cheap."""
        prices = {
            c.id: p
            for c in candidates
            if (p := to_eur(c.attributes.get("price"), c.attributes.get("currency"))) is not None
        }
        cheapness: dict[str, float] = {}
        dearness: dict[str, float] = {}
        if (intent.cheap or intent.premium) and len(prices) > 1:
            ordered = sorted(prices, key=lambda i: prices[i])
            ranks = {i: r / (len(ordered) - 1) for r, i in enumerate(ordered)}
            if intent.cheap:
                cheapness = {i: 1 - r for i, r in ranks.items()}
            else:
                dearness = ranks
        wanted = {g: set(genre_tags(g)) for g in intent.genres}
        avoided = {t for g in intent.genres for t in genre_avoids(g)}
        out = []
        for c in candidates:
            tags = {t.lower() for t in c.tags}
            boost = 0.0
            if intent.domain and c.domain != intent.domain:
                boost -= OFF_DOMAIN_PENALTY
            if c.domain in intent.domains and not intent.domain:
                boost += W_DOMAIN * (1.0 if intent.domains[0] == c.domain else 0.5)
            # Each genre asked for that the item has ("Indian classical sitar": both).
            boost += W_GENRE * min(GENRES_COUNTED, sum(1 for t in wanted.values() if tags & t))
            if tags & avoided:
                boost -= W_AVOID
            # Whatever the item's genre: counted only with a genre asked for, the audience
            # boost left the family films out of "an animated film for my 5-year-old".
            if any(tags & AUDIENCE_TAGS[who] for who in intent.audience):
                boost += W_AUDIENCE
            boost += W_CHEAP * cheapness.get(c.id, 0.0)
            boost += W_PREMIUM * dearness.get(c.id, 0.0)
            if intent.occasion == "gift" and not intent.domains:
                boost += W_GIFT_PRODUCT * (c.domain == "products")
            if intent.days is not None and _lasts(c, intent.days):
                boost += W_STAY
            out.append(boost)
        return out

    @staticmethod
    def _mmr(base: Sequence[float], vectors: np.ndarray, k: int) -> list[int]:
        chosen: list[int] = []
        left = list(range(len(base)))
        while left and len(chosen) < k:
            if chosen:
                redundancy = (vectors[left] @ vectors[chosen].T).max(axis=1)
            else:
                redundancy = np.zeros(len(left))
            values = [
                MMR_LAMBDA * base[j] - (1 - MMR_LAMBDA) * float(redundancy[n])
                for n, j in enumerate(left)
            ]
            pick = left[int(np.argmax(values))]
            chosen.append(pick)
            left.remove(pick)
        return chosen

    @staticmethod
    def reason(
        candidate: Candidate,
        interest: Interest | None,
        request: RankRequest,
        topics: Topics | None = None,
    ) -> str:
        """A fact that ties the item to this request or profile, then what it is
        (:func:`facts`), all in the request's language.

        The tie: a related history item; else "more like" its anchor; else the clause of
        the item's description most like the request (when the item is shown in the
        user's language) and the request's aspects it has (genre, audience, gift).
        """
        language = request.language
        what = facts(candidate, language, request)
        if interest is not None:
            return f"{localized_reason(language, query='', interest=interest)} · {what}"
        if request.anchor:
            # Every item is "similar to" the anchor: say also what this one shares with it,
            # so five similar items do not read alike. ``request.query`` is the anchor's own
            # text for "more like N": the clause of this item's description most like it,
            # and the genres and audience it names that this item has too.
            link = [localized_reason(language, query="", anchor=request.anchor)]
            if candidate.language == language:
                clause = best_clause(candidate.description, request.query)
                if clause:
                    link.append(clause)
            shared = read_intent(request.query, language=language)
            return " · ".join([*link, *aspects(candidate, shared, language), what])
        lead: list[str] = []
        if candidate.language == language:
            # The item's own words, in the user's language: unquoted, they are the reason.
            clause = best_clause(candidate.description, request.query)
            if clause:
                lead.append(clause[:1].upper() + clause[1:])
        lead += aspects(candidate, request.intent, language, request.query)
        nameable = _nameable(candidate)
        if topics is not None:
            # The request's own words for the item's tags ("Bergen": mountains), where the
            # lead does not say them already.
            said = " ".join(lead).casefold()
            words = [w for w in topics.said(nameable, request.query) if w.casefold() not in said]
            lead += words[:TOPICS_COUNTED]
        tagged = []
        template = in_language("reasons", language).get("tagged")
        if template and candidate.language != language:
            said = " ".join(lead).casefold()
            refused = _refused(request, topics)
            # The tags the request names in its own words first ("Bergen": mountains),
            # unless the lead says them already; each in the user's language.
            named = set(topics.wanted) if topics is not None else set()
            spoken = topics.words if topics is not None else {}
            # A genre asked for is said already by aspects() ("Wanderreise": hiking).
            asked = _asked_tags(request.intent)
            own = [
                t
                for t in sorted(nameable, key=lambda t: t.lower() not in named)
                if t.lower() not in refused
                and t.lower() not in asked
                and t.casefold() not in said
                and not (t.lower() in named and spoken.get(t.lower(), "\0").casefold() in said)
            ]
            shown = [w for t in own if (w := _tag_word(t, language)) and w.casefold() not in said]
            if shown:
                joiner = "、" if language in ("zh", "ja") else ", "
                tags = joiner.join(list(dict.fromkeys(shown))[:TAGS_SHOWN])
                tagged.append(str(template).format(tags=tags))
        return " · ".join([*lead, what, *tagged])
