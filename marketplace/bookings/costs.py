"""What a booking costs, before anything is charged: the monthly estimate a buyer sees before requesting and
the provider before accepting, and the pro rata months a cancellation still leaves to be charged.

The same formulas as the billing run (core.money): a recurring service costs
``round_half_up(unit_price × quantity × billable_days / days_in_month)`` per month, a metered one
``round_half_up(unit_price × usage)``; VAT at the booking's rate, rounded half up. Nothing here is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from marketplace.bookings.models import Booking, UsageRecord
from marketplace.catalogue.models import Unit, VatCategory
from marketplace.core.money import charge_cents, prorated_cents, vat_cents
from marketplace.core.timeutil import month_bounds, period_of


@dataclass(frozen=True)
class Terms:
    """The price a booking is (or would be) charged at: its snapshot once accepted, the service's before."""

    unit_price_cents: int
    unit: Unit
    vat_category: VatCategory
    vat_rate: Decimal
    snapshot: bool  # True once accepted: the price is fixed


@dataclass(frozen=True)
class MonthlyCost:
    net_cents: int
    vat_cents: int

    @property
    def gross_cents(self) -> int:
        return self.net_cents + self.vat_cents


@dataclass(frozen=True)
class MonthShare:
    """One month of a booking still to be charged: its billable days and the pro rata net amount."""

    period: str
    days: int
    days_in_month: int
    net_cents: int


def terms_of(booking: Booking) -> Terms:
    if booking.unit_price_cents is not None and booking.unit is not None:
        return Terms(
            booking.unit_price_cents,
            booking.unit,
            booking.vat_category or booking.service.vat_category,
            Decimal(booking.vat_rate if booking.vat_rate is not None else 0),
            True,
        )
    service = booking.service
    return Terms(service.unit_price_cents, service.unit, service.vat_category, Decimal(service.vat_rate), False)


def monthly_cost(booking: Booking) -> MonthlyCost | None:
    """A full month of a recurring booking (price × quantity, with VAT); None for metered services, which
    cost what is used."""
    terms = terms_of(booking)
    if not terms.unit.recurring:
        return None
    net = charge_cents(terms.unit_price_cents, booking.quantity)
    return MonthlyCost(net, vat_cents(net, terms.vat_rate))


def usage_cents(booking: Booking, record: UsageRecord) -> int | None:
    """The net euros of a month's usage at the booking's price (None before a price is fixed)."""
    if booking.unit_price_cents is None:
        return None
    return charge_cents(booking.unit_price_cents, record.quantity)


def billable_days(starts_on: date, ends_on: date | None, first: date, last: date) -> int:
    """Days of [starts_on, ends_on] inside [first, last], counting both ends; 0 if they do not meet."""
    start = max(starts_on, first)
    end = min(ends_on, last) if ends_on is not None else last
    return max(0, (end - start).days + 1)


def months_between(first_day: date, last_day: date) -> list[date]:
    """The first days of the months from `first_day`'s to `last_day`'s (empty when last_day < first_day)."""
    months: list[date] = []
    month = first_day.replace(day=1)
    while month <= last_day:
        months.append(month)
        month = (month_bounds(month)[1] + timedelta(days=1)).replace(day=1)
    return months


def pro_rata_months(booking: Booking, starts_on: date, ends_on: date) -> list[MonthShare]:
    """The months of [starts_on, ends_on] of a recurring booking with their pro rata net amounts."""
    terms = terms_of(booking)
    shares: list[MonthShare] = []
    for first in months_between(starts_on, ends_on):
        first, last = month_bounds(first)
        days = billable_days(starts_on, ends_on, first, last)
        if days:
            cents = prorated_cents(terms.unit_price_cents, booking.quantity, days, last.day)
            shares.append(MonthShare(period_of(first), days, last.day, cents))
    return shares
