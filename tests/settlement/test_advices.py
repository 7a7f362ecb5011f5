"""Settlements of released documents only, with a payment advice (Zahlungsavis) per member.

Through the API and the pages as finance staff use them: which invoices and credit notes a settlement covers
(released ones of months up to its own that no earlier settlement covered), that every position is the sum of
its advice's documents and the instructions' sum per member, who may read an advice, and what paying a
settlement does to the clearing balances.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind
from marketplace.settlement.models import Invoice
from tests.conftest import csrf_token, login, post_form, release_invoices
from tests.settlement.conftest import user

OPERATOR = "betrieb@kopit.example"
SECOND = "pruefung@kopit.example"


def cents(text: str) -> int:
    value = Decimal(text) * 100
    assert value == value.to_integral_value(), text
    return int(value)


def invoice_ids(period: str) -> list[int]:
    return list(db.session.scalars(select(Invoice.id).where(Invoice.period == period).order_by(Invoice.id)))


def member_id(email: str) -> int:
    return user(email).member_id


def the_invoice(period: str, provider: str, buyer: str) -> Invoice:
    found = db.session.scalars(
        select(Invoice).where(
            Invoice.period == period,
            Invoice.provider_id == member_id(provider),
            Invoice.buyer_id == member_id(buyer),
        )
    ).all()
    assert len(found) == 1, found
    return found[0]


def advices_of(api, settlement: dict) -> dict[int, dict]:
    """Every advice of the settlement, read one by one through the advice endpoint."""
    found = {}
    for summary in settlement["advices"]:
        response = api.get(f"/api/v1/settlements/{settlement['id']}/advices/{summary['member_id']}")
        assert response.status_code == 200, response.text
        found[summary["member_id"]] = response.get_json()
    return found


def covered(api, settlement: dict) -> set[int]:
    return {d["invoice_id"] for advice in advices_of(api, settlement).values() for d in advice["documents"]}


def assert_reconciles(api, settlement: dict) -> None:
    """Documents = position = instructions per member, to the cent, and the netting's limits."""
    advices = advices_of(api, settlement)
    invoices = {i["id"]: i for i in api.get("/api/v1/invoices?per_page=100").get_json()["items"]}
    positions = {p["member_id"]: cents(p["amount"]) for p in settlement["positions"]}
    instructions = settlement["instructions"]
    seen: dict[int, list[tuple[int, int]]] = defaultdict(list)  # invoice -> (member, amount)
    for member, advice in advices.items():
        total = 0
        for document in advice["documents"]:
            invoice = invoices[document["invoice_id"]]
            amount = cents(document["amount"])
            gross = cents(invoice["gross"])
            provider, buyer = invoice["provider"]["id"], invoice["buyer"]["id"]
            sign = -1 if invoice["type_code"] == "381" else 1
            # an invoice's gross is + for the provider and − for the buyer, a credit note's the reverse
            assert amount == (sign * gross if member == provider else -sign * gross), document
            assert document["counterparty"]["id"] == (buyer if member == provider else provider)
            assert (document["number"], document["type_code"]) == (invoice["number"], invoice["type_code"])
            seen[document["invoice_id"]].append((member, amount))
            total += amount
        assert cents(advice["position"]) == total == cents(advice["documents_total"]), advice["number"]
        assert positions.get(member, 0) == total
        received = sum(cents(i["amount"]) for i in instructions if i["creditor_member_id"] == member)
        paid = sum(cents(i["amount"]) for i in instructions if i["debtor_member_id"] == member)
        assert received - paid == total == cents(advice["instructions_total"]), advice["number"]
        assert not (received and paid), "a member both pays and receives"
        assert advice["number"] == f"ZA-{settlement['period']}-{member}"
    # each document on the advices of both its parties, with opposite amounts
    for invoice_id, sides in seen.items():
        assert len(sides) == 2 and sides[0][1] == -sides[1][1], (invoice_id, sides)
    assert set(positions) <= set(advices)
    assert sum(positions.values()) == 0
    assert len(instructions) <= max(len([p for p in positions.values() if p]) - 1, 0)
    numbers = {member: advice["number"] for member, advice in advices.items()}
    for instruction in instructions:
        assert instruction["debtor_advice_number"] == numbers[instruction["debtor_member_id"]]
        assert instruction["creditor_advice_number"] == numbers[instruction["creditor_member_id"]]
    for summary in settlement["advices"]:
        assert summary["number"] == numbers[summary["member_id"]]
        assert summary["document_count"] == len(advices[summary["member_id"]]["documents"])
        assert summary["position"] == summary["documents_total"] == summary["instructions_total"]


