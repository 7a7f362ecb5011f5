"""To-do source of month-end (marketplace.core.todos): the operator's months to bill and close, and closed
months still to settle."""

from __future__ import annotations

from datetime import date, timedelta

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace.core.timeutil import month_bounds, parse_period, period_of, previous_month, today
from marketplace.core.todos import Todo
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus
from marketplace.members.models import User
from marketplace.settlement.models import Settlement


def months_to_close(user: User) -> list[Todo]:
    """Operator finance: the months after the latest closed one up to last month, to bill and close."""
    if not user.is_operator_finance:
        return []
    last = period_of(previous_month(today()))
    latest_closed = db.session.scalar(
        select(Period.period).where(Period.status == PeriodStatus.CLOSED).order_by(Period.period.desc()).limit(1)
    )
    if latest_closed is not None and latest_closed >= last:
        return []
    month = next_month(parse_period(latest_closed)) if latest_closed is not None else parse_period(last)
    items = []
    while period_of(month) <= last:
        period = period_of(month)
        items.append(
            Todo(
                kind="period.close",
                title=_("Monat %(period)s abrechnen und abschließen", period=period),
                action=_("Zum Monatsabschluss"),
                path=url_for("ledger.close", period=period),
                dated=next_month(month),
            )
        )
        month = next_month(month)
    return items


def next_month(first: date) -> date:
    return month_bounds(first)[1] + timedelta(days=1)


def months_to_settle(user: User) -> list[Todo]:
    """Operator finance: closed months after the latest settlement, to settle."""
    if not user.is_operator_finance:
        return []
    latest = db.session.scalar(select(Settlement.period).order_by(Settlement.period.desc()).limit(1))
    statement = select(Period).where(Period.status == PeriodStatus.CLOSED)
    if latest is not None:
        statement = statement.where(Period.period > latest)
    return [
        Todo(
            kind="period.settle",
            title=_("Verrechnung für %(period)s anlegen", period=p.period),
            action=_("Zur Verrechnung"),
            path=url_for("settlement.settlements"),
            dated=p.closed_at.date() if p.closed_at else None,
        )
        for p in db.session.scalars(statement.order_by(Period.period))
    ]
