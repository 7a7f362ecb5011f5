"""Settlements of closed months through the API and the pages: positions, netting, four eyes, SEPA files."""

from __future__ import annotations

from pathlib import Path

import sepaxml
from lxml import etree
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Posting, Transfer, TransferKind
from marketplace.members.models import Member
from tests.conftest import csrf_token, login, post_form, release_invoices
from tests.settlement.conftest import user

SEPA_XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.09.xsd"


def _clearing_balances_through(period: str) -> dict[int, int]:
    rows = db.session.execute(
        select(Account.member_id, func.sum(Posting.amount_cents))
        .join(Posting, Posting.account_id == Account.id)
        .join(Transfer, Transfer.id == Posting.transfer_id)
        .where(Account.kind == AccountKind.CLEARING, Transfer.period <= period)
        .group_by(Account.member_id)
    ).all()
    return {member: int(total) for member, total in rows if total}


def test_with_everything_released_positions_are_clearing_balances_and_instructions_net_them(app, demo, api_as):
    release_invoices("2026-08")
    operator = api_as("betrieb@kopit.example")
    response = operator.post("/api/v1/settlements", json={"period": "2026-08"})
    assert response.status_code == 201, response.text
    body = response.get_json()
    assert body["status"] == "draft"
    positions = {p["member_id"]: p["amount"] for p in body["positions"]}
    expected = _clearing_balances_through("2026-08")
    assert positions == {m: f"{a / 100:.2f}" for m, a in expected.items()}
    assert sum(round(float(a) * 100) for a in positions.values()) == 0
    instructions = body["instructions"]
    assert 0 < len(instructions) <= len(positions) - 1
    payers = {i["debtor_member_id"] for i in instructions}
    receivers = {i["creditor_member_id"] for i in instructions}
    assert not payers & receivers
    for member_id, cents in expected.items():
        paid = sum(int(i["amount"].replace(".", "")) for i in instructions if i["debtor_member_id"] == member_id)
        got = sum(int(i["amount"].replace(".", "")) for i in instructions if i["creditor_member_id"] == member_id)
        assert got - paid == cents
    assert operator.get(f"/api/v1/settlements/{body['id']}").get_json() == body


def test_later_month_counts_only_what_earlier_settlements_did_not_clear(app, demo_september_open, api_as, close_month):
    operator = api_as("betrieb@kopit.example")
    release_invoices("2026-08")
    august = operator.post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    close_month("2026-09")
    release_invoices("2026-09")
    september = operator.post("/api/v1/settlements", json={"period": "2026-09"}).get_json()
    through_sep = _clearing_balances_through("2026-09")
    cleared = {p["member_id"]: int(p["amount"].replace(".", "")) for p in august["positions"]}
    expected = {m: through_sep.get(m, 0) - cleared.get(m, 0) for m in set(through_sep) | set(cleared)}
    got = {p["member_id"]: int(p["amount"].replace(".", "")) for p in september["positions"]}
    assert got == {m: a for m, a in expected.items() if a}
    # September's positions include the VAT posted with its invoices
    vat = db.session.scalar(
        select(func.sum(Transfer.amount_cents)).where(Transfer.kind == TransferKind.VAT, Transfer.period == "2026-09")
    )
    assert vat == 3891
    # settling an earlier month after a later one, or the same month again, is refused
    assert operator.post("/api/v1/settlements", json={"period": "2026-09"}).status_code == 409


def test_open_months_cannot_be_settled_and_only_operator_finance_creates(app, demo, api_as):
    assert api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-10"}).status_code == 409
    assert api_as("kasse@wiesbaden.example").post("/api/v1/settlements", json={"period": "2026-08"}).status_code == 403
    bad = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "August"})
    assert bad.status_code == 422 and "period" in bad.get_json()["errors"]


def test_four_eyes_the_creator_cannot_approve_a_second_operator_finance_user_can(app, demo, api_as):
    release_invoices("2026-08")
    creator = api_as("betrieb@kopit.example")
    settlement = creator.post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    path = f"/api/v1/settlements/{settlement['id']}"
    assert creator.post(f"{path}/approve").status_code == 403
    assert api_as("kasse@wiesbaden.example").post(f"{path}/approve").status_code == 403
    second = api_as("pruefung@kopit.example")
    approved = second.post(f"{path}/approve")
    assert approved.status_code == 200
    assert approved.get_json()["status"] == "approved"
    assert approved.get_json()["approved_by"] == "pruefung@kopit.example"
    assert second.post(f"{path}/approve").status_code == 409


