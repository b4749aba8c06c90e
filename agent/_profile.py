"""User profiles (format: README) and the context the prompt and the local ranker get.

Usage::

    profile = load_profile("data/users/lena.yaml")
    context = build_context(profile, store)        # languages, locale hints, history summary
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from polyrank.agent._budget import truncate_tokens
from polyrank.agent._locale import table as locale_table
from polyrank.agent.errors import ProfileError
from polyrank.retrieval import Item, StoreReader, preferred_variant
from polyrank.retrieval.support import TooLarge, YAMLError, load_yaml, read_bounded, yaml_problem

__all__ = [
    "LANGUAGE_SENSITIVE_DOMAINS",
    "Event",
    "LocaleHints",
    "UserContext",
    "UserProfile",
    "build_context",
    "load_profile",
    "locale_hints",
]

#: Domains where the user must be able to read the item's language.
LANGUAGE_SENSITIVE_DOMAINS = frozenset({"books", "films", "news", "podcasts", "courses"})


#: A scene or a domain: a short word (any script), as the prompt shows it.
WORD_PATTERN = r"^[^\W_][\w-]{0,31}$"
#: A locale: a BCP 47 tag's language and region or script parts (de-CH, zh-Hant-TW).
LOCALE_PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$"
#: How many scenes and domains of the history the prompt names (the most frequent, the
#: strongest): 20,000 events with distinct scenes made a 398k-token prompt.
SUMMARY_ENTRIES = 8


class Event(BaseModel):
    """One history event: an item (``item_id``) or free ``text`` the user showed interest in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str | None = None
    text: str | None = None
    event: Literal["purchase", "view", "like", "rating"]
    #: Short words (letters, digits, "-", "_"): they reach the prompt as they are, and a
    #: newline plus "</candidates>" in a scene got a forged row through.
    scene: str = Field(default="shop", pattern=WORD_PATTERN)
    domain: str | None = Field(default=None, pattern=WORD_PATTERN)
    rating: float | None = Field(default=None, ge=0, le=5)
    ts: date | None = None

    def model_post_init(self, context: Any) -> None:
        if not self.item_id and not self.text:
            raise ValueError("an event needs item_id or text")


