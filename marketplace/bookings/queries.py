"""Reads on bookings."""

from __future__ import annotations

from sqlalchemy import Select, select

from marketplace.bookings.models import Booking, BookingStatus
from marketplace.catalogue.models import Service
from marketplace.core.errors import NotFound
from marketplace.extensions import db
from marketplace.members.models import User


def booking_for(user: User, booking_id: int) -> Booking:
    """The booking if the user's member is a party to it; NotFound otherwise."""
    booking = db.session.get(Booking, booking_id)
    if booking is None or not booking.can_view(user):
        raise NotFound("Diese Buchung gibt es nicht.")
    return booking


def bookings_statement(member_id: int, side: str, status: BookingStatus | None = None) -> Select:
    """The member's bookings as buyer (`side="buyer"`) or as provider (`side="provider"`), newest first."""
    statement = select(Booking).join(Service, Service.id == Booking.service_id)
    if side == "provider":
        statement = statement.where(Service.provider_id == member_id)
    else:
        statement = statement.where(Booking.buyer_id == member_id)
    if status is not None:
        statement = statement.where(Booking.status == status)
    return statement.order_by(Booking.id.desc())
