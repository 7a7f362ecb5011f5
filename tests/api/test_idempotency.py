"""Idempotency-Key: the same request with the same key has one effect and the same answer."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select, update

from marketplace.api.models import IdempotencyRecord
from marketplace.bookings.models import Booking
from marketplace.extensions import db
from tests.conftest import make_app, requires_postgres

BUYER = "einkauf@wiesbaden.example"


def _service_id(api):
    return api.get("/api/v1/services").get_json()["items"][0]["id"]


def _bookings() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Booking))


def test_same_key_same_body_replays_the_first_response(api_as, demo):
    api = api_as(BUYER)
    body = {"service_id": _service_id(api), "quantity": 2, "starts_on": "2026-12-01"}
    before = _bookings()
    first = api.client.post("/api/v1/bookings", json=body, headers={**api.headers, "Idempotency-Key": "order-4711"})
    assert first.status_code == 201
    # Same body, other key order and spacing: still the same request.
    again = api.client.post(
        "/api/v1/bookings",
        data='{"starts_on": "2026-12-01", "quantity": 2,  "service_id": ' + str(body["service_id"]) + "}",
        headers={**api.headers, "Idempotency-Key": "order-4711", "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _bookings() == before + 1


def test_same_key_other_body_is_422(api_as, demo):
    api = api_as(BUYER)
    service_id = _service_id(api)
    headers = {**api.headers, "Idempotency-Key": "k1"}
    assert (
        api.client.post(
            "/api/v1/bookings",
            json={"service_id": service_id, "quantity": 1, "starts_on": "2026-12-01"},
            headers=headers,
        ).status_code
        == 201
    )
    other = api.client.post(
        "/api/v1/bookings", json={"service_id": service_id, "quantity": 3, "starts_on": "2026-12-01"}, headers=headers
    )
    assert other.status_code == 422
    assert other.mimetype == "application/problem+json"
    assert "Idempotency-Key" in other.get_json()["errors"]


def test_keys_are_per_user_and_expire_after_a_day(api_as, demo):
    wiesbaden, ladadi = api_as(BUYER), api_as("einkauf@ladadi.example")
    service_id = _service_id(wiesbaden)
    body = {"service_id": service_id, "quantity": 1, "starts_on": "2026-12-01"}
    first = wiesbaden.client.post(
        "/api/v1/bookings", json=body, headers={**wiesbaden.headers, "Idempotency-Key": "same"}
    )
    second = ladadi.client.post("/api/v1/bookings", json=body, headers={**ladadi.headers, "Idempotency-Key": "same"})
    assert first.get_json()["id"] != second.get_json()["id"]
    db.session.execute(update(IdempotencyRecord).values(created_at=IdempotencyRecord.created_at - timedelta(hours=25)))
    db.session.commit()
    later = wiesbaden.client.post(
        "/api/v1/bookings", json=body, headers={**wiesbaden.headers, "Idempotency-Key": "same"}
    )
    assert later.status_code == 201 and later.get_json()["id"] not in (first.get_json()["id"], second.get_json()["id"])


def test_failed_requests_are_not_stored(api_as, demo):
    api = api_as(BUYER)
    headers = {**api.headers, "Idempotency-Key": "retry-me"}
    bad = api.client.post(
        "/api/v1/bookings", json={"service_id": 999999, "quantity": 1, "starts_on": "2026-12-01"}, headers=headers
    )
    assert bad.status_code == 404
    good = api.client.post(
        "/api/v1/bookings",
        json={"service_id": _service_id(api), "quantity": 1, "starts_on": "2026-12-01"},
        headers=headers,
    )
    assert good.status_code == 201


def test_malformed_key_is_422(api_as, demo):
    api = api_as(BUYER)
    response = api.client.post(
        "/api/v1/bookings",
        json={"service_id": _service_id(api), "quantity": 1, "starts_on": "2026-12-01"},
        headers={**api.headers, "Idempotency-Key": "x" * 256},
    )
    assert response.status_code == 422 and "Idempotency-Key" in response.get_json()["errors"]


@requires_postgres
def test_concurrent_requests_with_one_key_have_one_effect(app, api_as, demo):
    api = api_as(BUYER)
    body = {"service_id": _service_id(api), "quantity": 1, "starts_on": "2026-12-01"}
    before = _bookings()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    results: list[tuple[int, dict]] = []
    barrier = threading.Barrier(6, timeout=60)
    # Apps are built here, one after the other: building them in the threads would race on first imports.
    apps = [make_app(url) for _ in range(6)]

    def call(own) -> None:
        client = own.test_client()
        barrier.wait()
        response = client.post(
            "/api/v1/bookings", json=body, headers={**api.headers, "Idempotency-Key": "concurrent-1"}
        )
        results.append((response.status_code, response.get_json()))
        with own.app_context():
            db.engine.dispose()

    threads = [threading.Thread(target=call, args=(own,)) for own in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _bookings() == before + 1
    created = [body for status, body in results if status == 201]
    assert len(created) == 6, results
    assert len({b["id"] for b in created}) == 1


def test_purge_removes_only_expired_records(app, api_as, demo):
    api = api_as(BUYER)
    body = {"service_id": _service_id(api), "quantity": 1, "starts_on": "2026-12-01"}
    for key in ("old", "new"):
        api.client.post("/api/v1/bookings", json=body, headers={**api.headers, "Idempotency-Key": key})
    db.session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == "old")
        .values(created_at=IdempotencyRecord.created_at - timedelta(hours=25))
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["idempotency", "purge"])
    assert result.exit_code == 0 and "gelöscht: 1" in result.output
    db.session.expire_all()
    assert [r.key for r in db.session.scalars(select(IdempotencyRecord))] == ["new"]
