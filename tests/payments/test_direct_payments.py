"""The direct way: a debtor pays its creditors itself (its own pain.001 file) and operator finance books
it; mixed with collection through the operator, payouts cover only what the operator collected."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Transfer, TransferKind
from marketplace.ledger.queries import verify_ledger
from tests.conftest import csrf_token, login, release_invoices
from tests.payments.conftest import API_KEY, WEBHOOK_SECRET


def _approved(api_as) -> dict:
    release_invoices("2026-08")
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    return settlement


def _clearing(member_id: int) -> int:
    return db.session.scalar(
        select(Account.balance_cents).where(Account.member_id == member_id, Account.kind == AccountKind.CLEARING)
    )


def _book_direct(client, settlement_id: int, instruction_id: int):
    page = client.get(f"/settlements/{settlement_id}")
    return client.post(
        f"/settlements/{settlement_id}/instructions/{instruction_id}/direct",
        data={"csrf_token": csrf_token(page.text)},
    )


def test_direct_payments_clear_positions_without_touching_the_operators_accounts(app, demo, client, api_as):
    settlement = _approved(api_as)
    positions = {p["member_id"]: int(p["amount"].replace(".", "")) for p in settlement["positions"]}
    before = {m: _clearing(m) for m in positions}
    login(client, "betrieb@kopit.example")
    for instruction in settlement["instructions"]:
        assert _book_direct(client, settlement["id"], instruction["id"]).status_code == 302
    state = api_as("betrieb@kopit.example").get(f"/api/v1/settlements/{settlement['id']}").get_json()
    assert state["status"] == "paid"
    for member, amount in positions.items():
        assert _clearing(member) == before[member] - amount
    assert (
        db.session.scalar(select(func.count()).select_from(Transfer).where(Transfer.kind == TransferKind.PAYOUT)) == 0
    )
    operator_accounts = db.session.scalars(
        select(Account.balance_cents).where(Account.kind.in_([AccountKind.BANK, AccountKind.IN_TRANSIT]))
    ).all()
    assert set(operator_accounts) == {0}
    # booking the same instruction again is refused
    again = _book_direct(client, settlement["id"], settlement["instructions"][0]["id"])
    assert again.status_code == 302
    assert db.session.scalar(
        select(func.count()).select_from(Transfer).where(Transfer.kind == TransferKind.PAYMENT)
    ) == len(settlement["instructions"])
    assert verify_ledger().ok


def test_mixed_collection_pays_out_only_what_the_operator_collected(
    app, every_buyer_debits, demo, client, api_as, fault_server
):
    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    settlement = _approved(api_as)
    [first, *rest] = settlement["instructions"]
    login(client, "betrieb@kopit.example")
    _book_direct(client, settlement["id"], first["id"])
    body = api_as("betrieb@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    assert {p["debtor_member_id"] for p in body["payments"]} == {i["debtor_member_id"] for i in rest}
    for payment in body["payments"]:
        event = {
            "id": f"evt_{payment['payment_intent_id']}",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": payment["payment_intent_id"], "amount": int(payment["amount"].replace(".", ""))}},
        }
        raw = json.dumps(event).encode()
        now = int(time.time())
        signature = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.".encode() + raw, hashlib.sha256).hexdigest()
        response = client.post(
            "/api/v1/payments/stripe/webhook",
            data=raw,
            headers={"Stripe-Signature": f"t={now},v1={signature}", "Content-Type": "application/json"},
        )
        assert response.status_code == 200
    state = api_as("betrieb@kopit.example").get(f"/api/v1/settlements/{settlement['id']}").get_json()
    assert state["status"] == "paid"
    payouts = db.session.scalars(select(Transfer).where(Transfer.kind == TransferKind.PAYOUT)).all()
    assert sum(t.amount_cents for t in payouts) == sum(int(i["amount"].replace(".", "")) for i in rest)
    # what came in through Stripe equals what went out to the creditors
    in_transit, bank = (
        db.session.scalar(select(func.sum(Account.balance_cents)).where(Account.kind == kind))
        for kind in (AccountKind.IN_TRANSIT, AccountKind.BANK)
    )
    assert in_transit + bank == 0
    assert db.session.scalar(select(func.sum(Account.balance_cents))) == 0
