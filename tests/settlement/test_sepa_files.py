"""SEPA credit transfer files that cannot pay twice: the same ids and creation time on every download of
the same instructions (so the bank's duplicate check catches a second upload), a member's file refused
once its instructions are paid, and remittance information that names the payment advice and the invoice
numbers on it (at most 140 characters, "u. a." when not all of them fit).

The files are read back with xmlschema against the ISO 20022 pain.001.001.09 schema shipped by sepaxml."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema
from sqlalchemy import select

from marketplace.bookings.models import Booking, BookingStatus
from marketplace.bookings.operations import accept_booking
from marketplace.catalogue.models import Category, Service, ServiceStatus, Unit, VatCategory
from marketplace.extensions import db
from marketplace.members.models import Member
from marketplace.settlement.advices import lines_for
from marketplace.settlement.models import Settlement
from marketplace.settlement.sepa import MAX_REMITTANCE, advice_remittance, remittance
from tests.conftest import csrf_token, login, release_invoices
from tests.settlement.conftest import user

SEPA_XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.09.xsd"
NS = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.09}"
#: What the SEPA rulebooks allow in an id: Latin letters, digits and + ? / - : ( ) . , ' space; max 35.
SEPA_ID = re.compile(r"[A-Za-z0-9+?/\-:().,' ]{1,35}")
#: The SEPA character set of a remittance text (Ustrd).
SEPA_TEXT = re.compile(r"[A-Za-z0-9+?/\-:().,' ]{1,140}")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SEPA_XSD))


def _approved(api_as) -> dict:
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    assert api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve").status_code == 200
    return settlement


def _read(schema: xmlschema.XMLSchema, raw: bytes) -> dict:
    schema.validate(raw.decode("utf-8"))
    return schema.to_dict(raw.decode("utf-8"))["CstmrCdtTrfInitn"]


def _operator_id() -> int:
    return db.session.scalar(select(Member.id).where(Member.is_operator.is_(True)))


def test_every_download_of_the_same_instructions_carries_the_same_ids_and_creation_time(
    app, demo, api_as, client, schema
):
    settlement = _approved(api_as)
    # approved at 14:05:09 UTC, 15:05:09 in Berlin: a 12-hour clock would write 03:05:09
    row = db.session.get(Settlement, settlement["id"])
    row.approved_at = datetime(2026, 11, 16, 14, 5, 9, tzinfo=UTC)
    db.session.commit()
    login(client, "betrieb@kopit.example")
    payers = [*sorted({i["debtor_member_id"] for i in settlement["instructions"]}), _operator_id()]
    seen_ids = set()
    for payer in payers:
        url = f"/settlements/{settlement['id']}/sepa/{payer}.xml"
        first, second = client.get(url), client.get(url)
        assert first.status_code == second.status_code == 200
        one, two = _read(schema, first.data), _read(schema, second.data)
        assert one["GrpHdr"]["MsgId"] == two["GrpHdr"]["MsgId"]
        assert one["GrpHdr"]["CreDtTm"] == two["GrpHdr"]["CreDtTm"] == "2026-11-16T15:05:09+01:00"
        assert [b["PmtInfId"] for b in one["PmtInf"]] == [b["PmtInfId"] for b in two["PmtInf"]]
        assert first.data == second.data  # nothing else differs either (same day, same instructions)
        ids = [one["GrpHdr"]["MsgId"], *(b["PmtInfId"] for b in one["PmtInf"])]
        ids += [t["PmtId"]["EndToEndId"] for b in one["PmtInf"] for t in b["CdtTrfTxInf"]]
        assert all(SEPA_ID.fullmatch(i) for i in ids), ids
        seen_ids.add(one["GrpHdr"]["MsgId"])
    assert len(seen_ids) == len(payers)  # each payer's file has a message id of its own


def test_remittance_names_the_payment_advice(app, demo, api_as, client, schema):
    settlement = _approved(api_as)
    login(client, "betrieb@kopit.example")
    for payer in sorted({i["debtor_member_id"] for i in settlement["instructions"]}):
        document = _read(schema, client.get(f"/settlements/{settlement['id']}/sepa/{payer}.xml").data)
        for batch in document["PmtInf"]:
            for transfer in batch["CdtTrfTxInf"]:
                text = transfer["RmtInf"]["Ustrd"][0]
                assert f"ZA-2026-08-{payer}" in text and len(text) <= 140
    payout = _read(schema, client.get(f"/settlements/{settlement['id']}/sepa/{_operator_id()}.xml").data)
    for batch in payout["PmtInf"]:
        for transfer in batch["CdtTrfTxInf"]:
            creditor = db.session.scalar(select(Member.id).where(Member.name == transfer["Cdtr"]["Nm"]))
            assert f"ZA-2026-08-{creditor}" in transfer["RmtInf"]["Ustrd"][0]  # the receiver's advice


def test_a_paid_members_file_is_refused_with_the_reason_and_no_longer_linked(app, demo, api_as, client, schema):
    settlement = _approved(api_as)
    instruction = settlement["instructions"][0]
    debtor = instruction["debtor_member_id"]
    finance = db.session.get(Member, debtor)
    assert finance.name == "Stadt Wiesbaden"
    kasse = app.test_client()
    login(kasse, "kasse@wiesbaden.example")
    url = f"/settlements/{settlement['id']}/sepa/{debtor}.xml"
    assert kasse.get(url).status_code == 200
    assert url in kasse.get(f"/settlements/{settlement['id']}").text

    login(client, "betrieb@kopit.example")
    payout_before = _read(schema, client.get(f"/settlements/{settlement['id']}/sepa/{_operator_id()}.xml").data)
    page = client.get(f"/settlements/{settlement['id']}")
    booked = client.post(
        f"/settlements/{settlement['id']}/instructions/{instruction['id']}/direct",
        data={"csrf_token": csrf_token(page.text)},
    )
    assert booked.status_code == 302

    refused = kasse.get(url)
    assert refused.status_code == 409
    assert "bereits bezahlt" in refused.text
    assert not refused.data.startswith(b"<?xml")
    page = kasse.get(f"/settlements/{settlement['id']}").text
    assert url not in page and "Keine Überweisungsdatei für Stadt Wiesbaden" in page
    assert client.get(url).status_code == 409  # operator finance cannot fetch it either

    # the operator's payout file leaves out what Wiesbaden paid straight to its creditor
    creditor = db.session.get(Member, instruction["creditor_member_id"]).name
    before = {t["Cdtr"]["Nm"]: t["Amt"]["InstdAmt"]["$"] for b in payout_before["PmtInf"] for t in b["CdtTrfTxInf"]}
    payout = client.get(f"/settlements/{settlement['id']}/sepa/{_operator_id()}.xml")
    if payout.status_code == 200:
        after = {
            t["Cdtr"]["Nm"]: t["Amt"]["InstdAmt"]["$"]
            for b in _read(schema, payout.data)["PmtInf"]
            for t in b["CdtTrfTxInf"]
        }
        paid = int(instruction["amount"].replace(".", ""))
        assert round(before[creditor] * 100) - round(after.get(creditor, 0) * 100) == paid
    else:  # everything was paid directly: nothing to pay out
        assert payout.status_code == 409


def test_a_draft_settlement_offers_no_file(app, demo, api_as, client):
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    debtor = settlement["instructions"][0]["debtor_member_id"]
    login(client, "betrieb@kopit.example")
    response = client.get(f"/settlements/{settlement['id']}/sepa/{debtor}.xml")
    assert response.status_code == 409 and "noch nicht freigegeben" in response.text
    creditor = settlement["instructions"][0]["creditor_member_id"]
    assert client.get(f"/settlements/{settlement['id']}/sepa/{creditor}.xml").status_code == 404  # pays nothing


def _remittances(schema: xmlschema.XMLSchema, raw: bytes) -> dict[str, str]:
    """Receiver name → remittance text (Ustrd) of each transfer in a pain.001 file, validated against its XSD."""
    document = _read(schema, raw)
    return {t["Cdtr"]["Nm"]: t["RmtInf"]["Ustrd"][0] for b in document["PmtInf"] for t in b["CdtTrfTxInf"]}


def _advice(api_as, settlement_id: int, member_id: int) -> tuple[str, list[str]]:
    advice = api_as("betrieb@kopit.example").get(f"/api/v1/settlements/{settlement_id}/advices/{member_id}")
    body = advice.get_json()
    return body["number"], [d["number"] for d in body["documents"]]


def test_remittance_is_the_advice_then_whole_invoice_numbers_within_140_characters():
    assert remittance("ZA-2026-08-4", ["LB-2-000001", "LB-3-000007"]) == "ZA-2026-08-4 LB-2-000001 LB-3-000007"
    assert remittance("ZA-2026-08-4", []) == "ZA-2026-08-4"
    numbers = [f"LB-2-{n:06d}" for n in range(1, 31)]
    text = remittance("ZA-2026-08-4", numbers)
    assert len(text) <= MAX_REMITTANCE and text.endswith(" u. a.")
    named = text.removeprefix("ZA-2026-08-4 ").removesuffix(" u. a.").split(" ")
    assert named == numbers[: len(named)]  # in order, none cut off
    assert len(f"{text.removesuffix(' u. a.')} {numbers[len(named)]} u. a.") > MAX_REMITTANCE  # as many as fit
    # exactly 140 characters with the last number: no "u. a." needed
    exact = ["X" * 63, "Y" * 63]
    assert remittance("ZA-1-1234567", exact) == f"ZA-1-1234567 {exact[0]} {exact[1]}"
    assert len(remittance("ZA-1-1234567", exact)) == MAX_REMITTANCE
    assert remittance("ZA-1-1234567", [*exact, "Z"]) == f"ZA-1-1234567 {exact[0]} u. a."
    # the SEPA character set: umlauts spelt out, accents dropped, anything else a hyphen
    assert remittance("ZA-Ä", ["Grüße_1", "Café&2"]) == "ZA-Ae Gruesse-1 Cafe-2"


def test_the_files_name_the_advice_and_its_invoice_numbers(app, demo, api_as, client, schema):
    release_invoices("2026-08")
    settlement = _approved(api_as)
    login(client, "betrieb@kopit.example")
    for instruction in settlement["instructions"]:
        payer, creditor = instruction["debtor_member_id"], instruction["creditor_member_id"]
        number, documents = _advice(api_as, settlement["id"], payer)
        assert documents and all(d.startswith("LB-") for d in documents)
        texts = _remittances(schema, client.get(f"/settlements/{settlement['id']}/sepa/{payer}.xml").data)
        assert texts[db.session.get(Member, creditor).name] == " ".join([number, *documents])
    # the operator's payout names the receiver's advice and the documents on it
    payouts = _remittances(schema, client.get(f"/settlements/{settlement['id']}/sepa/{_operator_id()}.xml").data)
    assert payouts
    for name, text in payouts.items():
        receiver = db.session.scalar(select(Member.id).where(Member.name == name))
        number, documents = _advice(api_as, settlement["id"], receiver)
        assert text == " ".join([number, *documents]) and len(text) <= MAX_REMITTANCE


def test_an_advice_with_many_invoices_names_as_many_as_fit_and_ends_with_u_a(
    app, demo, api_as, client, schema, close_through
):
    """Twelve October bookings of Wiesbaden at KDZ Mainz, each with its own order number: twelve invoices, more
    than 140 characters can name."""
    kdz, buyer = user("anbieter@kdz-mainz.example"), user("einkauf@wiesbaden.example")
    service = Service(
        provider_id=kdz.member_id,
        category_id=db.session.scalar(select(Category.id).where(Category.slug == "hosting")),
        title="Speicherplatz je Fachverfahren",
        unit=Unit.MONTH,
        unit_price_cents=12000,
        vat_category=VatCategory.STANDARD,
        vat_rate=Decimal("19.00"),
        status=ServiceStatus.PUBLISHED,
        created_by_id=kdz.id,
    )
    db.session.add(service)
    db.session.flush()
    for n in range(1, 13):
        booking = Booking(
            service_id=service.id,
            buyer_id=buyer.member_id,
            requested_by_id=buyer.id,
            quantity=1,
            starts_on=date(2026, 10, 1),
            ends_on=date(2026, 10, 31),
            status=BookingStatus.REQUESTED,
            order_reference=f"B-2026-{n:03d}",
        )
        db.session.add(booking)
        db.session.flush()
        accept_booking(kdz, booking)
    db.session.commit()
    close_through("2026-10")
    release_invoices()
    created = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-10"}).get_json()
    assert api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{created['id']}/approve").status_code == 200
    wiesbaden = buyer.member_id
    number, documents = _advice(api_as, created["id"], wiesbaden)
    assert len(documents) > 12

    login(client, "betrieb@kopit.example")
    texts = _remittances(schema, client.get(f"/settlements/{created['id']}/sepa/{wiesbaden}.xml").data)
    assert texts
    for text in texts.values():
        assert len(text) <= MAX_REMITTANCE and SEPA_TEXT.fullmatch(text), text
        assert text.startswith(f"{number} LB-") and text.endswith(" u. a.")
        named = text.removeprefix(f"{number} ").removesuffix(" u. a.").split(" ")
        assert len(named) >= 9 and set(named) <= set(documents) and len(set(named)) == len(named)
    # the debit's description (Stripe) is the same kind of text, in the advice's order
    description = advice_remittance(
        db.session.get(Settlement, created["id"]), wiesbaden, lines_for(created["id"], wiesbaden)
    )
    assert description.startswith(f"{number} {documents[0]} {documents[1]}") and description.endswith(" u. a.")
