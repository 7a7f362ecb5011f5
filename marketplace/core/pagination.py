"""Page through a `select()` without loading more than one page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from marketplace.extensions import db

MAX_PER_PAGE = 100
#: No list has a million pages; a larger number (``?page=99999999999999999999``) would overflow OFFSET.
MAX_PAGE = 1_000_000
_NUMBER_RE = re.compile(r"^[0-9]{1,18}$")


@dataclass(frozen=True)
class Page:
    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _number(value: Any) -> int | None:
    """ASCII digits only: `int` would also take ``"١٢"``, ``"1_000"`` and ``" 7 "``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _NUMBER_RE.match(value):
        return int(value)
    return None


def clamp_page_args(page: Any, per_page: Any, default_per_page: int = 20) -> tuple[int, int]:
    """Turn query-string values into a sane page number and size: bad values fall back to the defaults,
    numbers out of range are clamped (1..MAX_PAGE, 1..MAX_PER_PAGE)."""
    page_number = _number(page)
    page_number = 1 if page_number is None else min(MAX_PAGE, max(1, page_number))
    size = _number(per_page)
    size = default_per_page if size is None else min(MAX_PER_PAGE, max(1, size))
    return page_number, size


def paginate(statement: Select, page: int, per_page: int, *, scalars: bool = True) -> Page:
    """One page of `statement` with the total; `page` is clamped to 1..MAX_PAGE (OFFSET stays in range)."""
    page = min(MAX_PAGE, max(1, page))
    total = db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    paged = statement.limit(per_page).offset((page - 1) * per_page)
    result = db.session.execute(paged)
    items = list(result.scalars()) if scalars else list(result)
    return Page(items=items, page=page, per_page=per_page, total=total)
