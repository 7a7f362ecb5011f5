"""Domain events -> webhook deliveries: one outbox row per active endpoint of each member concerned.

Each function hears one kind of event (`marketplace.core.events`) and writes its deliveries in the
transaction of the change, so a delivery exists exactly when its change was committed. The payload is
built from the event alone, i.e. from the state of the moment the event was announced: a booking that
goes accepted -> active -> ended in one transaction delivers three events with three statuses.

Event types and payload shapes are a published interface (members' systems parse them): see
`EVENT_TYPES` and the ``data`` builders below; money is a decimal string (``"1234.50"``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import or_, select

from marketplace.bookings.models import Booking
from marketplace.catalogue.models import Service
from marketplace.core.events import (
    BookingAccepted,
    BookingActivated,
    BookingCancelled,
    BookingChanged,
    BookingDeclined,
    BookingEnded,
    BookingRequested,
    BookingsAdvancedByDate,
    BookingWithdrawn,
    PaymentChanged,
    PaymentFailed,
    PaymentSucceeded,
    SettlementApproved,
    SettlementChanged,
    SettlementCollecting,
    SettlementCreated,
    SettlementFailed,
    SettlementPaid,
    UsageChanged,
    UsageConfirmed,
    UsageDisputed,
    UsageRecorded,
    subscribe,
)
from marketplace.core.money import cents_to_str
from marketplace.extensions import db
from marketplace.webhooks.operations import active_endpoints, queue_delivery

#: The webhook event type of each domain event (the names members' systems know).
BOOKING_TYPES: dict[type[BookingChanged], str] = {
    BookingRequested: "booking.requested",
    BookingAccepted: "booking.accepted",
    BookingDeclined: "booking.declined",
    BookingWithdrawn: "booking.withdrawn",
    BookingActivated: "booking.active",
    BookingEnded: "booking.ended",
    BookingCancelled: "booking.cancelled",
}
USAGE_TYPES: dict[type[UsageChanged], str] = {
    UsageRecorded: "usage.entered",
    UsageConfirmed: "usage.confirmed",
    UsageDisputed: "usage.disputed",
}
SETTLEMENT_TYPES: dict[type[SettlementChanged], str] = {
    SettlementCreated: "settlement.created",
    SettlementApproved: "settlement.approved",
    SettlementCollecting: "settlement.collecting",
    SettlementPaid: "settlement.paid",
    SettlementFailed: "settlement.failed",
}
PAYMENT_TYPES: dict[type[PaymentChanged], str] = {
    PaymentSucceeded: "payment.succeeded",
    PaymentFailed: "payment.failed",
}
#: Every event type a member's endpoint can receive (listed on the webhooks page).
EVENT_TYPES: tuple[str, ...] = (
    *BOOKING_TYPES.values(),
    *USAGE_TYPES.values(),
    *SETTLEMENT_TYPES.values(),
    *PAYMENT_TYPES.values(),
    "ping",
)


def _queue(event_type: str, member_ids: Iterable[int], data_for: Callable[[int], dict[str, Any]]) -> None:
    """One delivery per active endpoint of each member; one event id for all of them. The payload is built
    only for a member with an endpoint (most events of a large billing run concern nobody's endpoint)."""
    endpoints = active_endpoints()
    event_id = ""
    for member_id in dict.fromkeys(member_ids):
        targets = endpoints.get(member_id)
        if not targets:
            continue
        event_id = event_id or str(uuid.uuid4())
        data = data_for(member_id)
        for endpoint_id in targets:
            queue_delivery(endpoint_id, event_type, data, event_id)


# --- payloads ------------------------------------------------------------------------------------------


def booking_data(event: BookingChanged) -> dict[str, Any]:
    return {
        "booking": {
            "id": event.booking_id,
            "service_id": event.service_id,
            "service_title": event.service_title,
            "status": event.status,
            "buyer": {"id": event.buyer_id},
            "provider": {"id": event.provider_id},
            "quantity": event.quantity,
            "starts_on": event.starts_on.isoformat(),
            "ends_on": event.ends_on.isoformat() if event.ends_on else None,
            "unit_price": cents_to_str(event.unit_price_cents) if event.unit_price_cents is not None else None,
        }
    }


def usage_data(event: UsageChanged) -> dict[str, Any]:
    return {
        "usage": {
            "id": event.record_id,
            "booking_id": event.booking_id,
            "period": event.period,
            "quantity": f"{event.quantity:.3f}",
            "status": event.status,
        }
    }


def settlement_data(event: SettlementChanged, member_id: int) -> dict[str, Any]:
    """The settlement as one member sees it: its own position and the instructions it is party to."""
    position = next((p.amount_cents for p in event.positions if p.member_id == member_id), None)
    instructions = [
        {
            "debtor_member_id": i.debtor_member_id,
            "creditor_member_id": i.creditor_member_id,
            "amount": cents_to_str(i.amount_cents),
            "status": i.status,
        }
        for i in event.instructions
        if member_id in (i.debtor_member_id, i.creditor_member_id)
    ]
    return {
        "settlement": {
            "id": event.settlement_id,
            "period": event.period,
            "status": event.status,
            "position": cents_to_str(position or 0),
            "instructions": instructions,
        }
    }


def payment_data(event: PaymentChanged) -> dict[str, Any]:
    return {
        "payment": {
            "settlement_id": event.settlement_id,
            "amount": cents_to_str(event.amount_cents),
            "status": event.status,
        }
    }


# --- subscribers ---------------------------------------------------------------------------------------


@subscribe(*BOOKING_TYPES)
def booking_changed(event: BookingChanged) -> None:
    _queue(BOOKING_TYPES[type(event)], (event.buyer_id, event.provider_id), lambda _member: booking_data(event))


#: The event of each status the calendar moves bookings to.
_BY_DATE: dict[str, type[BookingChanged]] = {"active": BookingActivated, "ended": BookingEnded}
#: Booking ids per query (below SQLite's bound-parameter limit).
_CHUNK = 900


@subscribe(BookingsAdvancedByDate)
def bookings_advanced(event: BookingsAdvancedByDate) -> None:
    """A run moved many bookings at once: `booking.active` / `booking.ended` for those whose buyer or
    provider has an endpoint, each with the status of this transition (a later transition of the same run
    is a delivery of its own). The bookings are read only when someone listens."""
    kind = _BY_DATE.get(event.to_status)
    listening = list(active_endpoints())
    if kind is None or not listening:
        return
    for start in range(0, len(event.booking_ids), _CHUNK):
        rows = db.session.execute(
            select(Booking, Service.title, Service.provider_id)
            .join(Service, Service.id == Booking.service_id)
            .where(
                Booking.id.in_(event.booking_ids[start : start + _CHUNK]),
                or_(Booking.buyer_id.in_(listening), Service.provider_id.in_(listening)),
            )
            .order_by(Booking.id)
        ).all()
        for booking, title, provider_id in rows:
            moved = kind(
                booking_id=booking.id,
                status=event.to_status,
                service_id=booking.service_id,
                service_title=title,
                buyer_id=booking.buyer_id,
                provider_id=provider_id,
                quantity=booking.quantity,
                starts_on=booking.starts_on,
                ends_on=booking.ends_on,
                unit_price_cents=booking.unit_price_cents,
                actor_id=None,
                actor_member_id=None,
            )
            booking_changed(moved)


@subscribe(*USAGE_TYPES)
def usage_changed(event: UsageChanged) -> None:
    _queue(USAGE_TYPES[type(event)], (event.buyer_id, event.provider_id), lambda _member: usage_data(event))


@subscribe(*SETTLEMENT_TYPES)
def settlement_changed(event: SettlementChanged) -> None:
    members = sorted({p.member_id for p in event.positions})
    _queue(SETTLEMENT_TYPES[type(event)], members, lambda member_id: settlement_data(event, member_id))


@subscribe(*PAYMENT_TYPES)
def payment_changed(event: PaymentChanged) -> None:
    _queue(PAYMENT_TYPES[type(event)], (event.debtor_member_id,), lambda _member: payment_data(event))
