"""Collecting a settlement through Stripe (localstripe) debits what the debtors' released documents say, never
an invoice the buyer objected to: each debit is the debtor's advice position, to the cent."""

from __future__ import annotations

from decimal import Decimal

import requests
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind
from marketplace.ledger.queries import verify_ledger
from marketplace.members.models import Member
from marketplace.settlement.models import Invoice
from tests.conftest import release_invoices
from tests.payments.conftest import API_KEY
from tests.settlement.conftest import user


def _cents(text: str) -> int:
    return int(Decimal(text) * 100)


def _clearing(member_id: int) -> int:
    return db.session.scalar(
        select(Account.balance_cents).where(Account.member_id == member_id, Account.kind == AccountKind.CLEARING)
    )


def test_an_objected_invoice_is_not_collected(app, every_buyer_debits, demo, api_as, stripe_config):
    from marketplace.ledger.models import Period, PeriodStatus
    from marketplace.monthend.close import close_period

    if db.session.get(Period, "2026-09") is None or db.session.get(Period, "2026-09").status is not PeriodStatus.CLOSED:
        close_period(user("betrieb@kopit.example"), "2026-09")  # the demo billed September already
        db.session.commit()
    wiesbaden = db.session.scalar(select(Member).where(Member.name == "Stadt Wiesbaden"))
    ekom = db.session.scalar(select(Member).where(Member.name == "ekom21"))
    [objected] = db.session.scalars(
        select(Invoice).where(
            Invoice.period == "2026-09", Invoice.provider_id == ekom.id, Invoice.buyer_id == wiesbaden.id
        )
    ).all()
    release_invoices(ids=[objected.id], status="objected")
    release_invoices()
    owed_in_ledger = -_clearing(wiesbaden.id)  # everything Wiesbaden was charged, the objected invoices too
    # the objected invoices (this one, and any the demo's correction case holds) are not to be collected
    withheld = sum(
        i.gross_cents
        for i in db.session.scalars(
            select(Invoice).where(Invoice.buyer_id == wiesbaden.id, Invoice.release_status != "released")
        )
    )
    assert withheld >= objected.gross_cents

    operator = api_as("betrieb@kopit.example")
    settlement = operator.post("/api/v1/settlements", json={"period": "2026-09"}).get_json()
    assert api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve").status_code == 200
    advice = operator.get(f"/api/v1/settlements/{settlement['id']}/advices/{wiesbaden.id}").get_json()
    assert objected.id not in {d["invoice_id"] for d in advice["documents"]}
    collected = operator.post(f"/api/v1/settlements/{settlement['id']}/collect")
    assert collected.status_code == 200, collected.text
    payments = {p["debtor_member_id"]: p for p in collected.get_json()["payments"]}
    instructed: dict[int, int] = {}
    for instruction in settlement["instructions"]:
        debtor = instruction["debtor_member_id"]
        instructed[debtor] = instructed.get(debtor, 0) + _cents(instruction["amount"])
    # one debit per debtor, exactly its instructions, which are exactly its advice's position
    assert {member: _cents(p["amount"]) for member, p in payments.items()} == instructed
    assert instructed[wiesbaden.id] == -_cents(advice["position"])
    assert instructed[wiesbaden.id] == owed_in_ledger - withheld
    intent = requests.get(
        f"{stripe_config}/v1/payment_intents/{payments[wiesbaden.id]['payment_intent_id']}",
        auth=(API_KEY, ""),
        timeout=5,
    ).json()
    assert intent["amount"] == owed_in_ledger - withheld
    assert verify_ledger().ok
