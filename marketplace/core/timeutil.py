"""The application's notion of today and of accounting periods (months as ``YYYY-MM``)."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta

from flask import current_app, has_app_context

#: A month ``YYYY-MM`` as every part of the application reads it (forms, pages, the API and its document):
#: ASCII digits only ("٢٠٢٦-11" is no month), years 0001 to 9999 (what a date can hold: "0000-01" is none).
#: No look-arounds, so that JSON Schema validators and client generators read it alike.
PERIOD_PATTERN = r"^([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])$"
_PERIOD_RE = re.compile(PERIOD_PATTERN.removesuffix("$") + r"\Z")  # "$" would let a final line break through


def utcnow() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    """Today in Berlin, or the day pinned by ``MARKETPLACE_TODAY`` (tests and demos)."""
    if has_app_context():
        pinned = current_app.config.get("MARKETPLACE_TODAY")
        if pinned:
            return date.fromisoformat(pinned)
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Europe/Berlin")).date()


def parse_period(text: str) -> date:
    """``"2026-11"`` to the first day of that month; ValueError otherwise."""
    match = _PERIOD_RE.match(text or "")
    if not match:
        raise ValueError(f"not a month in the form YYYY-MM: {text!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(first: date) -> tuple[date, date]:
    """First and last day of the month that starts at `first`."""
    last_day = calendar.monthrange(first.year, first.month)[1]
    return first, first.replace(day=last_day)


def next_month(day: date) -> date:
    """The first day of the month after the one of `day`."""
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)
