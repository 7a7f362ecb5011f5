"""What a user has to do: the start page's list, item by item, each linked and dated.

A *source* is a function ``(user) -> list[Todo]`` in the area that owns the data (requests to answer in
bookings, invoices to release in settlement, …); it returns nothing for users whose roles it does not
concern. `marketplace.web.todos` collects the sources in one list; adding a kind of item is adding one
function there. Sources only read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Todo:
    """One thing to do: what (German, translated), where (a path of the site), since when and by when."""

    kind: str  # e.g. "booking.request", "invoice.release": tests and e-mails tell items apart by it
    title: str  # "Anfrage von Stadt Wiesbaden: Virtueller Server (Standard)"
    action: str  # the link text: "Entscheiden", "Prüfen", "Freigeben"
    path: str  # relative to the site ("/bookings/12"); e-mails put the configured base URL before it
    dated: date | None = None  # when it arose
    due: date | None = None  # by when it should be done (review period, release deadline)
    detail: str = ""  # one more line: a quantity, a reason
    amount_cents: int | None = None  # the money at stake, formatted by the page (|eur) or the e-mail
    month: str = ""  # the month it concerns (YYYY-MM): earlier months first among equally urgent items


#: A source takes the acting user (marketplace.members.models.User, which the kernel cannot name).
TodoSource = Callable[[Any], list[Todo]]


def sort_key(todo: Todo) -> tuple[date, date, str, str]:
    """Most urgent first: by deadline, then oldest first, then the earlier month; items without a deadline
    after those with one."""
    return (todo.due or date.max, todo.dated or date.max, todo.month, todo.title)
