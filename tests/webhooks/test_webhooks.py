"""Outbound webhooks: events of a member's bookings reach its URL signed, failures are retried with
backoff, the member admin sees the delivery log, other members see nothing."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import Role
from marketplace.members.queries import user_by_email
from marketplace.webhooks.delivery import MAX_ATTEMPTS, retry_delay, send_due, verify_signature
from marketplace.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.conftest import csrf_token, login, release_invoices

BUYER = "einkauf@wiesbaden.example"
PROVIDER = "anbieter@kdz-mainz.example"


class Receiver:
    """A local HTTPS stand-in: records what arrives and answers with the queued statuses (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def admin(demo, create_user):
    member = user_by_email(BUYER).member
    return create_user(member, "admin@wiesbaden.example", [Role.MEMBER_ADMIN])


def _register(client, url: str) -> WebhookEndpoint:
    login(client, "admin@wiesbaden.example")
    page = client.get("/webhooks")
    assert page.status_code == 200
    created = client.post("/webhooks", data={"url": url, "description": "ERP", "csrf_token": csrf_token(page.text)})
    assert created.status_code == 200, created.text
    endpoint = db.session.scalar(select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc()))
    assert endpoint.secret in created.text
    return endpoint


def _request_booking(api_as) -> int:
    buyer = api_as(BUYER)
    service_id = buyer.get("/api/v1/services?q=Virtueller").get_json()["items"][0]["id"]
    response = buyer.post("/api/v1/bookings", json={"service_id": service_id, "quantity": 1, "starts_on": "2026-12-01"})
    assert response.status_code == 201
    return response.get_json()["id"]


def test_booking_events_are_delivered_signed(client, admin, receiver, api_as):
    endpoint = _register(client, receiver.url)
    booking_id = _request_booking(api_as)
    assert api_as(PROVIDER).post(f"/api/v1/bookings/{booking_id}/accept").status_code == 200

    result = send_due()
    assert result.delivered == 2 and result.retrying == 0
    types = []
    for headers, body in receiver.received:
        assert verify_signature(endpoint.secret, body, headers["Leistungsboerse-Signature"])
        assert not verify_signature("whsec_wrong", body, headers["Leistungsboerse-Signature"])
        payload = json.loads(body)
        assert payload["id"] == headers["Leistungsboerse-Event-Id"]
        assert payload["data"]["booking"]["id"] == booking_id
        types.append(payload["type"])
    assert types == ["booking.requested", "booking.accepted"]
    assert json.loads(receiver.received[1][1])["data"]["booking"]["unit_price"] is not None

    log = client.get(f"/webhooks/{endpoint.id}").text
    assert "booking.accepted" in log and "zugestellt" in log


def test_failures_are_retried_with_backoff_then_given_up(client, admin, receiver, api_as):
    _register(client, receiver.url)
    receiver.statuses = [500, 503]
    _request_booking(api_as)
    start = utcnow()
    assert send_due(now=start).retrying == 1
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.status is DeliveryStatus.PENDING and delivery.attempts == 1 and delivery.response_status == 500
    assert send_due(now=start + timedelta(seconds=10)).retrying == 0  # not due yet
    assert send_due(now=start + retry_delay(1)).retrying == 1
    assert send_due(now=start + retry_delay(1) + retry_delay(2)).delivered == 1
    db.session.refresh(delivery)
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 3
    # The same event id on every attempt, so receivers can deduplicate.
    assert len({headers["Leistungsboerse-Event-Id"] for headers, _ in receiver.received}) == 1

    assert [retry_delay(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_delay(30) == timedelta(hours=6)

    receiver.statuses = [500] * MAX_ATTEMPTS
    _request_booking(api_as)
    moment = utcnow()
    for _ in range(MAX_ATTEMPTS):
        moment += timedelta(hours=7)
        send_due(now=moment)
    failed = db.session.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()))
    assert failed.status is DeliveryStatus.FAILED and failed.attempts == MAX_ATTEMPTS


def test_other_members_get_no_events_and_cannot_see_the_log(client, admin, receiver, api_as, create_user):
    endpoint = _register(client, receiver.url)
    # Landkreis's booking concerns Wiesbaden in no way.
    ladadi = api_as("einkauf@ladadi.example")
    service_id = ladadi.get("/api/v1/services").get_json()["items"][0]["id"]
    ladadi.post("/api/v1/bookings", json={"service_id": service_id, "quantity": 1, "starts_on": "2026-12-01"})
    assert db.session.scalar(select(WebhookDelivery)) is None

    other_admin = create_user(
        user_by_email("einkauf@ladadi.example").member, "admin@ladadi.example", [Role.MEMBER_ADMIN]
    )
    assert other_admin is not None
    other = client.application.test_client()
    login(other, "admin@ladadi.example")
    assert other.get(f"/webhooks/{endpoint.id}").status_code == 404
    buyer = client.application.test_client()
    login(buyer, BUYER)
    assert buyer.get("/webhooks").status_code == 403


