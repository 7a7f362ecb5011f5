"""Collecting and webhooks under concurrency: two operators pressing "collect" at once, and Stripe
delivering the same event twice at once, on the real database (threads, one connection each)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time

from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.payments.models import Debit, StripeEvent
from tests.conftest import release_invoices
from tests.payments.conftest import API_KEY, WEBHOOK_SECRET


def _run_together(calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_collects_at_once_make_one_payment_intent_per_debtor(app, every_buyer_debits, demo, api_as, fault_server):
    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY)
    release_invoices("2026-08")
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    debtors = {i["debtor_member_id"] for i in settlement["instructions"]}
    first, second = api_as("betrieb@kopit.example"), api_as("pruefung@kopit.example")
    db.session.remove()
    path = f"/api/v1/settlements/{settlement['id']}/collect"

    def collect(api):
        def call():
            with app.app_context():
                client = app.test_client()
                return client.post(path, headers=api.headers).status_code

        return call

    statuses = _run_together([collect(first), collect(second)])
    assert statuses == [200, 200]
    assert len(fault_server.intents) == len(debtors)
    assert db.session.scalar(select(func.count()).select_from(Debit)) == len(debtors)
    # whatever was sent twice was sent with the same key
    keys = [r["key"] for r in fault_server.intent_requests]
    assert set(keys) == set(db.session.scalars(select(Debit.idempotency_key)))


def test_the_same_event_delivered_twice_at_once_is_applied_once(app, every_buyer_debits, demo, api_as, fault_server):
    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    release_invoices("2026-08")
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    body = api_as("betrieb@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    payment = body["payments"][0]
    event = {
        "id": "evt_twice",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": payment["payment_intent_id"],
                "amount": int(payment["amount"].replace(".", "")),
                "status": "succeeded",
            }
        },
    }
    raw = json.dumps(event).encode()
    now = int(time.time())
    signature = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.".encode() + raw, hashlib.sha256).hexdigest()
    headers = {"Stripe-Signature": f"t={now},v1={signature}", "Content-Type": "application/json"}
    db.session.remove()

    def deliver():
        with app.app_context():
            response = app.test_client().post("/api/v1/payments/stripe/webhook", data=raw, headers=headers)
            return response.status_code, response.get_json()

    results = _run_together([deliver, deliver])
    assert [status for status, _ in results] == [200, 200]
    assert sorted(answer["duplicate"] for _, answer in results) == [False, True]
    assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 1
    payments = db.session.scalars(select(Transfer).where(Transfer.kind == TransferKind.PAYMENT)).all()
    assert len(payments) == 1 and payments[0].amount_cents == event["data"]["object"]["amount"]


def test_collect_and_direct_payments_of_one_settlement_at_once_pay_each_instruction_once(
    app, every_buyer_debits, demo, api_as, fault_server
):
    """The operator collects while a colleague books the same debtors' direct payments: each instruction is
    paid one way only, the debits ask for exactly what was not paid directly, and the ledger stays whole."""
    from tests.concurrency.conftest import Call, assert_ledger_whole, together

    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY)
    operator, second = api_as("betrieb@kopit.example"), api_as("pruefung@kopit.example")
    release_invoices("2026-08")
    settlement = operator.post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    assert second.post(f"/api/v1/settlements/{settlement['id']}/approve").status_code == 200
    page = f"/settlements/{settlement['id']}"
    calls = [Call(f"/api/v1/settlements/{settlement['id']}/collect", operator.headers["Authorization"][7:])] + [
        Call(f"{page}/instructions/{i['id']}/direct", login="pruefung@kopit.example", form_page=page, delay=0.002 * n)
        for n, i in enumerate(settlement["instructions"])
    ]
    collect, *directs = together(app, calls)
    assert collect.status in (200, 409), collect.body
    assert {a.status for a in directs} == {302}
    db.session.remove()
    paid_directly = set(
        db.session.scalars(select(Transfer.idempotency_key).where(Transfer.idempotency_key.like("direct:%")))
    )
    owed: dict[int, int] = {}
    for instruction in settlement["instructions"]:
        if f"direct:{instruction['id']}" not in paid_directly:
            cents = int(instruction["amount"].replace(".", ""))
            owed[instruction["debtor_member_id"]] = owed.get(instruction["debtor_member_id"], 0) + cents
    debits = {d.debtor_member_id: d.amount_cents for d in db.session.scalars(select(Debit))}
    assert debits == owed
    assert len(fault_server.intents) == len(owed)
    assert_ledger_whole()


def test_two_collects_at_once_debit_only_the_debit_member(app, demo_landkreis_transfers, api_as, fault_server):
    """The lock on the settlement and its instructions orders the two: one PaymentIntent for Wiesbaden, none
    for the Landkreis (which pays by transfer), whose instruction stays open; both answers say so."""
    from marketplace.members.models import Member
    from tests.payments.conftest import LADADI, WIESBADEN

    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY)
    release_invoices("2026-08")
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    first, second = api_as("betrieb@kopit.example"), api_as("pruefung@kopit.example")
    wiesbaden, ladadi = (db.session.scalar(select(Member.id).where(Member.name == n)) for n in (WIESBADEN, LADADI))
    db.session.remove()
    path = f"/api/v1/settlements/{settlement['id']}/collect"

    def collect(api):
        def call():
            with app.app_context():
                response = app.test_client().post(path, headers=api.headers)
                return response.status_code, response.get_json()

        return call

    answers = _run_together([collect(first), collect(second)])
    assert [status for status, _body in answers] == [200, 200]
    # each saw Wiesbaden's one debit: sent by itself, or already under way (a pending one is sent again with
    # its key, so the same PaymentIntent)
    assert [body["collection"]["submitted"] + body["collection"]["running"] for _s, body in answers] == [1, 1]
    assert all([p["member_id"] for p in body["collection"]["self_paying"]] == [ladadi] for _s, body in answers)
    assert len(fault_server.intents) == 1
    assert {r["form"]["metadata[debtor_member_id]"] for r in fault_server.intent_requests} == {str(wiesbaden)}
    assert db.session.scalars(select(Debit.debtor_member_id)).all() == [wiesbaden]
    final = api_as("betrieb@kopit.example").get(f"/api/v1/settlements/{settlement['id']}").get_json()
    assert {i["debtor_member_id"]: i["status"] for i in final["instructions"]} == {
        wiesbaden: "collecting",
        ladadi: "open",
    }


def test_a_collect_whose_debit_another_collect_sent_meanwhile_reports_it_running(
    app, demo_landkreis_transfers, api_as, fault_server
):
    """The interleaving behind the race above, step by step: the first collect plans Wiesbaden's pending
    debit and commits; a second collect sends it; then the first submits. It sends nothing again and says the
    debit is under way (not '0 Lastschriften an Stripe übergeben')."""
    from marketplace.members.models import User
    from marketplace.payments.collection import collect_settlement, prepare_collection, submit_debits
    from marketplace.settlement.models import Settlement

    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY)
    release_invoices("2026-08")
    created = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{created['id']}/approve")
    first, second = (
        db.session.scalar(select(User).where(User.email == e))
        for e in ("betrieb@kopit.example", "pruefung@kopit.example")
    )
    settlement = db.session.get(Settlement, created["id"])

    plan = prepare_collection(first, settlement)
    db.session.commit()
    assert [d.status.value for d in plan.debits] == ["pending"]
    meanwhile = collect_settlement(second, settlement)
    db.session.commit()
    assert (meanwhile.submitted, meanwhile.running) == (1, 0)

    late = submit_debits(settlement, plan.debits)
    assert (late.submitted, late.running) == (0, 1)
    assert len(fault_server.intents) == 1
