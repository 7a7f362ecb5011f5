"""Webhook deliveries come from the domain events: each carries the state of its own moment, is written in
the transaction of its change (and rolled back with it), and reaches only the members concerned."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from marketplace.bookings.operations import (
    BookingRequest,
    accept_booking,
    advance_booking_statuses,
    record_usage,
    request_booking,
)
from marketplace.catalogue.models import Service
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus
from marketplace.members.models import Role
from marketplace.members.queries import user_by_email
from marketplace.webhooks.models import WebhookDelivery
from marketplace.webhooks.operations import create_endpoint, deactivate_endpoint
from tests.conftest import release_invoices

BUYER = "einkauf@wiesbaden.example"
PROVIDER = "anbieter@kdz-mainz.example"


@pytest.fixture
def endpoint(demo, create_user):
    """An active endpoint of Stadt Wiesbaden (the buyer of the bookings below)."""
    admin = create_user(user_by_email(BUYER).member, "admin@wiesbaden.example", [Role.MEMBER_ADMIN])
    created = create_endpoint(admin, "https://erp.wiesbaden.example/hook")
    db.session.commit()
    return created


def _deliveries(endpoint_id: int) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id).order_by(WebhookDelivery.id)
        )
    )


def _service(title: str = "Virtueller Server (Standard)") -> Service:
    return db.session.scalar(select(Service).where(Service.title == title))


def _request(starts_on: date, ends_on: date | None = None, title: str = "Virtueller Server (Standard)"):
    return request_booking(
        user_by_email(BUYER),
        BookingRequest(service_id=_service(title).id, quantity=2, starts_on=starts_on, ends_on=ends_on),
    )


def test_accepted_active_ended_in_one_transaction_are_three_events_with_three_states(app, endpoint):
    booking = _request(date(2026, 12, 1), date(2026, 12, 10))
    db.session.commit()

    # one transaction: the provider accepts late, and the daily job of a later day records both date moves
    accept_booking(user_by_email(PROVIDER), booking)
    assert advance_booking_statuses(date(2026, 12, 11)) == 2
    db.session.commit()

    sent = [(d.event_type, d.payload["data"]["booking"]["status"]) for d in _deliveries(endpoint.id)]
    assert sent == [
        ("booking.requested", "requested"),
        ("booking.accepted", "accepted"),
        ("booking.active", "active"),  # it said "ended" when the event was read from the row at commit
        ("booking.ended", "ended"),
    ]
    deliveries = _deliveries(endpoint.id)
    assert len({d.event_id for d in deliveries}) == 4
    accepted = deliveries[1].payload
    assert accepted["type"] == "booking.accepted" and accepted["id"] == deliveries[1].event_id
    assert accepted["data"] == {
        "booking": {
            "id": booking.id,
            "service_id": booking.service_id,
            "service_title": "Virtueller Server (Standard)",
            "status": "accepted",
            "buyer": {"id": booking.buyer_id},
            "provider": {"id": booking.service.provider_id},
            "quantity": 2,
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-10",
            "unit_price": f"{booking.unit_price_cents // 100}.{booking.unit_price_cents % 100:02d}",
        }
    }


def test_deliveries_roll_back_with_their_change(app, endpoint):
    _request(date(2026, 12, 1))
    assert len(db.session.new) >= 1  # the delivery waits in the session with the booking
    db.session.rollback()
    assert _deliveries(endpoint.id) == []
    _request(date(2026, 12, 1))
    db.session.commit()
    assert [d.event_type for d in _deliveries(endpoint.id)] == ["booking.requested"]


def test_an_endpoint_switched_off_in_the_same_transaction_gets_nothing_more(app, endpoint):
    _request(date(2026, 12, 1))
    deactivate_endpoint(user_by_email("admin@wiesbaden.example"), endpoint)
    _request(date(2026, 12, 2))
    db.session.commit()
    assert [d.status.value for d in _deliveries(endpoint.id)] == ["failed"]  # given up with the switch-off


def test_usage_events_carry_quantity_and_status_of_their_moment(app, endpoint):
    metered = db.session.scalar(select(Service).where(Service.unit == "hour"))
    booking = request_booking(
        user_by_email(BUYER), BookingRequest(service_id=metered.id, quantity=1, starts_on=date(2026, 11, 16))
    )
    provider = next(u for u in metered.provider.users if u.has_role("provider"))
    accept_booking(provider, booking)
    db.session.commit()
    record = record_usage(provider, booking, "2026-11", 3)
    record_usage(provider, booking, "2026-11", "4.5")  # corrected before the buyer reviewed it
    db.session.commit()
    usage = [d.payload["data"]["usage"] for d in _deliveries(endpoint.id) if d.event_type.startswith("usage.")]
    assert [(u["quantity"], u["status"]) for u in usage] == [("3.000", "entered"), ("4.500", "entered")]
    assert all(u["id"] == record.id and u["period"] == "2026-11" for u in usage)


def test_settlement_events_show_the_instructions_of_their_moment(app, endpoint):
    from marketplace.settlement.operations import approve_settlement, create_settlement, record_direct_payment

    period = db.session.scalar(
        select(Period.period).where(Period.status == PeriodStatus.CLOSED).order_by(Period.period)
    )
    release_invoices(period)
    settlement = create_settlement(user_by_email("betrieb@kopit.example"), period)
    db.session.commit()
    approve_settlement(user_by_email("pruefung@kopit.example"), settlement)
    db.session.commit()
    for instruction in list(settlement.instructions):
        record_direct_payment(user_by_email("betrieb@kopit.example"), settlement, instruction.id)
    db.session.commit()

    seen = [(d.event_type, d.payload["data"]["settlement"]) for d in _deliveries(endpoint.id)]
    assert [(kind, data["status"]) for kind, data in seen] == [
        ("settlement.created", "draft"),
        ("settlement.approved", "approved"),
        ("settlement.paid", "paid"),
    ]
    assert {i["status"] for i in seen[0][1]["instructions"]} == {"open"}
    assert {i["status"] for i in seen[2][1]["instructions"]} == {"paid"}
    member_id = endpoint.member_id
    for _kind, data in seen:
        assert data["id"] == settlement.id and data["period"] == period
        assert all(member_id in (i["debtor_member_id"], i["creditor_member_id"]) for i in data["instructions"])
        position = next(p.amount_cents for p in settlement.positions if p.member_id == member_id)
        assert data["position"] == f"{'-' if position < 0 else ''}{abs(position) // 100}.{abs(position) % 100:02d}"
