"""DATEV Buchungsstapel (EXTF 700) of one member's books for one closed month, built from its documents,
its settlements and (for the operator) its bank movements; the accounts are in `accounts` and docs/DATEV.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.timeutil import month_bounds, parse_period
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus
from marketplace.members.models import Member
from marketplace.monthend.datev import extf
from marketplace.monthend.datev.accounts import mapping_for
from marketplace.monthend.datev.bookings import bank_bookings, document_bookings, settlement_bookings


def buchungsstapel(member: Member, period: str, config: Mapping[str, Any], now: datetime | None = None) -> bytes:
    """The month's Buchungsstapel of `member`: every booking dated in the calendar month `period`.

    Only for a closed month (after its close nothing can be dated in it any more): Conflict otherwise;
    InvalidInput for a malformed month."""
    try:
        first = parse_period(period)
    except ValueError as exc:
        raise InvalidInput.field("period", "Bitte den Monat als JJJJ-MM angeben, z. B. 2026-10.") from exc
    row = db.session.get(Period, period)
    if row is None or row.status is not PeriodStatus.CLOSED:
        raise Conflict(
            "Den DATEV-Buchungsstapel für %(period)s gibt es erst, wenn der Monat abgeschlossen ist.", period=period
        )
    first, last = month_bounds(first)
    books = mapping_for(member.id, config)
    bookings = document_bookings(member, books, first, last) + settlement_bookings(member, books, first, last)
    if member.is_operator:
        bookings += bank_bookings(member, books, first, last)
    bookings.sort(key=lambda booking: booking.day)
    header = extf.header(books, first, last, f"Leistungsbörse {period}", now)
    return extf.write(header, bookings)
