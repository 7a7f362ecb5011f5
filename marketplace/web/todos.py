"""The start page's to-do list: the sources of every area (marketplace.core.todos), collected in one place.

A new kind of item is one function in the area that owns its data, added to SOURCES here.
"""

from __future__ import annotations

from marketplace.bookings import todos as bookings
from marketplace.core.todos import Todo, TodoSource, sort_key
from marketplace.corrections import todos as corrections
from marketplace.costsharing import todos as costsharing
from marketplace.members.models import User
from marketplace.monthend import todos as monthend
from marketplace.settlement import todos as settlement

SOURCES: list[TodoSource] = [
    bookings.requests_to_answer,
    bookings.usage_to_review,
    bookings.disputed_usage,
    costsharing.plans_to_accept,
    settlement.invoices_to_release,
    corrections.correction_cases,
    settlement.transfers_to_make,
    monthend.months_to_close,
    monthend.months_to_settle,
    settlement.settlements_to_approve,
    settlement.settlements_to_pay,
]

#: Not things to do but news the user should have read: shown under the to-dos.
NEWS: list[TodoSource] = [bookings.decided_requests]


def todos_for(user: User) -> list[Todo]:
    """Everything the user has to do, most urgent first."""
    return sorted((item for source in SOURCES for item in source(user)), key=sort_key)


def news_for(user: User) -> list[Todo]:
    return sorted((item for source in NEWS for item in source(user)), key=lambda t: t.dated or t.due, reverse=True)