def test_only_released_documents_are_settled_and_a_late_release_goes_into_the_next_settlement(
    app, demo, api_as, close_through
):
    close_through("2026-09")
    close_through("2026-10")
    # the storage invoice ekom21 -> Wiesbaden of September waits for Wiesbaden's release
    late = the_invoice("2026-09", "anbieter@ekom21.example", "kasse@wiesbaden.example").id
    objected = the_invoice("2026-10", "anbieter@kdz-mainz.example", "einkauf@ladadi.example").id
    release_invoices("2026-08")
    release_invoices(ids=[i for i in invoice_ids("2026-09") if i != late])
    operator = api_as(OPERATOR)

    september = operator.post("/api/v1/settlements", json={"period": "2026-09"})
    assert september.status_code == 201, september.text
    september = september.get_json()
    assert covered(operator, september) == set(invoice_ids("2026-08") + invoice_ids("2026-09")) - {late}
    assert_reconciles(operator, september)

    # released after September's settlement: it goes into October's, with October's released invoices
    release_invoices(ids=[late])
    release_invoices(ids=[objected], status="objected")
    release_invoices("2026-10")
    october = operator.post("/api/v1/settlements", json={"period": "2026-10"})
    assert october.status_code == 201, october.text
    october = october.get_json()
    assert covered(operator, october) == {late, *invoice_ids("2026-10")} - {objected}
    assert_reconciles(operator, october)
    # the objected invoice is on no advice, nor is any document on two settlements' advices
    assert objected not in covered(operator, september) | covered(operator, october)
    assert not covered(operator, september) & covered(operator, october)
    # the case: Wiesbaden pays ekom21 what ekom21 invoiced and Wiesbaden released, nothing more
    wiesbaden = member_id("kasse@wiesbaden.example")
    ekom = member_id("anbieter@ekom21.example")
    advice = operator.get(f"/api/v1/settlements/{october['id']}/advices/{wiesbaden}").get_json()
    from_ekom = [d for d in advice["documents"] if d["counterparty"]["id"] == ekom]
    assert sorted(cents(d["amount"]) for d in from_ekom) == [-24371, -24371]
    assert {d["period"] for d in from_ekom} == {"2026-09", "2026-10"}


def test_an_objected_invoice_is_never_settled_and_later_months_still_are(
    app, demo, api_as, close_through, close_month, set_today
):
    close_through("2026-09")
    objected = the_invoice("2026-09", "anbieter@ekom21.example", "kasse@wiesbaden.example").id
    release_invoices(ids=[objected], status="objected")
    release_invoices()
    operator = api_as(OPERATOR)
    september = operator.post("/api/v1/settlements", json={"period": "2026-09"}).get_json()
    assert objected not in covered(operator, september)
    set_today("2026-12-02")
    close_through("2026-10")
    close_month("2026-11", reason="Verbrauch in Prüfung wird nachberechnet.")
    release_invoices()
    set_today("2026-12-20")  # settled 18 days after the close: the advices are due ten days later
    november = operator.post("/api/v1/settlements", json={"period": "2026-11"})
    assert november.status_code == 201, november.text
    november = november.get_json()
    assert {a["due_date"] for a in november["advices"]} == {"2026-12-30"}
    assert objected not in covered(operator, november)
    assert covered(operator, november) == set(invoice_ids("2026-10") + invoice_ids("2026-11"))
    assert_reconciles(operator, november)


