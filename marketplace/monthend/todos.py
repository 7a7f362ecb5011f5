"""To-do source of month-end (marketplace.core.todos): the operator's months to bill and close, and closed
months still to settle."""

from __future__ import annotations

from datetime import date, timedelta

from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from marketplace.core.timeutil import month_bounds, month_label, parse_period, period_of, previous_month, today
from marketplace.core.todos import Todo
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus
from marketplace.members.models import User
from marketplace.settlement.advices import pending_before, settleable_count
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
                title=_("Monat %(month)s", month=month_label(period)),
                action=_("Abrechnen und abschließen"),
                path=url_for("ledger.close", period=period),
                dated=next_month(month),
            )
        )
        month = next_month(month)
    return items


def next_month(first: date) -> date:
    return month_bounds(first)[1] + timedelta(days=1)


def months_to_settle(user: User) -> list[Todo]:
    """Operator finance: closed months after the latest settlement, to settle where released documents wait,
    otherwise (every document still waits for its buyer's release) to follow up on the releases."""
    if not user.is_operator_finance:
        return []
    latest = db.session.scalar(select(Settlement.period).order_by(Settlement.period.desc()).limit(1))
    statement = select(Period).where(Period.status == PeriodStatus.CLOSED)
    if latest is not None:
        statement = statement.where(Period.period > latest)
    items = []
    for row in db.session.scalars(statement.order_by(Period.period)):
        dated = row.closed_at.date() if row.closed_at else None
        if documents := settleable_count(row.period):
            items.append(
                Todo(
                    kind="period.settle",
                    title=ngettext(
                        "%(month)s (%(num)s freigegebener Beleg)",
                        "%(month)s (%(num)s freigegebene Belege)",
                        documents,
                        month=month_label(row.period),
                    ),
                    action=_("Verrechnung anlegen"),
                    path=url_for("settlement.settlements", period=row.period),
                    dated=dated,
                )
            )
        elif pending := pending_before(row.period):
            items.append(
                Todo(
                    kind="period.awaiting_release",
                    title=ngettext(
                        "Verrechnung %(month)s: %(num)s Rechnung noch nicht vom Abnehmer freigegeben",
                        "Verrechnung %(month)s: %(num)s Rechnungen noch nicht von den Abnehmern freigegeben",
                        pending,
                        month=month_label(row.period),
                    ),
                    action=_("Freigaben nachhalten"),
                    path=url_for("corrections.releases"),
                    dated=dated,
                )
            )
    return items
