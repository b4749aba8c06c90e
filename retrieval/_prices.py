"""Rough price comparison across currencies (for "cheaper than these"), not accounting."""

from __future__ import annotations

__all__ = ["RATES_TO_EUR", "convert", "to_eur"]

#: Approximate euros per unit of each currency; enough to compare prices across markets.
RATES_TO_EUR: dict[str, float] = {
    "EUR": 1.0, "USD": 0.93, "GBP": 1.17, "CHF": 1.05, "CAD": 0.68, "AUD": 0.61,
    "BRL": 0.17, "MXN": 0.05, "CNY": 0.13, "JPY": 0.0062, "KRW": 0.00069, "RUB": 0.01,
    "AED": 0.25, "SAR": 0.25, "INR": 0.011, "TRY": 0.028, "PLN": 0.23, "SEK": 0.087,
}  # fmt: skip


def to_eur(price: object, currency: object) -> float | None:
    """``price`` in euros, or ``None`` when the price or currency is unknown."""
    if not isinstance(price, int | float) or isinstance(price, bool):
        return None
    rate = RATES_TO_EUR.get(str(currency).upper())
    return float(price) * rate if rate is not None else None


def convert(price: object, currency: object, target: str) -> float | None:
    """``price`` in ``target`` currency (approximate), or ``None`` when unknown."""
    euros = to_eur(price, currency)
    rate = RATES_TO_EUR.get(target.upper())
    return euros / rate if euros is not None and rate else None