def test_a_credit_note_is_settled_without_release_against_its_buyer(
    app, demo, api_as, close_through, close_month, set_today
):
    close_through("2026-09")
    release_invoices()
    operator = api_as(OPERATOR)
    storage = the_invoice("2026-09", "anbieter@ekom21.example", "kasse@wiesbaden.example")
    reversed_ = operator.post(
        f"/api/v1/ledger/transfers/{storage.lines[0].transfer_id}/reverse", json={"reason": "Speicher doppelt"}
    )
    assert reversed_.status_code == 201, reversed_.text
    september = operator.post("/api/v1/settlements", json={"period": "2026-09"}).get_json()
    assert storage.id in covered(operator, september)
    set_today("2026-12-02")
    close_through("2026-10")
    close_month("2026-11", reason="Verbrauch in Prüfung wird nachberechnet.")
    [note] = [i for i in invoice_ids("2026-11") if db.session.get(Invoice, i).is_credit_note]
    # nothing of October or November is released: the credit note alone is settled
    november = operator.post("/api/v1/settlements", json={"period": "2026-11"})
    assert november.status_code == 201, november.text
    november = november.get_json()
    assert covered(operator, november) == {note}
    wiesbaden, ekom = member_id("kasse@wiesbaden.example"), member_id("anbieter@ekom21.example")
    assert {p["member_id"]: cents(p["amount"]) for p in november["positions"]} == {wiesbaden: 24371, ekom: -24371}
    [instruction] = november["instructions"]
    assert (instruction["debtor_member_id"], instruction["creditor_member_id"]) == (ekom, wiesbaden)
    assert_reconciles(operator, november)


def settle_what_the_demo_released(operator) -> None:
    """The demo's Wiesbaden released its August invoice: settle it, so that nothing released is left."""
    assert operator.post("/api/v1/settlements", json={"period": "2026-08"}).status_code == 201


def test_nothing_released_is_a_clear_409_and_a_form_message(app, demo, api_as, client, close_through):
    operator = api_as(OPERATOR)
    settle_what_the_demo_released(operator)
    close_through("2026-09")
    pending = len([i for i in invoice_ids("2026-08") + invoice_ids("2026-09") if i not in covered_ids()])
    refused = operator.post("/api/v1/settlements", json={"period": "2026-09"})
    assert refused.status_code == 409
    assert f"{pending} Rechnung(en) warten noch auf die Freigabe" in refused.get_json()["detail"]
    login(client, OPERATOR)
    page = post_form(client, "/settlements", "/settlements", {"period": "2026-09"})
    assert page.status_code == 422 and "warten noch auf die Freigabe" in page.text
    # once released and settled, nothing is left: the same month again
    release_invoices()
    assert operator.post("/api/v1/settlements", json={"period": "2026-09"}).status_code == 201
    assert operator.post("/api/v1/settlements", json={"period": "2026-09"}).status_code == 409


def covered_ids() -> set[int]:
    from marketplace.settlement.models import SettlementDocument

    return set(db.session.scalars(select(SettlementDocument.invoice_id)))


def test_advices_are_for_own_member_finance_and_operator_finance_only(app, demo, api_as, create_member, create_user):
    from marketplace.members.models import Role

    release_invoices("2026-08")
    settlement = api_as(OPERATOR).post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    path = f"/api/v1/settlements/{settlement['id']}/advices"
    wiesbaden, ladadi = member_id("kasse@wiesbaden.example"), member_id("einkauf@ladadi.example")
    own = api_as("kasse@wiesbaden.example").get(f"{path}/{wiesbaden}")
    assert own.status_code == 200
    assert own.get_json()["member"]["id"] == wiesbaden and own.get_json()["documents"]
    # due ten days after the settlement (2026-11-26), but not before its documents (issued 16 Nov, 14 days)
    assert {d["due_date"] for d in own.get_json()["documents"]} == {"2026-11-30"}
    assert own.get_json()["due_date"] == "2026-11-30"
    assert api_as(SECOND).get(f"{path}/{ladadi}").status_code == 200
    # another member's advice, the own member's without a finance role, an unknown one: all 404
    assert api_as("kasse@wiesbaden.example").get(f"{path}/{ladadi}").status_code == 404
    assert api_as("einkauf@wiesbaden.example").get(f"{path}/{wiesbaden}").status_code == 404
    assert (
        api_as("anbieter@kdz-mainz.example").get(f"{path}/{member_id('anbieter@kdz-mainz.example')}").status_code == 404
    )
    assert api_as(OPERATOR).get(f"{path}/999999").status_code == 404
    assert api_as(OPERATOR).get(f"/api/v1/settlements/999999/advices/{wiesbaden}").status_code == 404
    outsider = create_member("Gemeinde Außenstehend")
    create_user(outsider, "kasse@aussen.example", [Role.MEMBER_FINANCE])
    assert api_as("kasse@aussen.example").get(f"{path}/{outsider.id}").status_code == 404
    assert api_as("kasse@aussen.example").get(f"/api/v1/settlements/{settlement['id']}").status_code == 404
    # member finance sees its own advice in the settlement, not the others'
    mine = api_as("kasse@wiesbaden.example").get(f"/api/v1/settlements/{settlement['id']}").get_json()
    assert [a["member_id"] for a in mine["advices"]] == [wiesbaden]
    assert [p["advice_number"] for p in mine["positions"]] == [f"ZA-2026-08-{wiesbaden}"]


