"""Prices as a user reads them: one format everywhere (``recommend``, ``chat``, reasons).

Usage::

    price_text({"price": 93.59, "currency": "CNY"}, "fr", currency="EUR", locale="fr-FR")
    # '≈ 12,17 €'   (converted, so marked as approximate)
    price_text({"price": 28.99, "currency": "EUR"}, "de", locale="de-CH")
    # 'EUR 28.99'

A price in another currency than the user's (their locale's, e.g. CHF for de-CH) is
converted with the dated table of :mod:`polyrank.retrieval.support` and marked "≈"; Babel's CLDR
data writes it the way the user's locale writes money.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from polyrank.retrieval.support import RATES_TO_EUR, convert

__all__ = ["amount", "format_money", "price_text"]


@functools.cache
def _babel_locale(tag: str) -> Any:
    from babel import Locale, UnknownLocaleError

    for candidate in (tag.replace("-", "_"), tag.split("-")[0].split("_")[0], "en"):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")  # pragma: no cover - "en" always parses


def amount(attributes: Mapping[str, Any]) -> tuple[float, str] | None:
    """``(price, CURRENCY)`` of an item, or ``None`` when it has no usable price."""
    price, currency = attributes.get("price"), attributes.get("currency")
    if not isinstance(price, int | float) or isinstance(price, bool) or not currency:
        return None
    return float(price), str(currency).upper()


def format_money(value: float, currency: str, locale: str, *, whole: bool = False) -> str:
    """``value`` in ``currency`` the way ``locale`` writes money (Babel). ``whole``: without
    cents where ``value`` has none ("1 500 ₽", not "1 500,00 ₽"), for amounts a person said
    and for approximations, whose cents are not worth reading."""
    from babel.numbers import UnknownCurrencyError, format_currency, parse_pattern

    where = _babel_locale(locale)
    try:
        if whole and float(value).is_integer():
            pattern = parse_pattern(where.currency_formats["standard"])
            pattern.frac_prec = (0, 0)
            return str(pattern.apply(value, where, currency=currency, currency_digits=False))
        return str(format_currency(value, currency, locale=where))
    except (UnknownCurrencyError, ValueError):
        digits = 0 if whole and float(value).is_integer() else 2
        return f"{value:,.{digits}f} {currency}"


def price_text(
    attributes: Mapping[str, Any],
    language: str,
    *,
    currency: str | None = None,
    locale: str | None = None,
) -> str | None:
    """The item's price for the user, or ``None`` when it has none.

    ``currency``: the user's currency; a price in another one that the rate table knows
    is converted and marked "≈". ``locale``: how to write it (default: ``language``).
    """
    found = amount(attributes)
    if found is None:
        return None
    price, own = found
    where = locale or language
    target = (currency or "").upper()
    if target and target != own and target in RATES_TO_EUR and own in RATES_TO_EUR:
        converted = convert(price, own, target)
        if converted is not None:
            whole = converted >= 100  # an approximation's cents are not worth reading
            if whole:
                converted = round(converted)
            return "≈ " + format_money(converted, target, where, whole=whole)
    return format_money(price, own, where)
