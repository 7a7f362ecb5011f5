"""Statuses by date: the API shows them on read without writing, the billing run records them itself."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from marketplace.bookings.models import BookingEvent, BookingStatus
from marketplace.extensions import db
from marketplace.ledger.models import Transfer

BUYER = "einkauf@wiesbaden.example"
OPERATOR = "betrieb@kopit.example"


def _events() -> int:
    return db.session.scalar(select(func.count()).select_from(BookingEvent))


def test_api_shows_the_status_the_dates_give_without_writing(make_booking, api_as):
    starting = make_booking(starts_on=date(2026, 11, 16))  # today in tests
    later = make_booking(starts_on=date(2026, 12, 1))
    api = api_as(BUYER)
    before = _events()
    assert api.get(f"/api/v1/bookings/{starting.id}").get_json()["status"] == "active"
    assert api.get(f"/api/v1/bookings/{later.id}").get_json()["status"] == "accepted"
    listed = api.get("/api/v1/bookings?status=active").get_json()["items"]
    assert starting.id in {b["id"] for b in listed} and later.id not in {b["id"] for b in listed}
    db.session.expire_all()
    assert _events() == before and starting.status is BookingStatus.ACCEPTED


def test_billing_on_the_start_date_charges_and_records_the_start_without_a_page_view(make_booking, api_as):
    booking = make_booking(starts_on=date(2026, 11, 16))
    assert booking.status is BookingStatus.ACCEPTED
    response = api_as(OPERATOR).post("/api/v1/billing-runs", json={"period": "2026-11"})
    assert response.status_code == 201, response.get_json()
    db.session.expire_all()
    charge = db.session.scalar(select(Transfer).where(Transfer.idempotency_key == f"charge:{booking.id}:2026-11"))
    assert charge is not None and "15/30 Tage" in charge.description  # 16 to 30 November
    assert booking.status is BookingStatus.ACTIVE
    started = [e for e in booking.events if e.to_status is BookingStatus.ACTIVE]
    assert len(started) == 1 and started[0].actor_id is None
