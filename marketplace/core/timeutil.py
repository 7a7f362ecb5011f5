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


#: German month names as people write them ("September 2026", "Sept. 2026"), lower case, for `parse_month`.
_MONTH_NAMES = {
    name: number
    for number, names in enumerate(
        [
            ("januar", "jan", "jänner"),
            ("februar", "feb"),
            ("märz", "mär", "maerz", "mrz"),
            ("april", "apr"),
            ("mai",),
            ("juni", "jun"),
            ("juli", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("oktober", "okt"),
            ("november", "nov"),
            ("dezember", "dez"),
        ],
        start=1,
    )
    for name in names
}
_NUMERIC_MONTH_RE = re.compile(r"([0-9]{1,2})\s*[./]\s*([0-9]{4})\Z")
_NAMED_MONTH_RE = re.compile(r"([^\W\d_]+)\.?\s+([0-9]{4})\Z")


def parse_month(text: str | None) -> str:
    """A month as a person types it into a form, as ``YYYY-MM``: ``2026-09``, ``09.2026``, ``9.2026``,
    ``09/2026`` or ``September 2026``. ValueError for anything else (the API takes ``YYYY-MM`` only:
    `parse_period`)."""
    value = (text or "").strip()
    try:
        parse_period(value)
    except ValueError:
        pass
    else:
        return value
    month = year = None
    if match := _NUMERIC_MONTH_RE.match(value):
        month, year = int(match.group(1)), int(match.group(2))
    elif match := _NAMED_MONTH_RE.match(value):
        month, year = _MONTH_NAMES.get(match.group(1).casefold()), int(match.group(2))
    if not month or not 1 <= month <= 12 or not year:
        raise ValueError(f"not a month: {text!r}")
    return f"{year:04d}-{month:02d}"


def month_label(period: str) -> str:
    """``"2026-09"`` as people read it: "September 2026" (English pages: "September 2026" too, in English);
    text that is no month is returned unchanged."""
    from flask_babel import format_date  # only where a page is rendered; the kernel needs no Babel otherwise

    try:
        first = parse_period(period)
    except (TypeError, ValueError):
        return period
    return format_date(first, "MMMM yyyy")


def month_choices(periods: list[str]) -> list[tuple[str, str]]:
    """(``YYYY-MM``, "September 2026") for a month select, in the given order."""
    return [(period, month_label(period)) for period in periods]