def test_the_settlement_page_shows_each_advice_reconciled_and_the_printable_advice(app, demo, api_as, client):
    release_invoices("2026-08")
    settlement = api_as(OPERATOR).post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    wiesbaden, ladadi = member_id("kasse@wiesbaden.example"), member_id("einkauf@ladadi.example")
    login(client, OPERATOR)
    page = client.get(f"/settlements/{settlement['id']}")
    assert page.status_code == 200
    for advice in settlement["advices"]:
        assert advice["number"] in page.text
        assert f"/settlements/{settlement['id']}/advices/{advice['member_id']}" in page.text
    for number in ("LB-2-000001", "LB-3-000001"):
        assert number in page.text
    assert page.text.count('data-reconciled="yes"') == len(settlement["advices"])
    assert 'data-reconciled="no"' not in page.text

    finance = app.test_client()
    login(finance, "kasse@wiesbaden.example")
    own_page = finance.get(f"/settlements/{settlement['id']}")
    assert f"ZA-2026-08-{wiesbaden}" in own_page.text and f"ZA-2026-08-{ladadi}" not in own_page.text
    assert "LB-3-000001" not in own_page.text  # ekom21's invoice to Landkreis is none of Wiesbaden's business
    printable = finance.get(f"/settlements/{settlement['id']}/advices/{wiesbaden}")
    assert printable.status_code == 200
    assert f"Zahlungsavis ZA-2026-08-{wiesbaden}" in printable.text
    assert f'href="/settlements/{settlement["id"]}"' in printable.text and 'href="/settlements"' in printable.text
    assert "LB-2-000001" in printable.text and "KDZ Mainz" in printable.text
    assert "-1.931,00" in printable.text.replace("\xa0", " ").replace("−", "-")
    assert 'id="abstimmung"' in printable.text and "Abgestimmt" in printable.text
    assert "Entwurf" in printable.text  # not approved yet
    assert finance.get(f"/settlements/{settlement['id']}/advices/{ladadi}").status_code == 404
    buyer = app.test_client()
    login(buyer, "einkauf@wiesbaden.example")
    assert buyer.get(f"/settlements/{settlement['id']}/advices/{wiesbaden}").status_code == 404


def _clearing() -> dict[int, int]:
    return dict(
        db.session.execute(
            select(Account.member_id, Account.balance_cents).where(Account.kind == AccountKind.CLEARING)
        ).all()
    )


def test_paying_a_settlement_moves_clearing_balances_by_the_positions_and_keeps_what_is_unsettled(
    app, demo, api_as, client, close_through
):
    close_through("2026-09")
    pending = the_invoice("2026-09", "anbieter@ekom21.example", "kasse@wiesbaden.example")
    release_invoices(ids=[i for i in invoice_ids("2026-08") + invoice_ids("2026-09") if i != pending.id])
    operator = api_as(OPERATOR)
    settlement = operator.post("/api/v1/settlements", json={"period": "2026-09"}).get_json()
    assert api_as(SECOND).post(f"/api/v1/settlements/{settlement['id']}/approve").status_code == 200
    before = _clearing()
    login(client, OPERATOR)
    page = f"/settlements/{settlement['id']}"
    for instruction in settlement["instructions"]:
        token = csrf_token(client.get(page).text)
        done = client.post(f"{page}/instructions/{instruction['id']}/direct", data={"csrf_token": token})
        assert done.status_code == 302
    assert operator.get(f"/api/v1/settlements/{settlement['id']}").get_json()["status"] == "paid"
    after = _clearing()
    positions = {p["member_id"]: cents(p["amount"]) for p in settlement["positions"]}
    assert {m: before[m] - after[m] for m in before} == {m: positions.get(m, 0) for m in before}
    # what is billed but not settled stays in the balances: the pending invoice and September's open charges
    ekom, wiesbaden = pending.provider_id, pending.buyer_id
    assert after[ekom] == pending.gross_cents and after[wiesbaden] == -pending.gross_cents
    kdz, ladadi = member_id("anbieter@kdz-mainz.example"), member_id("einkauf@ladadi.example")
    assert after[kdz] == 0 and after[ladadi] == 0
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    balances = operator.get("/api/v1/ledger/balances").get_json()
    assert balances["total"] == "0.00"


