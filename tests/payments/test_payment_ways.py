"""The collection follows each debtor's payment way: only a debtor whose invoice profile and invoices say debit
(59, under the operator's mandate) is debited, from the mandate's account; a debtor paying by transfer (58) or
clearing (97) pays itself, its instructions stay open for a direct payment, and the page and the API say so.

Checked against what localstripe recorded (customers, PaymentIntents, charges), not only against our rows."""

from __future__ import annotations

import requests
from lxml import etree
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.ledger.models import Account, Transfer, TransferKind
from marketplace.ledger.queries import verify_ledger
from marketplace.members.models import InvoiceProfile, Member, PaymentWay
from marketplace.payments.models import Debit, StripeCustomer
from marketplace.settlement.models import Invoice
from tests.conftest import csrf_token, login, release_invoices
from tests.payments.conftest import API_KEY, LADADI, MANDATE_IBAN, WIESBADEN
from tests.payments.test_stripe_localstripe import _deliver, _for_intents

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}


def _member(name: str) -> Member:
    return db.session.scalar(select(Member).where(Member.name == name))


def _approved(api_as, period: str = "2026-08") -> dict:
    release_invoices(period)
    created = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": period})
    assert created.status_code == 201, created.text
    approved = api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{created.get_json()['id']}/approve")
    assert approved.status_code == 200, approved.text
    return approved.get_json()


def _stripe_list(base: str, path: str, **params) -> dict[str, dict]:
    """Every object localstripe holds under `path` (all pages), by id."""
    found: dict[str, dict] = {}
    after = None
    while True:
        query = {"limit": 100, **params, **({"starting_after": after} if after else {})}
        page = requests.get(f"{base}{path}", params=query, auth=(API_KEY, ""), timeout=5).json()
        found.update((item["id"], item) for item in page["data"])
        if not page["has_more"] or not page["data"]:
            return found
        after = page["data"][-1]["id"]


def _by_debtor(body: dict) -> dict[int, dict]:
    return {i["debtor_member_id"]: i for i in body["instructions"]}


