"""Reads on bookings."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Select, and_, or_, select

from marketplace.bookings.models import COMMITTED_STATUSES, Booking, BookingStatus
from marketplace.catalogue.models import Service
from marketplace.core.errors import NotFound
from marketplace.core.timeutil import today
from marketplace.extensions import db
from marketplace.members.models import Member, User


def booking_for(user: User, booking_id: int) -> Booking:
    """The booking if the user's member is a party to it; NotFound otherwise."""
    booking = db.session.get(Booking, booking_id)
    if booking is None or not booking.can_view(user):
        raise NotFound("Diese Buchung gibt es nicht.")
    return booking


def effective_status_is(status: BookingStatus, day: date) -> ColumnElement[bool]:
    """SQL for `effective_status(booking, day) == status` (models.py), so a filter matches what is shown."""
    committed = Booking.status.in_(COMMITTED_STATUSES)
    over = and_(Booking.ends_on.is_not(None), Booking.ends_on < day)
    running = or_(Booking.ends_on.is_(None), Booking.ends_on >= day)
    if status is BookingStatus.ENDED:
        return or_(Booking.status == BookingStatus.ENDED, and_(committed, over))
    if status is BookingStatus.ACTIVE:
        started = or_(
            Booking.status == BookingStatus.ACTIVE,
            and_(Booking.status == BookingStatus.ACCEPTED, Booking.starts_on <= day),
        )
        return and_(started, running)
    if status is BookingStatus.ACCEPTED:
        return and_(Booking.status == BookingStatus.ACCEPTED, Booking.starts_on > day, running)
    return Booking.status == status


#: Whose bookings a list shows: the member's as buyer or as provider, or every booking (the operator's staff).
SIDES = ("buyer", "provider", "all")


def bookings_statement(
    member_id: int | None,
    side: str,
    status: BookingStatus | None = None,
    *,
    provider_id: int | None = None,
    buyer_id: int | None = None,
    service_id: int | None = None,
) -> Select:
    """The member's bookings as buyer (`side="buyer"`) or as provider (`side="provider"`), or every booking
    (`side="all"`, for the operator's staff; `member_id` is ignored), newest first.

    `status` filters by the effective status (the one pages and the API show), not the stored one;
    `provider_id`, `buyer_id` and `service_id` narrow the list further.
    """
    statement = select(Booking).join(Service, Service.id == Booking.service_id)
    if side == "provider":
        statement = statement.where(Service.provider_id == member_id)
    elif side != "all":
        statement = statement.where(Booking.buyer_id == member_id)
    if status is not None:
        statement = statement.where(effective_status_is(status, today()))
    if provider_id is not None:
        statement = statement.where(Service.provider_id == provider_id)
    if buyer_id is not None:
        statement = statement.where(Booking.buyer_id == buyer_id)
    if service_id is not None:
        statement = statement.where(Booking.service_id == service_id)
    return statement.order_by(Booking.id.desc())


def _by_name(pairs: set[tuple[int, str]]) -> list[tuple[int, str]]:
    return sorted(pairs, key=lambda pair: pair[1].casefold())


def booking_filter_choices(member_id: int | None, side: str) -> dict[str, list[tuple[int, str]]]:
    """What the filters of a bookings list offer: the providers, buyers and services that occur in it."""
    base = select(Booking.id).join(Service, Service.id == Booking.service_id)
    if side == "provider":
        base = base.where(Service.provider_id == member_id)
    elif side != "all":
        base = base.where(Booking.buyer_id == member_id)
    ids = base.subquery()
    joined = (
        select(Service.id, Service.title, Service.provider_id, Booking.buyer_id)
        .join(Booking, Booking.service_id == Service.id)
        .where(Booking.id.in_(select(ids.c.id)))
    )
    rows = db.session.execute(joined).all()
    member_ids = {row.provider_id for row in rows} | {row.buyer_id for row in rows}
    names = {
        row.id: row.name for row in db.session.execute(select(Member.id, Member.name).where(Member.id.in_(member_ids)))
    }
    return {
        "provider": _by_name({(row.provider_id, names[row.provider_id]) for row in rows}),
        "buyer": _by_name({(row.buyer_id, names[row.buyer_id]) for row in rows}),
        "service": _by_name({(row.id, row.title) for row in rows}),
    }
