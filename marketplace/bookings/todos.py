"""To-do sources of bookings (marketplace.core.todos): requests to answer, usage to review or correct, and
the buyer's news that a request was decided."""

from __future__ import annotations

from datetime import timedelta

from flask import url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.bookings.costs import usage_cents
from marketplace.bookings.models import Booking, BookingEvent, BookingStatus, UsageRecord, UsageStatus
from marketplace.bookings.operations import review_deadline
from marketplace.catalogue.models import Service, Unit
from marketplace.core.timeutil import month_label, today
from marketplace.core.todos import Todo
from marketplace.extensions import db
from marketplace.members.models import Role, User

#: How long the buyer's start page reports that a request was accepted or declined.
DECISION_NEWS_DAYS = 14


def requests_to_answer(user: User) -> list[Todo]:
    """Provider staff: requests for the member's services that wait for a decision."""
    if not user.has_role(Role.PROVIDER):
        return []
    bookings = db.session.scalars(
        select(Booking)
        .join(Service, Service.id == Booking.service_id)
        .where(Service.provider_id == user.member_id, Booking.status == BookingStatus.REQUESTED)
        .order_by(Booking.created_at)
    )
    return [
        Todo(
            kind="booking.request",
            title=_(
                "Anfrage von %(buyer)s: %(service)s (Menge %(quantity)s, ab %(start)s)",
                buyer=b.buyer.name,
                service=b.service.title,
                quantity=b.quantity,
                start=b.starts_on.strftime("%d.%m.%Y"),
            ),
            action=_("Entscheiden"),
            path=url_for("bookings.show", booking_id=b.id),
            dated=b.created_at.date(),
            due=b.starts_on,
        )
        for b in bookings
    ]


#: Units after a quantity in a to-do line.
UNIT_NAMES = {
    Unit.HOUR: _l("Stunden"),
    Unit.PIECE: _l("Stück"),
    Unit.GB_MONTH: _l("GB-Monate"),
    Unit.USER_MONTH: _l("Nutzer-Monate"),
}


def _quantity(record: UsageRecord) -> str:
    return format_decimal(record.quantity.normalize(), format="#,##0.###")


def usage_to_review(user: User) -> list[Todo]:
    """Buyers: usage the provider reported, to confirm or dispute before the review period ends."""
    if not user.has_role(Role.BUYER):
        return []
    records = db.session.scalars(
        select(UsageRecord)
        .join(Booking, Booking.id == UsageRecord.booking_id)
        .where(Booking.buyer_id == user.member_id, UsageRecord.status == UsageStatus.ENTERED)
        .order_by(UsageRecord.id)
    )
    items = []
    for record in records:
        due = review_deadline(record)
        if due < today() or record.is_billed:
            continue  # deemed accepted, or billed already (a correction case is the way then)
        cents = usage_cents(record.booking, record)
        items.append(
            Todo(
                kind="usage.review",
                title=_(
                    "Verbrauch %(month)s: %(service)s",
                    month=month_label(record.period),
                    service=record.booking.service.title,
                ),
                action=_("Prüfen"),
                path=url_for("bookings.show", booking_id=record.booking_id, _anchor="verbrauch"),
                dated=(record.entered_at or record.created_at).date(),
                due=due,
                detail=f"{_quantity(record)} {UNIT_NAMES.get(record.booking.unit, '')}".strip(),
                amount_cents=cents,
            )
        )
    return items


def disputed_usage(user: User) -> list[Todo]:
    """Provider staff: usage the buyer disputed, to correct."""
    if not user.has_role(Role.PROVIDER):
        return []
    records = db.session.scalars(
        select(UsageRecord)
        .join(Booking, Booking.id == UsageRecord.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .where(Service.provider_id == user.member_id, UsageRecord.status == UsageStatus.DISPUTED)
        .order_by(UsageRecord.id)
    )
    return [
        Todo(
            kind="usage.disputed",
            title=_(
                "Bestrittener Verbrauch %(month)s: %(service)s (%(buyer)s)",
                month=month_label(r.period),
                service=r.booking.service.title,
                buyer=r.booking.buyer.name,
            ),
            action=_("Klären"),
            path=url_for("bookings.show", booking_id=r.booking_id, _anchor="verbrauch"),
            dated=(r.reviewed_at or r.created_at).date(),
            detail=r.dispute_reason[:200],
        )
        for r in records
    ]


def decided_requests(user: User) -> list[Todo]:
    """Buyers: their requests accepted or declined in the last two weeks (to be read, then it goes away)."""
    if not user.has_role(Role.BUYER):
        return []
    since = today() - timedelta(days=DECISION_NEWS_DAYS)

    rows = db.session.execute(
        select(Booking, BookingEvent.at, BookingEvent.to_status)
        .join(BookingEvent, BookingEvent.booking_id == Booking.id)
        .where(
            Booking.buyer_id == user.member_id,
            BookingEvent.to_status.in_((BookingStatus.ACCEPTED, BookingStatus.DECLINED)),
            BookingEvent.actor_id.is_not(None),
        )
        .order_by(BookingEvent.at.desc())
    ).all()
    items = []
    for booking, at, status in rows:
        if at.date() < since:
            continue
        accepted = status is BookingStatus.ACCEPTED
        items.append(
            Todo(
                kind="booking.accepted" if accepted else "booking.declined",
                title=(
                    _(
                        "Anfrage angenommen: %(service)s, ab %(start)s",
                        service=booking.service.title,
                        start=booking.starts_on.strftime("%d.%m.%Y"),
                    )
                    if accepted
                    else _("Anfrage abgelehnt: %(service)s", service=booking.service.title)
                ),
                action=_("Ansehen"),
                path=url_for("bookings.show", booking_id=booking.id),
                dated=at.date(),
            )
        )
    return items