def test_only_the_debit_member_is_debited_and_the_transfer_member_pays_itself(
    app, demo_landkreis_transfers, client, api_as, stripe_config, webhook_inbox
):
    wiesbaden, ladadi = _member(WIESBADEN), _member(LADADI)
    august = {
        i.buyer_id: i.payment_means_code for i in db.session.scalars(select(Invoice).where(Invoice.period == "2026-08"))
    }
    assert august == {wiesbaden.id: "59", ladadi.id: "58"}  # what the invoices told the two cash offices
    settlement = _approved(api_as)
    instructions = _by_debtor(settlement)
    assert (instructions[wiesbaden.id]["paid_by"], instructions[wiesbaden.id]["paid_by_reason"]) == ("debit", None)
    assert (instructions[ladadi.id]["paid_by"], instructions[ladadi.id]["paid_by_reason"]) == ("transfer", "transfer")

    customers_before = _stripe_list(stripe_config, "/v1/customers")
    intents_before = _stripe_list(stripe_config, "/v1/payment_intents")
    operator = api_as("betrieb@kopit.example")
    collected = operator.post(f"/api/v1/settlements/{settlement['id']}/collect")
    assert collected.status_code == 200, collected.text
    body = collected.get_json()
    assert body["status"] == "collecting"
    assert body["collection"]["submitted"] == 1
    assert body["collection"]["self_paying"] == [
        {
            "member_id": ladadi.id,
            "member_name": LADADI,
            "amount": instructions[ladadi.id]["amount"],
            "reason": "transfer",
        }
    ]
    assert body["collection"]["message"] == (
        "1 Lastschrift an Stripe übergeben; 1 Stelle zahlt selbst per Überweisung (Landkreis Darmstadt-Dieburg)."
    )
    after = _by_debtor(body)
    assert after[wiesbaden.id]["status"] == "collecting" and after[wiesbaden.id]["paid_by"] == "debit"
    assert after[ladadi.id]["status"] == "open" and after[ladadi.id]["paid_by"] == "transfer"
    [payment] = body["payments"]
    assert payment["debtor_member_id"] == wiesbaden.id

    # what Stripe holds: one new customer (Wiesbaden's), one new PaymentIntent and its one charge; nothing for
    # the Landkreis, not even a customer
    customer = db.session.get(StripeCustomer, wiesbaden.id)
    assert db.session.get(StripeCustomer, ladadi.id) is None
    assert set(_stripe_list(stripe_config, "/v1/customers")) - set(customers_before) == {customer.customer_id}
    new = {k: v for k, v in _stripe_list(stripe_config, "/v1/payment_intents").items() if k not in intents_before}
    assert list(new) == [payment["payment_intent_id"]]
    [intent] = new.values()
    assert intent["customer"] == customer.customer_id
    assert intent["amount"] == int(instructions[wiesbaden.id]["amount"].replace(".", ""))
    assert intent["metadata"]["debtor_member_id"] == str(wiesbaden.id)
    # the remittance: the debtor's advice, then the invoice numbers on it
    advice = operator.get(f"/api/v1/settlements/{settlement['id']}/advices/{wiesbaden.id}").get_json()
    assert intent["description"] == " ".join([advice["number"], *(d["number"] for d in advice["documents"])])
    assert intent["metadata"]["advice_number"] == advice["number"]
    charges = _stripe_list(stripe_config, "/v1/charges", customer=customer.customer_id)
    assert [c["payment_intent"] for c in charges.values()] == [intent["id"]]
    # debited from the mandate's account, not from the one Wiesbaden receives money on
    method = requests.get(
        f"{stripe_config}/v1/payment_methods/{intent['payment_method']}", auth=(API_KEY, ""), timeout=5
    ).json()
    assert (method["sepa_debit"]["bank_code"], method["sepa_debit"]["last4"]) == (MANDATE_IBAN[4:12], MANDATE_IBAN[-4:])
    assert wiesbaden.iban != MANDATE_IBAN

    # collecting twice sends nothing new and says so
    again = operator.post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()
    assert (again["collection"]["submitted"], again["collection"]["running"]) == (0, 1)
    assert [p["member_id"] for p in again["collection"]["self_paying"]] == [ladadi.id]
    assert set(_stripe_list(stripe_config, "/v1/payment_intents")) - set(intents_before) == set(new)
    assert db.session.scalar(select(func.count()).select_from(Debit)) == 1

    # Wiesbaden's debit arrives; the settlement waits for the Landkreis's own transfer
    for item in webhook_inbox.wait_for(_for_intents(set(new), "payment_intent.succeeded")):
        _deliver(client, item)
    state = operator.get(f"/api/v1/settlements/{settlement['id']}").get_json()
    assert state["status"] == "collecting"
    assert {i["debtor_member_id"]: i["status"] for i in state["instructions"]} == {
        wiesbaden.id: "paid",
        ladadi.id: "open",
    }
    # the operator's payout file pays only what it collects: Wiesbaden's creditor, not the Landkreis's
    login(client, "betrieb@kopit.example")
    operator_id = db.session.scalar(select(Member.id).where(Member.is_operator.is_(True)))
    payout_file = etree.fromstring(client.get(f"/settlements/{settlement['id']}/sepa/{operator_id}.xml").data)
    creditors = [n.text for n in payout_file.iterfind(".//p:CdtTrfTxInf/p:Cdtr/p:Nm", NS)]
    assert creditors == [db.session.get(Member, instructions[wiesbaden.id]["creditor_member_id"]).name]

    # the Landkreis transferred: operator finance books the direct payment from the page, which offers it
    page = client.get(f"/settlements/{settlement['id']}")
    direct = f"/settlements/{settlement['id']}/instructions/{instructions[ladadi.id]['id']}/direct"
    assert direct in page.text
    assert f"/settlements/{settlement['id']}/instructions/{instructions[wiesbaden.id]['id']}/direct" not in page.text
    assert client.post(direct, data={"csrf_token": csrf_token(page.text)}).status_code == 302
    done = operator.get(f"/api/v1/settlements/{settlement['id']}").get_json()
    assert done["status"] == "paid"
    paid_by = {i["debtor_member_id"]: (i["paid_by"], i["paid_by_reason"]) for i in done["instructions"]}
    assert paid_by == {wiesbaden.id: ("debit", None), ladadi.id: ("transfer", "transfer")}
    # the operator pays out only what it collected: Wiesbaden's amount to Wiesbaden's creditor
    [payout] = db.session.scalars(select(Transfer).where(Transfer.kind == TransferKind.PAYOUT)).all()
    assert payout.amount_cents == int(instructions[wiesbaden.id]["amount"].replace(".", ""))
    assert db.session.scalar(select(func.sum(Account.balance_cents))) == 0
    assert verify_ledger().ok