class UserProfile(BaseModel):
    """A user: languages read (first = preferred), locale, free-text preferences, history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    languages: tuple[str, ...] = ("en",)
    locale: str = Field(default="en-US", pattern=LOCALE_PATTERN)
    preferences: str = ""
    history: tuple[Event, ...] = ()

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one language")
        for code in value:
            if len(code) != 2 or not code.isalpha():
                raise ValueError(f"{code!r} is not an ISO 639-1 code")
        return tuple(code.lower() for code in value)

    @property
    def region(self) -> str | None:
        _, _, region = self.locale.replace("_", "-").partition("-")
        return region.upper() or None


def load_profile(path: str | Path) -> UserProfile:
    """Read a YAML or JSON profile; a name that is no file but a sample user's (``ana``,
    ``kenji``…, ``agent/sample/users``) reads that sample profile.

    Raises:
        ProfileError: naming the file and the bad field.
    """
    from polyrank.agent._sample import profile_path

    path = Path(profile_path(str(path)))
    try:
        raw = load_yaml(read_bounded(path).decode("utf-8"))
    except FileNotFoundError as exc:
        raise ProfileError(f"{path}: no such profile file") from exc
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: cannot read profile: not UTF-8 text") from exc
    except (OSError, TooLarge) as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from exc
    except YAMLError as exc:
        raise ProfileError(f"{path}: cannot read profile: {yaml_problem(exc)}") from exc
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: a profile is a mapping with id, languages, locale, history")
    try:
        return UserProfile.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        bad = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors[:_ERRORS_SHOWN])
        if len(errors) > _ERRORS_SHOWN:
            bad += f"; and {len(errors) - _ERRORS_SHOWN} more"
        raise ProfileError(f"{path}: {bad}") from exc


#: Problems named in a profile error (a file that is no profile has one per line).
_ERRORS_SHOWN = 5
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,39}$")


def _where(loc: tuple[int | str, ...]) -> str:
    """A field's path, with keys that are no field name left out: the keys of a file that
    is no profile are its lines (``/etc/shadow``'s were echoed)."""
    parts = [str(p) if isinstance(p, int) or _FIELD_NAME.match(p) else "(a key)" for p in loc]
    return ".".join(parts) or "(profile)"


class LocaleHints(BaseModel):
    """How to address the user and what to quote prices and sizes in."""

    model_config = ConfigDict(frozen=True)

    locale: str
    formality: str
    currency: str
    units: str
    region: str | None


def locale_hints(locale: str, language: str) -> LocaleHints:
    """Hints for ``locale`` (``de-CH``), falling back to the locale's language's, then to
    ``language``'s (the language spoken), then English. The currency is the locale's: a
    ``ru-RU`` user asking in English still reads roubles, and a region the table does not
    list has its own (CLDR's: ``fr-CH`` francs, ``en-IN`` rupees) where the rate table
    knows it. The formality is the spoken language's."""
    table: dict[str, dict[str, str]] = locale_table("hints")
    normalised = locale.replace("_", "-")
    own, _, region = normalised.partition("-")
    entry = table.get(normalised) or table.get(own) or table.get(language) or table["en"]
    if normalised not in table and region:
        entry = {**entry, "currency": _region_currency(region) or entry["currency"]}
    if language != own:  # speaking another language than the locale's
        entry = {**entry, **{k: v for k, v in table.get(language, {}).items() if k == "formality"}}
    return LocaleHints(locale=normalised, region=region.upper() or None, **entry)


@functools.cache
def _region_currency(region: str) -> str | None:
    """The currency ``region`` (``CH``) uses today, by CLDR, where the rate table has it."""
    from babel.numbers import get_territory_currencies

    from polyrank.retrieval.support import RATES_TO_EUR

    found = get_territory_currencies(region.upper(), tender=True)  # [] for unknown codes
    return next((c for c in found if c in RATES_TO_EUR), None)


class Interest(BaseModel):
    """One past item or text that says something about the user."""

    model_config = ConfigDict(frozen=True)

    title: str
    domain: str | None
    event: str
    scene: str
    rating: float | None
    weight: float
    item_id: str | None = None
    text: str = ""


class UserContext(BaseModel):
    """Everything the templates and the local ranker know about the user."""

    model_config = ConfigDict(frozen=True)

    user_id: str | None = None
    languages: tuple[str, ...] = ()
    hints: LocaleHints | None = None
    preferences: str = ""
    interests: tuple[Interest, ...] = ()
    top_by_domain: dict[str, list[str]] = Field(default_factory=dict)
    scenes: dict[str, int] = Field(default_factory=dict)
    recent: tuple[str, ...] = ()
    #: The groups of the history items found in the store (left out of results whole).
    exclude_groups: tuple[str, ...] = ()


#: Caps on what a profile puts into a prompt, in tokens: a title (of a history item or a
#: candidate) and the free-text preferences. A 60,000-character title made a 60,627-token
#: prompt for an 8,192-token window.
TITLE_TOKENS = 48
PREFERENCE_TOKENS = 160


def _weight(event: Event) -> float:
    """How much an event says the user likes the thing: ratings decide when present."""
    if event.rating is not None:
        return (event.rating - 2.5) / 2.5
    return {"purchase": 0.8, "like": 0.7, "rating": 0.5, "view": 0.4}[event.event]


def build_context(
    profile: UserProfile | None, store: StoreReader | None, language: str | None = None
) -> UserContext:
    """Summarise the profile's history across scenes and domains.

    Items the user already has (purchases, views, ratings) are excluded from results.
    """
    if profile is None:
        return UserContext()
    known: dict[str, Item] = {}
    ids = [e.item_id for e in profile.history if e.item_id]
    if store is not None and ids:
        known = {item.id: item for item in store.get(ids)}
        # Name past items in the request's language when they exist in it.
        wanted = language or profile.languages[0]
        versions = store.variants(sorted({item.group_key for item in known.values()}))
        for item_id, past in known.items():
            shown = preferred_variant(versions.get(past.group_key, []), [wanted], past)
            known[item_id] = shown.model_copy(update={"id": past.id})
    interests: list[Interest] = []
    by_domain: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for event in profile.history:
        item = known.get(event.item_id or "")
        title = truncate_tokens(
            item.title if item else (event.text or event.item_id or ""), TITLE_TOKENS
        )
        domain = item.domain if item else event.domain
        interest = Interest(
            title=title,
            domain=domain,
            event=event.event,
            scene=event.scene,
            rating=event.rating,
            weight=_weight(event),
            item_id=item.id if item else None,
            text=item.passage() if item else (event.text or ""),
        )
        interests.append(interest)
        if domain and interest.weight > 0:
            by_domain[domain].append((interest.weight, title))
    dated = sorted((e for e in profile.history if e.ts), key=lambda e: e.ts or date.min)
    recent = [
        truncate_tokens(
            known[e.item_id].title if e.item_id in known else (e.text or e.item_id or ""),
            TITLE_TOKENS,
        )
        for e in dated[-3:]
    ]
    return UserContext(
        user_id=profile.id,
        languages=profile.languages,
        hints=locale_hints(profile.locale, language or profile.languages[0]),
        # Cut to PREFERENCE_TOKENS where a prompt is rendered (the LLM ranker): the local
        # ranker never reads them, and counting tokens costs loading the tokenizer.
        preferences=profile.preferences[: PREFERENCE_TOKENS * 32],
        interests=tuple(interests),
        top_by_domain={
            d: [t for _, t in sorted(v, key=lambda wt: -wt[0])[:3]]
            for d, v in sorted(by_domain.items(), key=lambda dv: -sum(w for w, _ in dv[1]))[
                :SUMMARY_ENTRIES
            ]
        },
        scenes=dict(Counter(e.scene for e in profile.history).most_common(SUMMARY_ENTRIES)),
        recent=tuple(reversed(recent)),
        exclude_groups=tuple(dict.fromkeys(item.group_key for item in known.values())),
    )
