"""A :class:`Filters` compiled once per search: Chroma's ``where`` clause and the test the
store applies to each hit in Python (region, price, tags, and the excluded ids and groups).

Usage::

    compiled = compile_filters(Filters(domains="books", max_price_eur=20))
    compiled.where              # {"domain": {"$in": ["books"]}}, or None
    compiled.passes(item)       # every filter but the excluded ids and groups
    compiled.allows(item)       # and not excluded
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from polyrank.retrieval._catalog import Item
from polyrank.retrieval._prices import to_eur
from polyrank.retrieval._types import Filters
from polyrank.retrieval.errors import ConfigError

__all__ = ["CompiledFilters", "compile_filters", "unknown_domain"]


def _tags(item: Item) -> set[str]:
    return {t.lower() for t in item.tags}


@dataclass(frozen=True)
class CompiledFilters:
    """The filter values normalised once (lower-cased sets), not per item."""

    filters: Filters
    where: dict[str, Any] | None
    domains: frozenset[str]
    refused_domains: frozenset[str]
    languages: frozenset[str]
    excluded_languages: frozenset[str]
    region: str | None
    refused_tags: frozenset[str]
    excluded_ids: frozenset[str]
    excluded_groups: frozenset[str] = field(default_factory=frozenset)
    wanted_tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def where_key(self) -> str:
        """``where`` as a stable text (a cache key)."""
        return json.dumps(self.where, sort_keys=True)

    def excluding_groups(self, groups: set[str]) -> CompiledFilters:
        """These filters with ``groups`` left out too (the groups of the excluded ids)."""
        return dataclasses.replace(self, excluded_groups=self.excluded_groups | groups)

    def passes(self, item: Item) -> bool:
        """Whether ``item`` satisfies the filters, ids and groups aside."""
        f = self.filters
        if self.domains and item.domain not in self.domains:
            return False
        if item.domain in self.refused_domains:
            return False
        if self.languages and item.language not in self.languages:
            return False
        if item.language in self.excluded_languages:
            return False
        if self.region and item.regions and self.region not in item.regions:
            return False
        if self.wanted_tags and not self.wanted_tags & _tags(item):
            return False
        if f.max_price_eur is not None or f.min_price_eur is not None:
            price = to_eur(item.attributes.get("price"), item.attributes.get("currency"))
            if price is None:
                return f.allow_unpriced and not self.refused_tags & _tags(item)
            if f.max_price_eur is not None and price > f.max_price_eur:
                return False
            if f.min_price_eur is not None and price < f.min_price_eur:
                return False
        return not (self.refused_tags and self.refused_tags & _tags(item))

    def allows(self, item: Item) -> bool:
        """:meth:`passes`, and neither the item nor its group is excluded."""
        return (
            item.id not in self.excluded_ids
            and item.group_key not in self.excluded_groups
            and self.passes(item)
        )


def _where(domains: set[str], refused: set[str], languages: set[str], excluded: set[str]) -> Any:
    """Chroma's metadata filter for what it can check itself (domain and language)."""
    clauses: list[dict[str, Any]] = []
    if domains:
        clauses.append({"domain": {"$in": sorted(domains)}})
    if refused:
        clauses.append({"domain": {"$nin": sorted(refused)}})
    if languages:
        clauses.append({"language": {"$in": sorted(languages)}})
    if excluded:
        clauses.append({"language": {"$nin": sorted(excluded)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def compile_filters(filters: Filters) -> CompiledFilters:
    """``filters`` translated once, for Chroma and for the checks made in Python."""
    domains = {d.lower() for d in filters.domains}
    refused = {d.lower() for d in filters.exclude_domains}
    languages = {x.lower() for x in filters.languages}
    excluded = {x.lower() for x in filters.exclude_languages}
    return CompiledFilters(
        filters=filters,
        where=_where(domains, refused, languages, excluded),
        domains=frozenset(domains),
        refused_domains=frozenset(refused),
        languages=frozenset(languages),
        excluded_languages=frozenset(excluded),
        region=filters.region.upper() if filters.region else None,
        refused_tags=frozenset(t.lower() for t in filters.exclude_tags),
        excluded_ids=frozenset(filters.exclude_ids),
        excluded_groups=frozenset(filters.exclude_groups),
        wanted_tags=frozenset(t.lower() for t in filters.any_tags),
    )


def unknown_domain(name: str, known: set[str]) -> ConfigError:
    """The error for a domain no stored item has, naming the stored ones."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown domain {name!r}{hint} The store has: {', '.join(sorted(known))}")
