"""Money is integer cents in the database and `Decimal` in arithmetic; never a float.

Rounding is half up to the cent, once per amount.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency

CENT = Decimal("0.01")
_AMOUNT_RE = re.compile(r"^-?\d{1,10}(?:[.,]\d{1,2})?$")
#: Thousands dots only together with a decimal comma: a lone ``12.345`` is ambiguous and refused.
_GERMAN_AMOUNT_RE = re.compile(r"^-?\d{1,3}(?:\.\d{3})+,\d{1,2}$")


class AmountError(ValueError):
    """A text that is not an amount of euros with at most two decimal places."""


def round_half_up(value: Decimal) -> Decimal:
    """Round a Decimal to cents, half up (0.005 -> 0.01)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_cents(value: Decimal) -> int:
    """Euros as Decimal to integer cents, rounding half up."""
    return int(round_half_up(value) * 100)


def from_cents(cents: int) -> Decimal:
    """Integer cents to euros as a two-place Decimal."""
    return (Decimal(cents) / 100).quantize(CENT)


def cents_to_str(cents: int) -> str:
    """The API's money format: a decimal string with two places, e.g. ``"1234.50"``."""
    return f"{from_cents(cents):.2f}"


def parse_amount(text: str) -> Decimal:
    """Parse a user's amount: ``1234.5``, ``1234,50`` or ``1.234,50``; at most two decimal places.

    Raises AmountError for anything else (letters, three decimals, exponent notation, empty text).
    """
    text = (text or "").strip().replace("\u00a0", "").replace(" ", "").removesuffix("€")
    if _GERMAN_AMOUNT_RE.match(text):
        text = text.replace(".", "").replace(",", ".")
    elif _AMOUNT_RE.match(text):
        text = text.replace(",", ".")
    else:
        raise AmountError(text)
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the patterns above admit only valid numbers
        raise AmountError(text) from exc


def format_eur(cents: int, locale: str = "de_DE") -> str:
    """Cents as the reader expects them: ``1.234,57 €`` in German."""
    return format_currency(from_cents(cents), "EUR", locale=locale)
