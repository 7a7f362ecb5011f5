"""Reads on bookings."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Select, and_, or_, select

from marketplace.bookings.models import COMMITTED_STATUSES, Booking, BookingStatus
from marketplace.catalogue.models import Service
from marketplace.core.errors import NotFound
from marketplace.core.timeutil import today
from marketplace.extensions import db
from marketplace.members.models import User


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


def bookings_statement(member_id: int, side: str, status: BookingStatus | None = None) -> Select:
    """The member's bookings as buyer (`side="buyer"`) or as provider (`side="provider"`), newest first.

    `status` filters by the effective status (the one pages and the API show), not the stored one.
    """
    statement = select(Booking).join(Service, Service.id == Booking.service_id)
    if side == "provider":
        statement = statement.where(Service.provider_id == member_id)
    else:
        statement = statement.where(Booking.buyer_id == member_id)
    if status is not None:
        statement = statement.where(effective_status_is(status, today()))
    return statement.order_by(Booking.id.desc())
