"""The requests-based Stripe client: retries with one Idempotency-Key against a server that misbehaves on
purpose, typed errors, a clear state after giving up, and the contract with Stripe's own encoder."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from stripe._encode import _api_encode  # test-only dependency: the application never imports stripe

from marketplace.payments.stripe_client import (
    STRIPE_VERSION,
    APIConnectionError,
    APIError,
    CardError,
    RateLimitError,
    StripeClient,
    encode,
)
from tests.conftest import release_invoices
from tests.payments.conftest import API_KEY

PARAMS = StripeClient.payment_intent_params(
    amount_cents=123456,
    customer_id="cus_1",
    payment_method_id="pm_1",
    description="Leistungsbörse Verrechnung 2026-08",
    metadata={"settlement_id": 7, "debtor_member_id": 4, "debit_id": 9},
)


def _client(url: str, delays: list[float]) -> StripeClient:
    return StripeClient(
        API_KEY, url, timeout=(1.0, 0.3), max_retries=4, backoff_base=0.5, backoff_max=8.0, sleep=delays.append
    )


def test_every_fault_is_retried_with_the_same_key_and_makes_one_payment_intent(fault_server):
    fault_server.plan = ["timeout", "500", "409", "429"]
    delays: list[float] = []
    intent = _client(fault_server.url, delays).create_payment_intent(PARAMS, idempotency_key="lb-debit-1-4-1")
    assert intent["id"] == "pi_fault_1"
    tries = fault_server.intent_requests
    assert len(tries) == 5
    assert {t["key"] for t in tries} == {"lb-debit-1-4-1"}
    assert {t["auth"] for t in tries} == {f"Bearer {API_KEY}"}
    assert {t["version"] for t in tries} == {STRIPE_VERSION}
    assert len(fault_server.intents) == 1
    # exponential backoff with jitter: attempt n waits between 50 % and 100 % of 0.5 s · 2^n
    assert len(delays) == 4
    for attempt, delay in enumerate(delays):
        assert 0.5 * 0.5 * 2**attempt <= delay <= 0.5 * 2**attempt


def test_a_key_made_by_the_client_is_also_reused_on_retries(fault_server):
    fault_server.plan = ["500", "500"]
    StripeClient(API_KEY, fault_server.url, sleep=lambda _s: None)._request("POST", "/v1/payment_intents", PARAMS)
    keys = {t["key"] for t in fault_server.intent_requests}
    assert len(keys) == 1 and None not in keys


def test_giving_up_raises_a_typed_error_after_the_last_try(fault_server):
    fault_server.plan = ["500"] * 10
    client = _client(fault_server.url, [])
    with pytest.raises(APIError) as raised:
        client.create_payment_intent(PARAMS, idempotency_key="k1")
    assert raised.value.status == 500 and raised.value.message == "Interner Fehler"
    assert len(fault_server.intent_requests) == 5

    fault_server.plan = ["timeout"] * 10
    with pytest.raises(APIConnectionError):
        client.create_payment_intent(PARAMS, idempotency_key="k2")
    assert {t["key"] for t in fault_server.intent_requests[5:]} == {"k2"}
    assert fault_server.intents == {}


def test_stripe_should_retry_decides_and_errors_are_typed(fault_server):
    client = _client(fault_server.url, [])
    fault_server.plan = ["500-no-retry"]
    with pytest.raises(APIError):
        client.create_payment_intent(PARAMS, idempotency_key="a")
    assert len(fault_server.intent_requests) == 1
    fault_server.plan = ["429-plain"]
    with pytest.raises(RateLimitError):
        client.create_payment_intent(PARAMS, idempotency_key="b")
    assert len(fault_server.intent_requests) == 2
    fault_server.plan = ["402"]
    with pytest.raises(CardError) as raised:
        client.create_payment_intent(PARAMS, idempotency_key="c")
    assert raised.value.code == "payment_method_declined" and raised.value.status == 402


def test_the_key_never_appears_in_the_clients_repr_or_errors(fault_server):
    client = _client(fault_server.url, [])
    fault_server.plan = ["500"] * 10
    with pytest.raises(APIError) as raised:
        client.create_payment_intent(PARAMS, idempotency_key="z")
    assert API_KEY not in repr(client) and API_KEY not in str(raised.value)


def test_collect_after_giving_up_leaves_a_clear_state_and_retries_with_the_same_key(
    app, every_buyer_debits, demo, api_as, fault_server
):
    from sqlalchemy import select

    from marketplace.extensions import db
    from marketplace.payments.models import Debit, DebitStatus

    app.config.update(
        STRIPE_API_BASE=fault_server.url,
        STRIPE_API_KEY=API_KEY,
        STRIPE_READ_TIMEOUT=0.3,
        STRIPE_MAX_RETRIES=2,
        STRIPE_BACKOFF_BASE=0.01,
    )
    release_invoices("2026-08")
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    debtors = {i["debtor_member_id"] for i in settlement["instructions"]}
    fault_server.plan = ["timeout", "500", "409"] * len(debtors)  # every try of every debtor fails
    operator = api_as("betrieb@kopit.example")
    response = operator.post(f"/api/v1/settlements/{settlement['id']}/collect")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "collecting"
    assert {p["status"] for p in body["payments"]} == {"pending"}
    assert all("denselben Schlüssel" in p["last_error"] for p in body["payments"])
    assert {i["status"] for i in body["instructions"]} == {"collecting"}
    assert fault_server.intents == {}
    first_keys = [t["key"] for t in fault_server.intent_requests]
    assert len(first_keys) == 3 * len(debtors)

    # Stripe is back: collecting again sends each debtor's stored key once more, nothing else
    fault_server.plan = []
    body = operator.post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    assert {p["status"] for p in body["payments"]} == {"processing"}
    assert len(fault_server.intents) == len(debtors)
    assert set(fault_server.intents) == set(first_keys)
    stored = set(db.session.scalars(select(Debit.idempotency_key)))
    assert stored == set(first_keys)
    assert db.session.scalar(select(Debit.status).limit(1)) is DebitStatus.PROCESSING
    # and a third collect sends nothing at all
    sent = len(fault_server.intent_requests)
    operator.post(f"/api/v1/settlements/{settlement['id']}/collect")
    assert len(fault_server.intent_requests) == sent


@pytest.mark.parametrize(
    "params",
    [
        PARAMS,
        {"name": "Stadt Wiesbaden", "email": "kasse@wiesbaden.example", "metadata": {"member_id": 4}},
        {"type": "sepa_debit", "sepa_debit": {"iban": "DE89370400440532013000"}, "billing_details": {"name": "X"}},
        {
            "a": [{"b": 1, "c": ["x", "y"], "t": True}, {"d": None, "e": "ä ö"}],
            "f": {"g": {"h": [1, 2]}},
            "skip": None,
            "when": datetime(2026, 11, 16, 12, 0, tzinfo=UTC),
            "flag": False,
        },
    ],
)
def test_encoding_equals_the_stripe_packages_own_encoder(params):
    """(Booleans directly inside lists are left out: the stripe package sends them as ``True``, we send
    ``true`` as everywhere else; no call of ours has such a list.)"""
    assert urlencode(encode(params)) == urlencode(list(_api_encode(params)))


def test_a_wrong_api_key_is_an_authentication_error_and_leaves_debits_pending(
    app, every_buyer_debits, demo, api_as, localstripe
):
    from marketplace.payments.stripe_client import AuthenticationError

    with pytest.raises(AuthenticationError):
        StripeClient("sk_", localstripe, sleep=lambda _s: None).retrieve_payment_intent("pi_x")

    release_invoices("2026-08")

    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    operator = api_as("betrieb@kopit.example")
    # no key configured: refused before anything changes
    app.config.update(STRIPE_API_BASE=localstripe, STRIPE_API_KEY=None)
    refused = operator.post(f"/api/v1/settlements/{settlement['id']}/collect")
    assert refused.status_code == 409 and "STRIPE_API_KEY" in refused.get_json()["detail"]
    assert operator.get(f"/api/v1/settlements/{settlement['id']}").get_json()["status"] == "approved"
    # a key Stripe does not accept: our fault, not the debtors'; their debits wait with their keys
    app.config.update(STRIPE_API_KEY="xx_wrong")
    body = operator.post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    assert body["status"] == "collecting"
    assert {p["status"] for p in body["payments"]} == {"pending"}
    assert {i["status"] for i in body["instructions"]} == {"collecting"}
