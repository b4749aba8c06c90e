"""The data types retrieval hands to the rest of polyrank."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Candidate", "Filters", "Retriever", "Variant"]

AttributeValue = str | int | float | bool


class Filters(BaseModel):
    """What a search or a recommendation may return: the one filter vocabulary of polyrank
    (``Agent.search``, ``Agent.recommend``, the chat's follow-ups, an eval case's
    ``filters``).

    Usage: ``Filters(domains="books", region="DE", exclude_ids=["bk-001-en"])``; a single
    string stands for a one-element list.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    domains: tuple[str, ...] = ()
    #: Domains to leave out ("no films, please").
    exclude_domains: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    region: str | None = None
    exclude_ids: tuple[str, ...] = ()
    #: Groups to leave out whole (every language version), when the caller knows them:
    #: saves the store a lookup of the excluded ids' groups.
    exclude_groups: tuple[str, ...] = ()
    exclude_languages: tuple[str, ...] = ()
    #: Only items with a known price at most this, in euros (approximate conversion).
    max_price_eur: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    #: Only items with a known price at least this, in euros.
    min_price_eur: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    #: Let items without a price through the price bounds (a request's "under 15 euros"
    #: cannot be broken by a film that has no price); ``--max-price`` keeps only priced ones.
    allow_unpriced: bool = False
    #: Leave out items carrying any of these tags ("horror": a request said no horror).
    exclude_tags: tuple[str, ...] = ()
    #: Only items carrying at least one of these tags (the genres a request asks for).
    any_tags: tuple[str, ...] = ()
    #: Languages to show a group in, best first (the user's languages).
    prefer_languages: tuple[str, ...] = ()

    @field_validator(
        "domains", "languages", "exclude_ids", "exclude_groups", "exclude_languages",
        "prefer_languages", "exclude_tags", "exclude_domains", "any_tags",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if value is None:
            return ()
        return (value,) if isinstance(value, str) else value

    @field_validator("languages", "exclude_languages")
    @classmethod
    def _known_languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """ISO 639-1 codes only: ``languages=("klingon",)`` silently matched nothing."""
        from polyrank.retrieval._catalog import language_code
        from polyrank.retrieval.errors import ConfigError

        try:
            return tuple(language_code(code) for code in value)
        except ConfigError as exc:
            raise ValueError(str(exc.args[0])) from None

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        """A two-letter region code: ``region="Germany"`` silently matched nothing."""
        from polyrank.retrieval._catalog import region_code
        from polyrank.retrieval.errors import ConfigError

        if value is None:
            return None
        try:
            return region_code(value)
        except ConfigError as exc:
            raise ValueError(str(exc.args[0])) from None


class Variant(BaseModel):
    """One language version of an item."""

    model_config = ConfigDict(frozen=True)

    id: str
    language: str
    title: str
    description: str


class Candidate(BaseModel):
    """One item (one group) found for a query, shown in the best language for the user."""

    model_config = ConfigDict(frozen=True)

    id: str
    group: str
    score: float
    title: str
    description: str
    language: str
    domain: str
    tags: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    variants: tuple[Variant, ...] = ()


@runtime_checkable
class Retriever(Protocol):
    """The retrieval seam: anything that finds candidates for a query."""

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[Candidate]: ...
