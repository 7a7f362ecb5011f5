"""A debtor's own pain.001 file is not offered while its instructions are collected by direct debit or
once the debit succeeded (a transfer would pay a second time); a failed debit reopens the instructions and
with them the file, with the same message id as before."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from lxml import etree

from tests.conftest import login
from tests.payments.conftest import API_KEY, WEBHOOK_SECRET

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}


def _event(client, kind: str, intent: dict) -> None:
    data = {"id": intent["payment_intent_id"], "amount": int(intent["amount"].replace(".", ""))}
    if kind == "payment_intent.payment_failed":
        data["last_payment_error"] = {"message": "Konto erloschen"}
    raw = json.dumps({"id": f"evt_{kind}_{data['id']}", "type": kind, "data": {"object": data}}).encode()
    now = int(time.time())
    signature = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.".encode() + raw, hashlib.sha256).hexdigest()
    response = client.post(
        "/api/v1/payments/stripe/webhook",
        data=raw,
        headers={"Stripe-Signature": f"t={now},v1={signature}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


def _msg_id(raw: bytes) -> str:
    return etree.fromstring(raw).findtext(".//p:GrpHdr/p:MsgId", namespaces=NS)


def test_collected_debtors_get_no_file_until_a_failed_debit_reopens_it(
    app, every_buyer_debits, demo, client, api_as, fault_server
):
    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    operator = api_as("betrieb@kopit.example")
    settlement = operator.post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    debtors = sorted({i["debtor_member_id"] for i in settlement["instructions"]})
    login(client, "betrieb@kopit.example")
    urls = {d: f"/settlements/{settlement['id']}/sepa/{d}.xml" for d in debtors}
    before = {d: _msg_id(client.get(url).data) for d, url in urls.items()}

    body = operator.post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    for url in urls.values():
        refused = client.get(url)
        assert refused.status_code == 409 and "per Lastschrift eingezogen" in refused.text
    page = client.get(f"/settlements/{settlement['id']}").text
    assert not any(url in page for url in urls.values())

    [first, *rest] = body["payments"]
    _event(client, "payment_intent.payment_failed", first)
    for payment in rest:
        _event(client, "payment_intent.succeeded", payment)
    reopened = client.get(urls[first["debtor_member_id"]])
    assert reopened.status_code == 200
    assert _msg_id(reopened.data) == before[first["debtor_member_id"]]  # the bank sees the same message
    for payment in rest:
        paid = client.get(urls[payment["debtor_member_id"]])
        assert paid.status_code == 409 and "bereits bezahlt" in paid.text
