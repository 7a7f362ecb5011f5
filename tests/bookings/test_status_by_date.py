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


def test_advance_writes_per_transition_not_per_booking(make_booking):
    """However many bookings the dates move, the advance costs the same few statements: one UPDATE per
    transition and bulk inserts of the history, and it says which bookings each transition moved."""
    from sqlalchemy import event

    from marketplace.bookings.operations import advance_bookings

    few = [make_booking(starts_on=date(2026, 11, 16), ends_on=date(2026, 11, 20)) for _ in range(2)]
    many = [make_booking(starts_on=date(2026, 11, 16)) for _ in range(25)]
    db.session.commit()
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        batches = advance_bookings(date(2026, 11, 21))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    moved = {(b.from_status, b.to_status): b.booking_ids for b in batches}
    assert set(moved[(BookingStatus.ACCEPTED, BookingStatus.ACTIVE)]) >= {b.id for b in few + many}
    assert set(moved[(BookingStatus.ACTIVE, BookingStatus.ENDED)]) >= {b.id for b in few}
    assert not {b.id for b in many} & set(moved[(BookingStatus.ACTIVE, BookingStatus.ENDED)])
    writes = [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert len(writes) <= 4, writes  # 2 transitions x (1 UPDATE + 1 multi-row INSERT)
    assert not [obj for obj in db.session if isinstance(obj, BookingEvent)]  # no object per history row
    assert all(b.status is BookingStatus.ENDED for b in few) and all(b.status is BookingStatus.ACTIVE for b in many)
    db.session.commit()
    history = select(BookingEvent.to_status).where(BookingEvent.booking_id == few[0].id).order_by(BookingEvent.id)
    assert db.session.scalars(history).all()[-2:] == [BookingStatus.ACTIVE, BookingStatus.ENDED]
