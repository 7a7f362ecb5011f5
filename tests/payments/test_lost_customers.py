"""Stripe customers the exchange stored but Stripe no longer knows are made anew, and debits reach each
member's finance contact.

localstripe is a stateful Stripe: deleting a customer there through its API is what losing it looks like
(a deletion in the dashboard, a reset test account). The fault server answers like real Stripe does when
the customer disappears between two requests of one collect ("No such customer", resource_missing).
"""

from __future__ import annotations

import requests
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.members.models import Member, Role
from marketplace.members.queries import finance_contact_email
from marketplace.payments.collection import ensure_customer
from marketplace.payments.models import Debit, DebitStatus, StripeCustomer
from marketplace.payments.stripe_client import StripeClient
from tests.conftest import release_invoices
from tests.payments.conftest import API_KEY


def _approved_settlement(api_as) -> dict:
    release_invoices("2026-08")
    created = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"})
    assert created.status_code == 201, created.text
    settlement = created.get_json()
    assert api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve").status_code == 200
    return settlement


def _stripe(base: str, path: str, method: str = "GET", **data) -> requests.Response:
    return requests.request(method, f"{base}{path}", auth=(API_KEY, ""), data=data or None, timeout=5)


def _member(name: str) -> Member:
    return db.session.scalar(select(Member).where(Member.name == name))


def test_finance_contact_is_the_first_active_finance_user_else_the_members_contact(app, demo, create_user):
    wiesbaden, ekom = _member("Stadt Wiesbaden"), _member("ekom21")
    assert wiesbaden.contact_email == "einkauf@wiesbaden.example"  # the purchasing contact
    assert finance_contact_email(wiesbaden) == "kasse@wiesbaden.example"
    assert finance_contact_email(_member("Landkreis Darmstadt-Dieburg")) == "kasse@ladadi.example"
    assert finance_contact_email(ekom) == ekom.contact_email  # no finance staff: the member's address
    first = create_user(ekom, "kasse1@ekom21.example", [Role.MEMBER_FINANCE])
    create_user(ekom, "kasse2@ekom21.example", [Role.MEMBER_FINANCE, Role.BUYER])
    create_user(ekom, "einkauf2@ekom21.example", [Role.BUYER])
    assert finance_contact_email(ekom) == "kasse1@ekom21.example"
    first.active = False
    db.session.commit()
    assert finance_contact_email(ekom) == "kasse2@ekom21.example"


