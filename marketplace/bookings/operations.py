"""Writes on bookings: request, decide, withdraw. Every function flushes; the caller commits.

Accepting locks the service row first (then the booking), so that concurrent accepts against one
capacity queue up and the capacity is never exceeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select

from marketplace.bookings.models import COMMITTED_STATUSES, Booking, BookingEvent, BookingStatus
from marketplace.catalogue.models import Service, ServiceStatus
from marketplace.catalogue.queries import current_price_version
from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.core.timeutil import today, utcnow
from marketplace.extensions import db
from marketplace.members.models import Role, User

MAX_QUANTITY = 100_000
MAX_NOTE = 2_000


@dataclass
class BookingRequest:
    service_id: int
    quantity: int
    starts_on: date
    ends_on: date | None = None
    note: str = ""


def _transition(booking: Booking, to: BookingStatus, actor: User, note: str = "") -> None:
    if not booking.may_become(to):
        raise Conflict(f"Die Buchung {booking.id} ist „{booking.status.value}“ und kann nicht „{to.value}“ werden.")
    db.session.add(
        BookingEvent(booking_id=booking.id, from_status=booking.status, to_status=to, actor_id=actor.id, note=note)
    )
    booking.status = to


def request_booking(actor: User, data: BookingRequest) -> Booking:
    """A buyer asks for a published service. Raises InvalidInput, NotFound or PermissionDenied."""
    errors: dict[str, list[str]] = {}
    if not (1 <= data.quantity <= MAX_QUANTITY):
        errors["quantity"] = [f"Die Menge ist eine ganze Zahl von 1 bis {MAX_QUANTITY}."]
    if data.starts_on < today():
        errors["starts_on"] = ["Der Beginn darf nicht in der Vergangenheit liegen."]
    if data.ends_on is not None and data.ends_on < data.starts_on:
        errors["ends_on"] = ["Das Ende darf nicht vor dem Beginn liegen."]
    if len(data.note or "") > MAX_NOTE:
        errors["note"] = [f"Die Nachricht hat höchstens {MAX_NOTE} Zeichen."]
    if errors:
        raise InvalidInput("Die Anfrage ist unvollständig oder ungültig.", errors=errors)
    service = db.session.get(Service, data.service_id)
    if service is None or (service.status is not ServiceStatus.PUBLISHED and service.provider_id != actor.member_id):
        raise NotFound("Diese Leistung gibt es nicht.")
    if Role.BUYER not in actor.roles:
        raise PermissionDenied("Nur Einkäuferinnen und Einkäufer können Leistungen anfragen.")
    if service.provider_id == actor.member_id:
        raise Conflict("Eigene Leistungen können nicht gebucht werden.")
    if service.status is not ServiceStatus.PUBLISHED:
        raise Conflict("Diese Leistung ist derzeit nicht buchbar.")
    booking = Booking(
        service_id=service.id,
        buyer_id=actor.member_id,
        requested_by_id=actor.id,
        quantity=data.quantity,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        note=(data.note or "").strip(),
        status=BookingStatus.REQUESTED,
    )
    db.session.add(booking)
    db.session.flush()
    db.session.add(
        BookingEvent(booking_id=booking.id, from_status=None, to_status=BookingStatus.REQUESTED, actor_id=actor.id)
    )
    db.session.flush()
    return booking


def committed_quantity(service_id: int, starts_on: date, ends_on: date | None, exclude_id: int) -> int:
    """Units of the service held by accepted or active bookings that overlap [starts_on, ends_on]."""
    statement = select(func.coalesce(func.sum(Booking.quantity), 0)).where(
        Booking.service_id == service_id,
        Booking.status.in_(COMMITTED_STATUSES),
        Booking.id != exclude_id,
        or_(Booking.ends_on.is_(None), Booking.ends_on >= starts_on),
    )
    if ends_on is not None:
        statement = statement.where(Booking.starts_on <= ends_on)
    return int(db.session.scalar(statement) or 0)


def _lock_for_decision(booking: Booking) -> tuple[Service, Booking]:
    service = db.session.scalar(
        select(Service)
        .where(Service.id == booking.service_id)
        .with_for_update(of=Service)
        .execution_options(populate_existing=True)
    )
    locked = db.session.scalar(
        select(Booking)
        .where(Booking.id == booking.id)
        .with_for_update(of=Booking)
        .execution_options(populate_existing=True)
    )
    assert service is not None and locked is not None  # noqa: S101 - rows cannot vanish (no deletes)
    return service, locked


def accept_booking(actor: User, booking: Booking) -> Booking:
    """The provider accepts: capacity is checked under the service lock and the price is snapshotted.

    Raises PermissionDenied, or Conflict when the state forbids it or the capacity is full.
    """
    if not booking.can_decide(actor):
        raise PermissionDenied("Nur der Anbieter kann diese Anfrage annehmen.")
    service, booking = _lock_for_decision(booking)
    if not booking.may_become(BookingStatus.ACCEPTED):
        raise Conflict(f"Die Buchung {booking.id} ist „{booking.status.value}“ und kann nicht angenommen werden.")
    if service.capacity is not None:
        held = committed_quantity(service.id, booking.starts_on, booking.ends_on, booking.id)
        if held + booking.quantity > service.capacity:
            raise Conflict(
                f"Die Kapazität reicht nicht: {service.capacity} Einheiten, davon {held} belegt, "
                f"angefragt {booking.quantity}."
            )
    version = current_price_version(service.id)
    booking.unit_price_cents = service.unit_price_cents
    booking.unit = service.unit
    booking.vat_category = service.vat_category
    booking.vat_rate = service.vat_rate
    booking.price_version_id = version.id if version is not None else None
    booking.accepted_at = utcnow()
    _transition(booking, BookingStatus.ACCEPTED, actor)
    db.session.flush()
    return booking


def decline_booking(actor: User, booking: Booking, reason: str = "") -> Booking:
    if not booking.can_decide(actor):
        raise PermissionDenied("Nur der Anbieter kann diese Anfrage ablehnen.")
    if len(reason or "") > MAX_NOTE:
        raise InvalidInput.field("reason", f"Der Grund hat höchstens {MAX_NOTE} Zeichen.")
    _service, booking = _lock_for_decision(booking)
    _transition(booking, BookingStatus.DECLINED, actor, note=(reason or "").strip())
    db.session.flush()
    return booking


def withdraw_booking(actor: User, booking: Booking) -> Booking:
    if not booking.can_withdraw(actor):
        raise PermissionDenied("Nur die anfragende Stelle kann die Anfrage zurückziehen.")
    _service, booking = _lock_for_decision(booking)
    _transition(booking, BookingStatus.WITHDRAWN, actor)
    db.session.flush()
    return booking
