"""What an invoice line's amount is made of: quantity × unit price − allowance, as EN 16931 states it.

A charge is posted as one amount (monthend.billing). When a month is closed, each charge becomes an invoice
line with the quantity and price behind it, derived from the booking's terms as accepted and the month's
usage, and checked against the posted amount to the cent:

- a metered service: the month's usage × the unit price (``round_half_up``, as billed);
- a recurring service: the booked quantity of a whole month at the monthly price, less a line allowance
  (BG-27) for the days not booked, "anteiliger Monat: 11 von 30 Tagen"; the line period (BG-26) names the
  billed days. The billed days are those whose pro-rata amount is the posted one (a booking cancelled after
  its month was billed keeps the days it was billed for);
- anything else (a price that changed after billing, a correction charged under another key): one lump
  sum (``C62``) at the posted amount, so the line never claims a quantity it cannot prove.

Units (UN/ECE Recommendation 20, the code list EN 16931 prescribes for BT-130): docs/INVOICES.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from marketplace.catalogue.models import Unit
from marketplace.core.timeutil import month_bounds, parse_period

#: UN/ECE Recommendation 20 code of each unit a service is sold in (docs/INVOICES.md says why).
UNIT_CODES: dict[Unit, str] = {
    Unit.MONTH: "MON",  # month
    Unit.HOUR: "HUR",  # hour
    Unit.PIECE: "H87",  # piece
    Unit.GB_MONTH: "E34",  # gigabyte, held for the month the line period names
    Unit.USER_MONTH: "IE",  # person, per month the line period names
}
#: A lump sum: "one" (Rec. 20 C62).
LUMP_SUM = "C62"

_CHARGE_KEY = re.compile(r"^charge:[0-9]+:([0-9]{4}-[0-9]{2})$")


@dataclass(frozen=True)
class LineBasis:
    quantity: Decimal
    unit_code: str
    unit_price_cents: int
    allowance_cents: int = 0
    allowance_reason: str = ""
    period_start: date | None = None
    period_end: date | None = None

    @property
    def net_cents(self) -> int:
        """``round_half_up(quantity × unit price) − allowance``: BT-131 as a reader recomputes it."""
        gross = (self.quantity * self.unit_price_cents).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return int(gross) - self.allowance_cents


@dataclass(frozen=True)
class Terms:
    """A booking's terms as accepted, and the month's usage (for metered services)."""

    unit: Unit | None
    unit_price_cents: int | None
    quantity: int
    starts_on: date
    ends_on: date | None
    usage: Decimal | None = None


def charged_month(idempotency_key: str, period: str) -> str:
    """The month a charge is for: its key's (``charge:<booking>:<YYYY-MM>``), else the month it was posted in."""
    match = _CHARGE_KEY.match(idempotency_key)
    return match.group(1) if match else period


def lump_sum(net_cents: int, period: tuple[date, date] | None = None) -> LineBasis:
    start, end = period if period is not None else (None, None)
    return LineBasis(Decimal(1), LUMP_SUM, net_cents, period_start=start, period_end=end)


def basis_of(terms: Terms, month: str, net_cents: int) -> LineBasis:
    """The quantity, price, allowance and period behind a charge of `net_cents` for `month`."""
    first, last = month_bounds(parse_period(month))
    start = max(terms.starts_on, first)
    end = min(terms.ends_on, last) if terms.ends_on is not None else last
    span = (start, end) if start <= end else (first, last)
    if terms.unit is None or terms.unit_price_cents is None:
        return lump_sum(net_cents, span)
    code = UNIT_CODES[terms.unit]
    if not terms.unit.recurring:
        basis = LineBasis(Decimal(terms.usage or 0), code, terms.unit_price_cents, 0, "", *span)
        return basis if terms.usage is not None and basis.net_cents == net_cents else lump_sum(net_cents, span)
    days_in_month = last.day
    booked = max(0, (end - start).days + 1)
    days = _billed_days(terms.unit_price_cents * terms.quantity, booked, days_in_month, net_cents)
    if days is None:
        return lump_sum(net_cents, span)
    full = terms.unit_price_cents * terms.quantity
    period_start = start if start <= last else first
    period_end = min(period_start + timedelta(days=days - 1), last)
    allowance = full - net_cents
    reason = f"anteiliger Monat: {days} von {days_in_month} Tagen" if allowance else ""
    return LineBasis(Decimal(terms.quantity), code, terms.unit_price_cents, allowance, reason, period_start, period_end)


def _billed_days(full_cents: int, booked: int, days_in_month: int, net_cents: int) -> int | None:
    """The number of days whose pro-rata share of `full_cents` is `net_cents` (the booked days when they fit,
    else the nearest that does), or None when no number of days gives that amount."""

    def share(days: int) -> int:
        exact = Decimal(full_cents) * days / days_in_month
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    candidates = [days for days in range(1, days_in_month + 1) if share(days) == net_cents]
    if not candidates:
        return None
    return min(candidates, key=lambda days: (abs(days - booked), -days))
