"""Collection through the Stripe client against localstripe (a stateful Stripe mock): the full SEPA Direct
Debit flow with its webhooks, a failing IBAN, and collecting twice."""

from __future__ import annotations

import requests
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Transfer, TransferKind
from marketplace.ledger.queries import verify_ledger
from marketplace.members.models import InvoiceProfile, Member
from marketplace.payments.models import Debit, DebitStatus, StripeCustomer
from tests.conftest import release_invoices
from tests.payments.conftest import API_KEY

FAILING_IBAN = "DE62370400440532013001"


def _approved_settlement(api_as) -> dict:
    release_invoices("2026-08")
    created = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"})
    assert created.status_code == 201, created.text
    settlement = created.get_json()
    approved = api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    assert approved.status_code == 200
    return settlement


def _deliver(client, inbox_item) -> dict:
    headers, body, _event = inbox_item
    response = client.post(
        "/api/v1/payments/stripe/webhook",
        data=body,
        headers={"Stripe-Signature": headers["Stripe-Signature"], "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return response.get_json()


def _for_intents(intent_ids: set[str], event_type: str):
    return lambda event: event["type"] == event_type and event["data"]["object"]["id"] in intent_ids


def _clearing(member_id: int) -> int:
    return db.session.scalar(
        select(Account.balance_cents).where(Account.member_id == member_id, Account.kind == AccountKind.CLEARING)
    )


def test_full_sepa_flow_collects_each_debtor_once_and_books_payments_and_payouts(
    app, every_buyer_debits, demo, client, api_as, stripe_config, webhook_inbox
):
    settlement = _approved_settlement(api_as)
    positions = {p["member_id"]: int(p["amount"].replace(".", "")) for p in settlement["positions"]}
    before = {member: _clearing(member) for member in positions}
    operator = api_as("betrieb@kopit.example")
    collected = operator.post(f"/api/v1/settlements/{settlement['id']}/collect")
    assert collected.status_code == 200, collected.text
    body = collected.get_json()
    assert body["status"] == "collecting"
    debtors = {i["debtor_member_id"] for i in settlement["instructions"]}
    assert {p["debtor_member_id"] for p in body["payments"]} == debtors
    assert all(p["status"] == "processing" and p["payment_intent_id"] for p in body["payments"])
    intents = {p["payment_intent_id"] for p in body["payments"]}

    # one customer per member, the PaymentIntent as Stripe holds it
    assert db.session.scalar(select(func.count()).select_from(StripeCustomer)) == len(debtors)
    for payment in body["payments"]:
        intent = requests.get(
            f"{stripe_config}/v1/payment_intents/{payment['payment_intent_id']}", auth=(API_KEY, ""), timeout=5
        ).json()
        assert intent["amount"] == int(payment["amount"].replace(".", ""))
        assert intent["currency"] == "eur"

    # collecting again while the debits are processing sends nothing new
    again = operator.post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    assert {p["payment_intent_id"] for p in again["payments"]} == intents

    events = webhook_inbox.wait_for(_for_intents(intents, "payment_intent.succeeded"), count=len(intents))
    for item in events:
        assert _deliver(client, item) == {"received": True, "duplicate": False}
    # the same event again is applied once
    assert _deliver(client, events[0]) == {"received": True, "duplicate": True}

    done = operator.get(f"/api/v1/settlements/{settlement['id']}").get_json()
    assert done["status"] == "paid"
    assert {i["status"] for i in done["instructions"]} == {"paid"}
    # every position is cleared to the cent: payments from debtors, payouts to creditors
    for member, amount in positions.items():
        assert _clearing(member) == before[member] - amount
    payments = db.session.scalars(select(Transfer).where(Transfer.kind == TransferKind.PAYMENT)).all()
    payouts = db.session.scalars(select(Transfer).where(Transfer.kind == TransferKind.PAYOUT)).all()
    assert len(payments) == len(debtors)
    assert sum(t.amount_cents for t in payments) == sum(t.amount_cents for t in payouts)
    assert sum(t.amount_cents for t in payments) == sum(-a for a in positions.values() if a < 0)
    assert db.session.scalar(select(func.sum(Account.balance_cents))) == 0
    assert verify_ledger().ok  # hash chain and cached balances hold
    # a paid settlement cannot be collected again
    assert operator.post(f"/api/v1/settlements/{settlement['id']}/collect").status_code == 409


def test_a_failing_iban_reopens_its_instructions_and_a_new_attempt_collects_it(
    app, every_buyer_debits, demo, client, api_as, stripe_config, webhook_inbox
):
    ladadi = db.session.scalar(select(Member).where(Member.name == "Landkreis Darmstadt-Dieburg"))
    mandate = db.session.get(InvoiceProfile, ladadi.id)  # the account debited is the one of the mandate
    good_iban = mandate.mandate_iban
    mandate.mandate_iban = FAILING_IBAN
    db.session.commit()
    settlement = _approved_settlement(api_as)
    assert ladadi.id in {i["debtor_member_id"] for i in settlement["instructions"]}
    operator = api_as("betrieb@kopit.example")
    body = operator.post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    intents = {p["debtor_member_id"]: p["payment_intent_id"] for p in body["payments"]}

    failed = webhook_inbox.wait_for(_for_intents({intents[ladadi.id]}, "payment_intent.payment_failed"))
    _deliver(client, failed[0])
    others = {pi for member, pi in intents.items() if member != ladadi.id}
    for item in webhook_inbox.wait_for(_for_intents(others, "payment_intent.succeeded"), count=len(others)):
        _deliver(client, item)

    state = operator.get(f"/api/v1/settlements/{settlement['id']}").get_json()
    assert state["status"] == "failed"
    mine = [i for i in state["instructions"] if i["debtor_member_id"] == ladadi.id]
    assert mine and {i["status"] for i in mine} == {"open"}
    [debit] = [p for p in state["payments"] if p["debtor_member_id"] == ladadi.id]
    assert debit["status"] == "failed" and debit["last_error"]
    assert (
        db.session.scalar(select(func.count()).select_from(Transfer).where(Transfer.kind == TransferKind.PAYOUT)) == 0
    )

    # the member gives a working IBAN; collecting again makes attempt 2 for this debtor only
    db.session.get(InvoiceProfile, ladadi.id).mandate_iban = good_iban
    db.session.commit()
    retry = operator.post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    attempts = [p for p in retry["payments"] if p["debtor_member_id"] == ladadi.id]
    assert [p["attempt"] for p in attempts] == [1, 2]
    assert len([p for p in retry["payments"] if p["debtor_member_id"] != ladadi.id]) == len(others)
    second = attempts[1]["payment_intent_id"]
    for item in webhook_inbox.wait_for(_for_intents({second}, "payment_intent.succeeded")):
        _deliver(client, item)
    assert operator.get(f"/api/v1/settlements/{settlement['id']}").get_json()["status"] == "paid"
    keys = db.session.scalars(select(Debit.idempotency_key).where(Debit.debtor_member_id == ladadi.id)).all()
    assert len(set(keys)) == 2
    assert db.session.scalar(select(func.sum(Account.balance_cents))) == 0


def test_the_settlement_page_collects_and_shows_the_debits(
    app, every_buyer_debits, demo, client, api_as, stripe_config
):
    from tests.conftest import csrf_token, login

    settlement = _approved_settlement(api_as)
    login(client, "betrieb@kopit.example")
    page = client.get(f"/settlements/{settlement['id']}")
    assert "Per Lastschrift einziehen" in page.text
    response = client.post(f"/settlements/{settlement['id']}/collect", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    page = client.get(f"/settlements/{settlement['id']}")
    assert "Lastschriften" in page.text and "In Bearbeitung" in page.text
    statuses = db.session.scalars(select(Debit.status)).all()
    assert statuses and set(statuses) == {DebitStatus.PROCESSING}