def test_a_customer_stripe_lost_is_made_anew_and_the_debit_goes_through(
    app, every_buyer_debits, demo, api_as, create_user, stripe_config
):
    wiesbaden, ladadi = _member("Stadt Wiesbaden"), _member("Landkreis Darmstadt-Dieburg")  # both with finance staff
    settlement = _approved_settlement(api_as)
    debtors = {i["debtor_member_id"] for i in settlement["instructions"]}
    assert {wiesbaden.id, ladadi.id} <= debtors

    # an earlier collection made the customers, with what was then the contact: the purchasing address
    client = StripeClient.from_config(app.config)
    for member in (wiesbaden, ladadi):
        row = ensure_customer(member, client)
        _stripe(stripe_config, f"/v1/customers/{row.customer_id}", "POST", email=member.contact_email)
    db.session.commit()
    lost = db.session.get(StripeCustomer, wiesbaden.id).customer_id
    lost_method = db.session.get(StripeCustomer, wiesbaden.id).payment_method_id
    kept = db.session.get(StripeCustomer, ladadi.id).customer_id
    # Stripe loses Wiesbaden's customer
    assert _stripe(stripe_config, f"/v1/customers/{lost}", "DELETE").status_code == 200
    assert _stripe(stripe_config, f"/v1/customers/{lost}").status_code == 404

    body = api_as("betrieb@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    assert body["status"] == "collecting", body
    assert {p["status"] for p in body["payments"]} == {"processing"}, body["payments"]

    row = db.session.get(StripeCustomer, wiesbaden.id)
    assert row.customer_id not in (lost, kept) and row.payment_method_id != lost_method
    new = _stripe(stripe_config, f"/v1/customers/{row.customer_id}").json()
    assert new["email"] == "kasse@wiesbaden.example" and new["name"] == "Stadt Wiesbaden"
    method = _stripe(stripe_config, f"/v1/payment_methods/{row.payment_method_id}").json()
    assert method["customer"] == row.customer_id
    assert method["billing_details"]["email"] == "kasse@wiesbaden.example"
    [payment] = [p for p in body["payments"] if p["debtor_member_id"] == wiesbaden.id]
    intent = _stripe(stripe_config, f"/v1/payment_intents/{payment['payment_intent_id']}").json()
    assert intent["customer"] == row.customer_id and intent["payment_method"] == row.payment_method_id
    # the member Stripe still knew keeps its customer, now addressed to its finance staff
    assert db.session.get(StripeCustomer, ladadi.id).customer_id == kept
    assert _stripe(stripe_config, f"/v1/customers/{kept}").json()["email"] == "kasse@ladadi.example"


def test_a_customer_lost_between_the_requests_of_a_collect_is_made_anew_and_the_debit_sent_once_more(
    app, every_buyer_debits, demo, api_as, fault_server
):
    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY)
    settlement = _approved_settlement(api_as)
    debtors = sorted({i["debtor_member_id"] for i in settlement["instructions"]})
    fault_server.plan = ["no-such-customer"]  # the first debtor's first PaymentIntent: Stripe lost the customer
    body = api_as("betrieb@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    assert {p["status"] for p in body["payments"]} == {"processing"}, body["payments"]
    assert len(fault_server.intents) == len(debtors)  # one PaymentIntent per debtor, none twice

    first = debtors[0]
    tries = [r for r in fault_server.intent_requests if r["form"]["metadata[debtor_member_id]"] == str(first)]
    assert len(tries) == 2
    lost, new = tries[0]["form"]["customer"], tries[1]["form"]["customer"]
    assert lost in fault_server.lost_customers and new != lost
    assert tries[0]["key"] == f"lb-debit-{settlement['id']}-{first}-1"
    assert tries[1]["key"] == f"lb-debit-{settlement['id']}-{first}-1-{new}"  # a key of its own
    # the replacement: created with a key naming the lost customer, to the finance contact, method attached
    [created] = [r for r in fault_server.requests if r["path"] == "/v1/customers" and lost in (r["key"] or "")]
    assert created["key"] == f"lb-customer-{first}-after-{lost}"
    assert created["form"]["email"] == finance_contact_email(db.session.get(Member, first))
    attach = [r for r in fault_server.requests if r["path"].endswith("/attach") and r["form"]["customer"] == new]
    assert len(attach) == 1
    row = db.session.get(StripeCustomer, first)
    assert row.customer_id == new
    debit = db.session.scalar(select(Debit).where(Debit.debtor_member_id == first))
    assert debit.status is DebitStatus.PROCESSING and debit.idempotency_key == tries[1]["key"]

    # collecting again sends nothing (every debit is processing)
    sent = len(fault_server.intent_requests)
    api_as("betrieb@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/collect")
    assert len(fault_server.intent_requests) == sent


def test_a_missing_payment_method_is_not_mistaken_for_a_lost_customer(
    app, every_buyer_debits, demo, api_as, fault_server
):
    """Only a customer Stripe confirms gone is replaced; any other refusal fails the debit as before."""
    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY)
    settlement = _approved_settlement(api_as)
    fault_server.plan = ["no-such-payment-method"]
    body = api_as("betrieb@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    assert body["status"] == "failed"
    assert [p["status"] for p in body["payments"]].count("failed") == 1
    assert "No such PaymentMethod" in next(p["last_error"] for p in body["payments"] if p["status"] == "failed")
    assert not [r for r in fault_server.requests if "-after-" in (r["key"] or "")]
    assert len(fault_server.intent_requests) == len(body["payments"])  # the refused debit was not sent again