def test_member_finance_sees_its_own_part_and_foreign_settlements_are_404(app, demo, api_as, create_member):
    release_invoices("2026-08")
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    wiesbaden = user("kasse@wiesbaden.example").member_id
    mine = api_as("kasse@wiesbaden.example").get(f"/api/v1/settlements/{settlement['id']}").get_json()
    assert {p["member_id"] for p in mine["positions"]} == {wiesbaden}
    assert all(wiesbaden in (i["debtor_member_id"], i["creditor_member_id"]) for i in mine["instructions"])
    assert api_as("kasse@wiesbaden.example").get("/api/v1/settlements/999").status_code == 404


def test_the_pages_create_approve_and_offer_sepa_files(app, demo, client):
    release_invoices("2026-08")
    login(client, "betrieb@kopit.example")
    response = post_form(client, "/settlements", "/settlements", {"period": "2026-08"})
    assert response.status_code == 302
    detail = response.headers["Location"]
    page = client.get(detail)
    assert page.status_code == 200 and "Vier-Augen-Prinzip" in page.text
    # a month that is still open: the form says why
    refused = post_form(client, "/settlements", "/settlements", {"period": "2026-10"})
    assert refused.status_code == 422 and "nicht abgeschlossen" in refused.text

    second = app.test_client()
    login(second, "pruefung@kopit.example")
    page = second.get(detail)
    approve = second.post(f"{detail}/approve", data={"csrf_token": csrf_token(page.text)})
    assert approve.status_code == 302
    page = second.get(detail)
    assert "Freigegeben" in page.text and "pain.001" in page.text


def test_sepa_credit_transfer_files_validate_and_pay_exact_cents(app, every_buyer_debits, demo, api_as, client):
    """Every debtor pays by debit here, so the operator's payout file pays every instruction out."""
    release_invoices("2026-08")
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    schema = etree.XMLSchema(etree.parse(str(SEPA_XSD)))
    operator_id = db.session.scalar(select(Member.id).where(Member.is_operator.is_(True)))
    login(client, "betrieb@kopit.example")
    payers = {i["debtor_member_id"] for i in settlement["instructions"]}
    for payer in [operator_id, *sorted(payers)]:
        response = client.get(f"/settlements/{settlement['id']}/sepa/{payer}.xml")
        assert response.status_code == 200
        document = etree.fromstring(response.data)
        assert schema.validate(document), schema.error_log
        ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
        amounts = [round(float(a.text) * 100) for a in document.iterfind(".//p:InstdAmt", ns)]
        if payer == operator_id:
            expected = sum(int(i["amount"].replace(".", "")) for i in settlement["instructions"])
        else:
            expected = sum(
                int(i["amount"].replace(".", "")) for i in settlement["instructions"] if i["debtor_member_id"] == payer
            )
        assert sum(amounts) == expected
        assert document.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=ns) == f"{expected / 100:.2f}"
    # member finance downloads only its own member's file
    other = app.test_client()
    login(other, "kasse@wiesbaden.example")
    assert other.get(f"/settlements/{settlement['id']}/sepa/{operator_id}.xml").status_code == 404


def test_an_invalid_iban_is_refused_before_any_file_is_written(app, demo, api_as, client):
    release_invoices("2026-08")
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    creditor = db.session.get(Member, settlement["instructions"][0]["creditor_member_id"])
    creditor.iban = "DE00123456780000000000"
    db.session.commit()
    operator_id = db.session.scalar(select(Member.id).where(Member.is_operator.is_(True)))
    login(client, "betrieb@kopit.example")
    client.get(f"/settlements/{settlement['id']}")
    response = client.get(
        f"/settlements/{settlement['id']}/sepa/{operator_id}.xml", headers={"Referer": "http://localhost/settlements"}
    )
    assert response.status_code == 302  # back to the page with the message
    page = client.get("/settlements")
    assert "keine gültige IBAN" in page.text


def test_member_finance_page_shows_its_own_part_and_no_operator_buttons(app, demo, api_as, client):
    release_invoices("2026-08")
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    login(client, "kasse@wiesbaden.example")
    listing = client.get("/settlements")
    assert listing.status_code == 200 and "August 2026" in listing.text and "Positionen berechnen" not in listing.text
    page = client.get(f"/settlements/{settlement['id']}")
    assert page.status_code == 200
    assert "Stadt Wiesbaden" in page.text and "Landkreis Darmstadt-Dieburg" not in page.text
    assert "Per Lastschrift einziehen" not in page.text and "Direktzahlung buchen" not in page.text
    wiesbaden = user("kasse@wiesbaden.example").member_id
    assert f"/sepa/{wiesbaden}.xml" in page.text
    token = csrf_token(page.text)
    assert client.post(f"/settlements/{settlement['id']}/collect", data={"csrf_token": token}).status_code == 403
    # a buyer without a finance role has no settlement pages at all
    other = app.test_client()
    login(other, "einkauf@wiesbaden.example")
    assert other.get("/settlements").status_code == 403
