"""Money is integer cents in the database and `Decimal` in arithmetic; never a float.

Rounding is half up to the cent, once per amount.

Numbers come in two ways, each with its one parser here:

- **Forms** take what a German user writes: ``1.234,50``, ``1234,50``, ``1,5``, ``1 234,50`` and the
  technical ``1234.50``. A comma is the decimal sign; dots (or spaces) between groups of three digits are
  thousands separators, so ``1.234`` is one thousand two hundred thirty-four. A single dot followed by
  anything but such groups (``1234.50``, ``1.5``, ``0.125``) is a decimal point. (`parse_form_decimal`,
  `parse_amount`, `parse_form_quantity`.)
- **The API** takes only ASCII decimal strings with a point: ``"1234.50"`` (`parse_api_decimal`,
  `parse_api_amount`).

Both refuse what Python's `Decimal` and `int` would quietly accept: digits of other scripts (``"١٢"``),
underscores (``"1_000"``), exponents (``"1e9"``), ``NaN``/``Infinity``, a plus sign and a negative zero
(``"-0"``).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from babel.numbers import format_currency

CENT = Decimal("0.01")
#: The largest value of a BIGINT column (every ``*_cents`` column): PostgreSQL refuses anything above.
BIGINT_MAX = 2**63 - 1
#: The largest value of an INTEGER column (ids, counts, populations).
INTEGER_MAX = 2**31 - 1
#: The largest single charge the ledger takes for one booking and month: 1 000 000 000 000,00 € (a year of
#: the largest recurring booking the catalogue allows). Far inside BIGINT, so that balances and a run's total
#: summing many of them still fit.
MAX_CHARGE_CENTS = 10**14
#: Longer texts are no number anyone types (and keep `Decimal` from working on megabytes of digits).
_MAX_NUMBER_TEXT = 40

#: Separators a German user puts between thousands: a dot, a space, a no-break or narrow no-break space.
_GROUPED_RE = re.compile(r"^[1-9][0-9]{0,2}(?P<sep>[. \u00a0\u202f])[0-9]{3}(?:(?P=sep)[0-9]{3})*$")
_SPACE_GROUPED_RE = re.compile(r"^[1-9][0-9]{0,2}(?P<sep>[ \u00a0\u202f])[0-9]{3}(?:(?P=sep)[0-9]{3})*$")
_PLAIN_RE = re.compile(r"^[0-9]+$")
_FRACTION_RE = re.compile(r"^[0-9]+$")
_API_DECIMAL_RE = re.compile(r"^(-?)([0-9]+)(?:\.([0-9]+))?\Z")  # \Z: no final line break either


class AmountError(ValueError):
    """A text that is not a number in the expected form (an amount of euros, a quantity …)."""


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


def _whole_part(text: str, *, dot_groups: bool) -> str:
    """The digits of an integer part written plainly or in groups of three; AmountError otherwise."""
    if _PLAIN_RE.match(text):
        return text
    grouped = _GROUPED_RE if dot_groups else _SPACE_GROUPED_RE
    if grouped.match(text):
        return re.sub(r"[^0-9]", "", text)
    raise AmountError(text)


def parse_form_decimal(text: str | None, places: int, *, signed: bool = False, currency: bool = False) -> Decimal:
    """A number as a German user types it into a form, with at most `places` decimal places.

    ``"1.234,50"``, ``"1234,50"``, ``"1,5"`` and ``"1234.50"`` are what they look like; ``"1.234"`` is 1234
    (dots between groups of three digits separate thousands), ``"0.125"`` is 0.125. `signed` allows a leading
    minus (never on zero); `currency` a trailing ``€``. Raises AmountError for anything else: other scripts'
    digits, underscores, exponents, signs where none is allowed, more places than `places`, empty text.
    """
    value = (text or "").strip()
    if currency:
        value = value.removesuffix("€").strip()
    if not value or len(value) > _MAX_NUMBER_TEXT:
        raise AmountError(value)
    negative = value.startswith("-")
    if negative:
        if not signed:
            raise AmountError(value)
        value = value[1:]
    if value.count(",") > 1:
        raise AmountError(value)
    if "," in value:  # the German decimal comma; dots before it can only be thousands separators
        whole_text, fraction = value.split(",")
        whole = _whole_part(whole_text, dot_groups=True)
    elif "." in value and not _GROUPED_RE.match(value):  # "1234.50", "1.5", "0.125": a decimal point
        if value.count(".") > 1:
            raise AmountError(value)
        whole_text, fraction = value.split(".")
        whole = _whole_part(whole_text, dot_groups=False)
    else:
        whole, fraction = _whole_part(value, dot_groups=True), ""
    if fraction and (not _FRACTION_RE.match(fraction) or len(fraction) > places):
        raise AmountError(value)
    if "," in value and not fraction:  # "12," is unfinished, not twelve
        raise AmountError(value)
    result = Decimal(f"{whole}.{fraction}" if fraction else whole)
    if negative:
        if result == 0:
            raise AmountError(value)
        result = -result
    return result


def parse_amount(text: str | None, *, signed: bool = True) -> Decimal:
    """Euros as typed into a form (``1.234,50``, ``1234,50``, ``1234.50``, ``89,00 €``); two places at most.

    Raises AmountError for anything else (see `parse_form_decimal`).
    """
    return parse_form_decimal(text, 2, signed=signed, currency=True)


def parse_form_quantity(text: str | None, places: int = 3) -> Decimal:
    """A non-negative quantity as typed into a form (``12,5``, ``5.120``, ``0.125``); AmountError otherwise."""
    return parse_form_decimal(text, places)


def parse_api_decimal(text: str, places: int, *, signed: bool = False) -> Decimal:
    """A number as the API takes it: an ASCII decimal string with a point, ``"1234.50"``, at most `places`
    decimal places (`signed`: a leading minus, never on zero). Raises AmountError for anything else."""
    match = _API_DECIMAL_RE.match(text) if isinstance(text, str) and len(text) <= _MAX_NUMBER_TEXT else None
    if match is None:
        raise AmountError(text)
    minus, whole, fraction = match.groups()
    if (minus and not signed) or (fraction is not None and len(fraction) > places):
        raise AmountError(text)
    value = Decimal(f"{whole}.{fraction}" if fraction else whole)
    if minus:
        if value == 0:
            raise AmountError(text)
        value = -value
    return value


def parse_api_amount(text: str, *, signed: bool = False) -> Decimal:
    """Euros as the API takes them: ``"1234.50"`` (``^-?[0-9]+(\\.[0-9]{1,2})?$``); AmountError otherwise."""
    return parse_api_decimal(text, 2, signed=signed)


def charge_cents(unit_price_cents: int, quantity: Decimal | int) -> int:
    """``round_half_up(unit_price × quantity)`` in cents, exact however large (no context rounding)."""
    try:
        with localcontext(prec=100):
            exact = Decimal(unit_price_cents) * Decimal(quantity)
            return int(exact.to_integral_value(rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError, OverflowError) as exc:  # pragma: no cover - NaN or infinity
        raise AmountError(str(quantity)) from exc


def prorated_cents(unit_price_cents: int, quantity: int | Decimal, days: int, days_in_month: int) -> int:
    """The DESIGN rule ``round_half_up(unit_price * quantity * billable_days / days_in_month, 2)`` in cents."""
    exact = Decimal(unit_price_cents) * Decimal(quantity) * Decimal(days) / Decimal(days_in_month)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def vat_cents(net_cents: int, rate: Decimal) -> int:
    """``round_half_up(net × rate / 100)`` in cents: the VAT of a net amount at a rate in percent."""
    return int((Decimal(net_cents) * Decimal(rate) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_eur(cents: int, locale: str = "de_DE") -> str:
    """Cents as the reader expects them: ``1.234,57 €`` in German."""
    return format_currency(from_cents(cents), "EUR", locale=locale)