def test_the_openapi_document_describes_the_advice(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    operation = doc["paths"]["/api/v1/settlements/{settlement_id}/advices/{member_id}"]["get"]
    assert "404" in operation["responses"]
    schema = doc["components"]["schemas"]["AdviceOut"]
    assert {"number", "position", "due_date", "documents"} <= set(schema["required"])
    document = doc["components"]["schemas"]["AdviceDocumentOut"]
    assert {"invoice_id", "number", "type_code", "issue_date", "counterparty", "amount"} <= set(document["required"])
    settlement = doc["components"]["schemas"]["SettlementOut"]
    assert "advices" in settlement["properties"]


def test_the_advice_and_the_refusal_read_english_on_request(app, demo, api_as, client, close_through):
    settle_what_the_demo_released(api_as(OPERATOR))
    close_through("2026-09")
    login(client, OPERATOR)
    client.get("/sprache/en")
    refused = post_form(client, "/settlements", "/settlements", {"period": "2026-09"})
    assert refused.status_code == 422
    assert "invoice(s) are still awaiting release by the buyers" in refused.text
    release_invoices()
    settlement = api_as(OPERATOR).post("/api/v1/settlements", json={"period": "2026-09"}).get_json()
    wiesbaden = member_id("kasse@wiesbaden.example")
    page = client.get(f"/settlements/{settlement['id']}")
    assert "Payment advices" in page.text and "Printable payment advice" in page.text
    printable = client.get(f"/settlements/{settlement['id']}/advices/{wiesbaden}")
    assert f"Payment advice ZA-2026-09-{wiesbaden}" in printable.text
    assert "Back to settlement September 2026" in printable.text and "Reconciled:" in printable.text
    for german in ("Zahlungsavis ", "Summe der Belege", "Verwendungszweck", "Fällig am"):
        assert german not in printable.text, german


def test_documents_that_cancel_out_get_advices_without_payments_and_are_done_when_approved(
    app, demo, api_as, close_through, close_month, set_today
):
    close_through("2026-09")
    operator = api_as(OPERATOR)
    settle_what_the_demo_released(operator)
    storage = the_invoice("2026-09", "anbieter@ekom21.example", "kasse@wiesbaden.example")
    reversal = operator.post(
        f"/api/v1/ledger/transfers/{storage.lines[0].transfer_id}/reverse", json={"reason": "Speicher doppelt"}
    )
    assert reversal.status_code == 201, reversal.text
    set_today("2026-12-02")
    close_through("2026-10")
    close_month("2026-11", reason="Verbrauch in Prüfung wird nachberechnet.")
    release_invoices(ids=[storage.id])  # released late, after its credit note: both go into one settlement
    created = operator.post("/api/v1/settlements", json={"period": "2026-11"})
    assert created.status_code == 201, created.text
    settlement = created.get_json()
    assert settlement["positions"] == [] and settlement["instructions"] == []
    wiesbaden, ekom = storage.buyer_id, storage.provider_id
    assert {a["member_id"]: a["position"] for a in settlement["advices"]} == {wiesbaden: "0.00", ekom: "0.00"}
    advice = api_as("kasse@wiesbaden.example").get(f"/api/v1/settlements/{settlement['id']}/advices/{wiesbaden}")
    assert advice.status_code == 200  # a zero position still shows its member the documents
    assert sorted(cents(d["amount"]) for d in advice.get_json()["documents"]) == [-24371, 24371]
    assert advice.get_json()["due_date"] == "2026-12-16"  # the credit note of 2 December is due on the 16th
    approved = api_as(SECOND).post(f"/api/v1/settlements/{settlement['id']}/approve")
    assert approved.status_code == 200 and approved.get_json()["status"] == "paid"
    assert_reconciles(operator, settlement)