def test_internal_addresses_are_refused_in_production(client, admin, app, api_as):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    page_client = client
    login(page_client, "admin@wiesbaden.example")
    page = page_client.get("/webhooks")
    refused = page_client.post("/webhooks", data={"url": "http://127.0.0.1:9/x", "csrf_token": csrf_token(page.text)})
    assert refused.status_code == 422
    endpoint = WebhookEndpoint(
        member_id=user_by_email(BUYER).member_id, url="https://127.0.0.1/x", secret="whsec_x", description=""
    )
    db.session.add(endpoint)
    db.session.commit()
    _request_booking(api_as)
    assert send_due().retrying == 1
    delivery = db.session.scalar(select(WebhookDelivery))
    assert "internes Netz" in delivery.last_error


def test_ping_and_cli(client, admin, receiver, app):
    endpoint = _register(client, receiver.url)
    page = client.get(f"/webhooks/{endpoint.id}")
    assert client.post(f"/webhooks/{endpoint.id}/ping", data={"csrf_token": csrf_token(page.text)}).status_code == 302
    result = app.test_cli_runner().invoke(args=["webhooks", "send"])
    assert result.exit_code == 0 and "zugestellt: 1" in result.output
    assert json.loads(receiver.received[0][1])["type"] == "ping"


def test_settlement_events_reach_members_with_a_position(client, admin, receiver, api_as):
    endpoint = _register(client, receiver.url)
    operator = api_as("betrieb@kopit.example")
    closed = sorted({i["period"] for i in operator.get("/api/v1/invoices").get_json()["items"]})[0]
    release_invoices(closed)
    created = operator.post("/api/v1/settlements", json={"period": closed})
    assert created.status_code == 201
    positions = {p["member_id"] for p in created.get_json()["positions"]}
    deliveries = list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)))
    assert endpoint.member_id in positions  # Wiesbaden was charged in the demo's closed month
    assert [d.event_type for d in deliveries] == ["settlement.created"]
    data = deliveries[0].payload["data"]["settlement"]
    assert data["id"] == created.get_json()["id"] and data["period"] == closed
    assert data["instructions"], "Wiesbaden owes KDZ Mainz"
    # Only the member's own position and payments, never the other members'.
    assert all(endpoint.member_id in (i["debtor_member_id"], i["creditor_member_id"]) for i in data["instructions"])
    assert send_due().delivered == 1


def test_signature_binds_body_and_time():
    from marketplace.webhooks.delivery import sign

    body = b'{"id":"1"}'
    header = sign("whsec_test", body, 1_800_000_000)
    assert verify_signature("whsec_test", body, header, now=1_800_000_100)
    assert not verify_signature("whsec_test", body + b" ", header, now=1_800_000_100)
    assert not verify_signature("whsec_test", body, header, now=1_800_000_000 + 301)  # replayed later
    assert not verify_signature("whsec_test", body, "t=abc,v1=00", now=1_800_000_000)


def test_transitions_by_date_reach_the_members_with_the_state_of_their_own_moment(client, admin, receiver, api_as):
    """The daily job moves bookings set-based; each transition is still one event per booking, and a booking
    that went accepted -> active -> ended in one run reports "active" and then "ended"."""
    from datetime import date

    from marketplace.bookings.operations import advance_booking_statuses

    _register(client, receiver.url)
    buyer = api_as(BUYER)
    service_id = buyer.get("/api/v1/services?q=Virtueller").get_json()["items"][0]["id"]
    created = buyer.post(
        "/api/v1/bookings",
        json={"service_id": service_id, "quantity": 1, "starts_on": "2026-11-20", "ends_on": "2026-11-25"},
    )
    booking_id = created.get_json()["id"]
    assert api_as(PROVIDER).post(f"/api/v1/bookings/{booking_id}/accept").status_code == 200
    db.session.remove()

    assert advance_booking_statuses(date(2026, 11, 26)) == 2
    db.session.commit()
    deliveries = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    moved = [(d.event_type, d.payload["data"]["booking"]["status"]) for d in deliveries[-2:]]
    assert moved == [("booking.active", "active"), ("booking.ended", "ended")]
    assert all(d.payload["data"]["booking"]["id"] == booking_id for d in deliveries[-2:])
    assert advance_booking_statuses(date(2026, 11, 26)) == 0
    db.session.commit()
    assert db.session.scalar(select(db.func.count()).select_from(WebhookDelivery)) == len(deliveries)
