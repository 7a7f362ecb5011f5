"""Concurrency on PostgreSQL: at least 16 real threads hit the HTTP API at the same moment.

Each thread has its own test client (and so its own session and connection) against one app; a barrier
releases them together. No request may fail with 500 or hang in a deadlock.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from marketplace.bookings.models import COMMITTED_STATUSES, Booking
from marketplace.bookings.operations import BookingRequest, request_booking
from marketplace.catalogue.models import ServiceStatus, Unit, VatCategory
from marketplace.catalogue.operations import ServiceInput, create_service
from marketplace.extensions import db
from marketplace.ledger.models import Transfer
from marketplace.ledger.queries import verify_ledger
from marketplace.members.operations import create_api_token
from marketplace.members.queries import user_by_email
from tests.conftest import make_app, requires_postgres
from tests.taxdata import O_TAX

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.timeout(120)]

THREADS = 16
START = date(2026, 11, 16)


@pytest.fixture
def wide_app(database_url):
    """The app with a pool large enough for every thread at once (plus the test's own session)."""
    application = make_app(database_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": THREADS + 4, "max_overflow": 4})
    with application.app_context():
        from marketplace.seed import seed_demo_data

        seed_demo_data()
        db.session.commit()
        yield application
        db.session.remove()
        db.engine.dispose()


def tokens(email: str, count: int) -> list[str]:
    user = user_by_email(email)
    plains = [create_api_token(user, f"thread {i}")[1] for i in range(count)]
    db.session.commit()
    return plains


def together(app, calls: list[Callable[[Any], Any]]) -> list[Any]:
    """Run each call in its own thread with its own client, all released by one barrier."""
    db.session.remove()  # the test's own transaction must not hold any lock
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def worker(index: int) -> None:
        client = app.test_client()
        barrier.wait(timeout=30)
        try:
            results[index] = calls[index](client)
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a thread hangs (deadlock?)"
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    return results


def post(path: str, token: str, body: Any = None) -> Callable[[Any], Any]:
    def call(client):
        response = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_json(silent=True)

    return call


def new_service(capacity: int | None, unit: Unit = Unit.MONTH) -> int:
    service = create_service(
        user_by_email("anbieter@kdz-mainz.example"),
        ServiceInput(
            title=f"Parallel-Test {capacity}",
            description="",
            category="hosting",
            unit=unit,
            unit_price=Decimal("30.00"),
            vat_category=VatCategory.NOT_TAXABLE,
            capacity=capacity,
            capacity_set=True,
            status=ServiceStatus.PUBLISHED,
            **O_TAX,
        ),
    )
    db.session.commit()
    return service.id


def new_requests(service_id: int, count: int, quantity: int = 1) -> list[int]:
    buyer = user_by_email("einkauf@wiesbaden.example")
    ids = [request_booking(buyer, BookingRequest(service_id, quantity, START)).id for _ in range(count)]
    db.session.commit()
    return ids


def test_simultaneous_accepts_of_one_booking_exactly_one_wins(wide_app):
    service_id = new_service(capacity=None)
    (booking_id,) = new_requests(service_id, 1)
    plains = tokens("anbieter@kdz-mainz.example", THREADS)
    results = together(wide_app, [post(f"/api/v1/bookings/{booking_id}/accept", t) for t in plains])
    statuses = Counter(status for status, _body in results)
    assert statuses == {200: 1, 409: THREADS - 1}, statuses
    assert all(body["type"].endswith("/conflict") for status, body in results if status == 409)
    events = db.session.scalar(
        select(func.count()).select_from(Booking).where(Booking.id == booking_id, Booking.status == "accepted")
    )
    assert events == 1


@pytest.mark.parametrize("capacity", [1, 5])
def test_simultaneous_accepts_never_exceed_the_capacity(wide_app, capacity):
    service_id = new_service(capacity=capacity)
    booking_ids = new_requests(service_id, THREADS)
    plains = tokens("anbieter@kdz-mainz.example", THREADS)
    results = together(
        wide_app, [post(f"/api/v1/bookings/{b}/accept", t) for b, t in zip(booking_ids, plains, strict=True)]
    )
    statuses = Counter(status for status, _body in results)
    assert statuses == {200: capacity, 409: THREADS - capacity}, statuses
    held = db.session.scalar(
        select(func.sum(Booking.quantity)).where(
            Booking.service_id == service_id, Booking.status.in_(COMMITTED_STATUSES)
        )
    )
    assert held == capacity


def test_simultaneous_billing_runs_charge_each_booking_once(wide_app):
    service_id = new_service(capacity=None)
    booking_ids = new_requests(service_id, 40)
    provider = user_by_email("anbieter@kdz-mainz.example")
    from marketplace.bookings.operations import accept_booking

    for booking_id in booking_ids:
        accept_booking(provider, db.session.get(Booking, booking_id))
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(Transfer))
    plains = tokens("betrieb@kopit.example", THREADS)
    results = together(wide_app, [post("/api/v1/billing-runs", t, {"period": "2026-11"}) for t in plains])
    assert {status for status, _body in results} == {201}, results
    created = sum(body["transfers_created"] for _status, body in results)
    keys = db.session.scalars(select(Transfer.idempotency_key).where(Transfer.period == "2026-11")).all()
    assert len(keys) == len(set(keys))
    # every booking of the month, the 40 new ones and the demo's running ones, is charged exactly once
    assert created == db.session.scalar(select(func.count()).select_from(Transfer)) - before
    for booking_id in booking_ids:
        assert f"charge:{booking_id}:2026-11" in keys
    # 15 days of 30 at 30.00 €: 15.00 € each
    amounts = db.session.scalars(
        select(Transfer.amount_cents).where(Transfer.booking_id.in_(booking_ids), Transfer.period == "2026-11")
    ).all()
    assert amounts == [1500] * len(booking_ids)
    assert sum(1 for _s, body in results if body["transfers_created"] > 0) == 1
    assert verify_ledger().ok


def test_simultaneous_reversals_of_one_transfer_exactly_one_wins(wide_app):
    plains = tokens("betrieb@kopit.example", THREADS)
    results = together(
        wide_app, [post("/api/v1/ledger/transfers/1/reverse", t, {"reason": "Doppelt gebucht"}) for t in plains]
    )
    statuses = Counter(status for status, _body in results)
    assert statuses == {201: 1, 409: THREADS - 1}, statuses
    assert db.session.scalar(select(func.count()).select_from(Transfer).where(Transfer.reverses_id == 1)) == 1
    assert verify_ledger().ok


def test_billing_racing_a_close_never_posts_into_the_closed_month(wide_app):
    """Half the threads bill October, half close it: whatever wins, nothing lands in a closed month."""
    service_id = new_service(capacity=None)
    db.session.commit()
    plains = tokens("betrieb@kopit.example", THREADS)
    calls = [
        post("/api/v1/billing-runs", t, {"period": "2026-10"}) if i % 2 else post("/api/v1/periods/2026-10/close", t)
        for i, t in enumerate(plains)
    ]
    results = together(wide_app, calls)
    statuses = Counter(status for status, _body in results)
    assert set(statuses) <= {200, 201, 409}, results
    closes = [status for i, (status, _b) in enumerate(results) if i % 2 == 0]
    assert closes.count(200) == 1
    from marketplace.ledger.models import Period, PeriodStatus

    closed = db.session.get(Period, "2026-10")
    assert closed.status is PeriodStatus.CLOSED
    late = db.session.scalar(
        select(func.count())
        .select_from(Transfer)
        .where(Transfer.period == "2026-10", Transfer.created_at > closed.closed_at)
    )
    assert late == 0
    assert service_id
    assert verify_ledger().ok