def test_the_page_says_how_each_instruction_is_paid_and_the_collect_what_it_did(
    app, demo_landkreis_transfers, client, api_as, fault_server
):
    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY)
    settlement = _approved(api_as)
    login(client, "betrieb@kopit.example")
    page = client.get(f"/settlements/{settlement['id']}").text
    assert page.count('data-paid-by="debit"') == 1 and page.count('data-paid-by="transfer"') == 1
    assert "Überweisung durch die Stelle" in page and "Zahlungsweg Überweisung" in page
    collected = client.post(f"/settlements/{settlement['id']}/collect", data={"csrf_token": csrf_token(page)})
    assert collected.status_code == 302
    page = client.get(f"/settlements/{settlement['id']}").text
    assert (
        "1 Lastschrift an Stripe übergeben; 1 Stelle zahlt selbst per Überweisung (Landkreis Darmstadt-Dieburg)."
        in page
    )
    assert [r["form"]["metadata[debtor_member_id]"] for r in fault_server.intent_requests] == [
        str(_member(WIESBADEN).id)
    ]
    # the Landkreis's finance staff see their transfer as theirs to make; Wiesbaden's see none to make
    ladadi = app.test_client()
    login(ladadi, "kasse@ladadi.example")
    assert 'data-kind="settlement.transfer"' in ladadi.get("/").text
    own = ladadi.get(f"/settlements/{settlement['id']}").text
    assert "Überweisung durch die Stelle" in own and f"/sepa/{_member(LADADI).id}.xml" in own
    wiesbaden = app.test_client()
    login(wiesbaden, "kasse@wiesbaden.example")
    assert 'data-kind="settlement.transfer"' not in wiesbaden.get("/").text
    # operator finance is reminded to book the Landkreis's transfer once it arrived
    assert 'data-kind="settlement.pay"' in client.get("/").text


def test_a_settlement_without_a_debit_debtor_debits_no_one_and_needs_no_stripe(app, demo, api_as, client):
    """Profiles changed after August's invoices were issued: Wiesbaden (invoices: debit) now pays by transfer
    and has withdrawn its mandate; the Landkreis (invoices: clearing) now has a mandate. Neither is debited:
    the one has no mandate any more, the other's cash office was told to pay itself."""
    wiesbaden, ladadi = _member(WIESBADEN), _member(LADADI)
    profile = db.session.get(InvoiceProfile, wiesbaden.id)
    profile.payment_way, profile.mandate_reference, profile.mandate_iban = PaymentWay.TRANSFER, None, None
    db.session.add(
        InvoiceProfile(
            member_id=ladadi.id,
            payment_way=PaymentWay.DEBIT,
            mandate_reference="KOPIT-LB-DA-0001",
            mandate_iban=ladadi.iban,
        )
    )
    db.session.commit()
    settlement = _approved(api_as)
    reasons = {i["debtor_member_id"]: (i["paid_by"], i["paid_by_reason"]) for i in settlement["instructions"]}
    assert reasons == {wiesbaden.id: ("transfer", "transfer"), ladadi.id: ("transfer", "documents")}

    app.config.update(STRIPE_API_KEY=None)  # nothing to debit: Stripe is not needed
    operator = api_as("betrieb@kopit.example")
    response = operator.post(f"/api/v1/settlements/{settlement['id']}/collect")
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["status"] == "approved" and body["payments"] == []
    assert body["collection"]["submitted"] == 0
    assert {p["member_id"]: p["reason"] for p in body["collection"]["self_paying"]} == {
        wiesbaden.id: "transfer",
        ladadi.id: "documents",
    }
    assert body["collection"]["message"].startswith("2 Stellen zahlen selbst per Überweisung (")
    assert {i["status"] for i in body["instructions"]} == {"open"}
    assert db.session.scalar(select(func.count()).select_from(Debit)) == 0

    # the page offers no debit, but a direct payment for each instruction
    login(client, "betrieb@kopit.example")
    page = client.get(f"/settlements/{settlement['id']}").text
    assert "Per Lastschrift einziehen" not in page and 'id="no-debit"' in page
    assert "nicht jede Rechnung nennt die Lastschrift" in page
    operator_id = db.session.scalar(select(Member.id).where(Member.is_operator.is_(True)))
    payout = client.get(f"/settlements/{settlement['id']}/sepa/{operator_id}.xml")
    assert payout.status_code == 409 and "zahlt der Betreiber nichts aus" in payout.text
    for instruction in settlement["instructions"]:
        page = client.get(f"/settlements/{settlement['id']}").text
        booked = client.post(
            f"/settlements/{settlement['id']}/instructions/{instruction['id']}/direct",
            data={"csrf_token": csrf_token(page)},
        )
        assert booked.status_code == 302
    assert operator.get(f"/api/v1/settlements/{settlement['id']}").get_json()["status"] == "paid"
    # nothing passed through the operator, so it pays nothing out
    assert (
        db.session.scalar(select(func.count()).select_from(Transfer).where(Transfer.kind == TransferKind.PAYOUT)) == 0
    )
