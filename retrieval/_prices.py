"""Rough price comparison across currencies (for "cheaper than these"), not accounting."""

from __future__ import annotations

__all__ = ["RATES_AS_OF", "RATES_TO_EUR", "convert", "to_eur"]

#: When the rates below were taken (rounded reference rates of that month). They compare
#: prices across markets and turn a ceiling in yuan or francs into euros; they are not for
#: accounting. ``polyrank recommend --help`` prints this date.
RATES_AS_OF = "2024-06"

#: Approximate euros per unit of each currency.
RATES_TO_EUR: dict[str, float] = {
    "EUR": 1.0, "USD": 0.93, "GBP": 1.17, "CHF": 1.05, "CAD": 0.68, "AUD": 0.61,
    "NZD": 0.57, "BRL": 0.17, "MXN": 0.05, "ARS": 0.001, "CLP": 0.001, "COP": 0.00023,
    "CNY": 0.13, "HKD": 0.119, "TWD": 0.0287, "JPY": 0.0062, "KRW": 0.00069, "SGD": 0.69,
    "THB": 0.025, "IDR": 0.000057, "VND": 0.0000366, "INR": 0.011, "RUB": 0.01,
    "UAH": 0.023, "AED": 0.25, "SAR": 0.25, "QAR": 0.255, "EGP": 0.019, "MAD": 0.093,
    "TRY": 0.028, "PLN": 0.23, "CZK": 0.040, "HUF": 0.0025, "SEK": 0.087, "NOK": 0.087,
    "DKK": 0.134, "ZAR": 0.050, "ILS": 0.25,
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
