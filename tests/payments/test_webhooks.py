"""The Stripe webhook: signature (HMAC-SHA256 over `{t}.{body}`, constant-time, 300 s both ways), each event
applied once, and no secret in logs or answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import pytest

from marketplace.payments.events import WebhookRejected, verify_signature
from tests.payments.conftest import WEBHOOK_SECRET

URL = "/api/v1/payments/stripe/webhook"


def _signed(body: bytes, timestamp: int, secret: str = WEBHOOK_SECRET) -> str:
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def _event(event_id: str = "evt_1", event_type: str = "customer.created") -> bytes:
    return json.dumps({"id": event_id, "type": event_type, "data": {"object": {"id": "cus_1"}}}).encode()


@pytest.fixture
def secret(app):
    app.config["STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET


def _post(client, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(URL, data=body, headers=headers)


def test_a_correctly_signed_event_is_accepted_once(app, client, secret):
    body = _event()
    now = int(time.time())
    first = _post(client, body, _signed(body, now))
    assert first.status_code == 200 and first.get_json() == {"received": True, "duplicate": False}
    again = _post(client, body, _signed(body, now + 1))
    assert again.get_json() == {"received": True, "duplicate": True}


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_timestamps_outside_300_seconds_either_way_are_refused(app, client, secret, offset):
    body = _event()
    response = _post(client, body, _signed(body, int(time.time()) + offset))
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("offset", [-299, 299])
def test_timestamps_within_300_seconds_are_accepted(app, client, secret, offset):
    body = _event(f"evt_{offset}")
    assert _post(client, body, _signed(body, int(time.time()) + offset)).status_code == 200


def test_wrong_missing_or_tampered_signatures_are_refused(app, client, secret):
    body = _event()
    now = int(time.time())
    assert _post(client, body, None).status_code == 400
    assert _post(client, body, "t=abc,v1=00").status_code == 400
    assert _post(client, body, _signed(body, now, secret="whsec_other")).status_code == 400
    assert _post(client, body.replace(b"evt_1", b"evt_2"), _signed(body, now)).status_code == 400
    # one of several v1 signatures may match (Stripe sends two while a secret is rolled)
    good = _signed(body, now)
    assert _post(client, body, f"t={now},v1={'0' * 64},{good.split(',')[1]}").status_code == 200


def test_no_secret_and_no_signature_in_logs_or_answers(app, client, secret, caplog):
    body = _event("evt_log")
    signature = _signed(body, int(time.time()))
    with caplog.at_level(logging.DEBUG):
        _post(client, body, signature)
        bad = _post(client, body, _signed(body, int(time.time()), secret="whsec_wrong"))
    text = caplog.text + bad.text
    assert WEBHOOK_SECRET not in text and signature.split("v1=")[1] not in text


def test_without_a_configured_secret_nothing_is_applied(app, client):
    app.config["STRIPE_WEBHOOK_SECRET"] = None
    body = _event()
    assert _post(client, body, _signed(body, int(time.time()))).status_code == 400


def test_verify_signature_compares_in_constant_time(monkeypatch):
    calls = []
    original = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    body = b"{}"
    verify_signature(body, _signed(body, 1000), WEBHOOK_SECRET, now=1000)
    assert calls
    with pytest.raises(WebhookRejected):
        verify_signature(body, _signed(body, 1000), WEBHOOK_SECRET, now=1301)


def _object_event(event_type: str, obj: object, event_id: str = "evt_malformed") -> bytes:
    return json.dumps({"id": event_id, "type": event_type, "data": {"object": obj}}).encode()


MALFORMED = [
    b'{"id": {"x": 1}, "type": "payment_intent.succeeded"}',
    b'{"id": "evt_1", "type": 7}',
    b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": []}',
    b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": "pi_1"}}',
    b'{"id": "evt_1", "type": "payment_intent.succeeded"}',
    b'{"id": "evt\\u0000nul", "type": "payout.paid", "data": {"object": {"id": "po_1", "amount": 5}}}',
    _object_event("payment_intent.succeeded", {"id": {"nested": True}, "amount": 100}),
    _object_event("payment_intent.succeeded", {"id": "pi_1", "amount": "100"}),
    _object_event("payment_intent.succeeded", {"id": "pi_1", "amount": 1e30}),
    _object_event("payment_intent.succeeded", {"id": "pi_1", "amount": 10**30}),
    _object_event("payment_intent.succeeded", {"id": "pi_1", "amount": True}),
    _object_event("payment_intent.succeeded", {"id": "pi_1", "amount": 100, "metadata": ["debit_id", "1"]}),
    _object_event("payment_intent.payment_failed", {"id": "pi_1", "last_payment_error": "card declined"}),
    _object_event("payout.paid", {"id": "po_1", "amount": "12"}),
    _object_event("payout.paid", {"id": "po_1"}),
    _object_event("payout.paid", {"id": None, "amount": 12}),
]


@pytest.mark.parametrize("body", MALFORMED)
def test_a_signed_but_malformed_event_is_refused_with_400_and_not_recorded(app, client, secret, body):
    from sqlalchemy import func, select

    from marketplace.extensions import db
    from marketplace.payments.models import StripeEvent

    response = _post(client, body, _signed(body, int(time.time())))
    assert response.status_code == 400, response.text
    assert response.mimetype == "application/problem+json"
    assert "fehlerhaft" in response.get_json()["detail"] or "fehlt" in response.get_json()["detail"]
    # not marked as applied: Stripe's retry of a corrected event is still taken
    assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 0


def test_an_event_of_a_type_we_do_not_use_needs_only_its_id_and_type(app, client, secret):
    body = json.dumps({"id": "evt_other", "type": "charge.dispute.created", "data": {"object": "anything"}}).encode()
    response = _post(client, body, _signed(body, int(time.time())))
    assert response.status_code == 200 and response.get_json() == {"received": True, "duplicate": False}
