"""Cost-sharing documents as their receivers read them: advance invoices are partial invoices (326), the
final invoice is over the whole year with each advance invoice it settles referenced (BT-25 with its date,
BT-26) and their gross amount as prepaid (BT-113), all passing the three validation layers; a trued-up
year's page and exports show what was booked even after a Königsteiner value is corrected; advances.csv
marks a reversed advance and plans only months that can still be billed."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from marketplace.catalogue.models import VatCategory
from marketplace.costsharing import operations as ops
from marketplace.costsharing.models import Advance, AllocationKey, TrueUp
from marketplace.extensions import db
from marketplace.ledger.operations import reverse_transfer
from marketplace.settlement.models import Invoice
from tests.conftest import login, post_form
from tests.costsharing.conftest import member, user, verify_ledger

KDZ = "anbieter@kdz-mainz.example"
UBL = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}


def _client(app, email):
    client = app.test_client()
    login(client, email)
    return client


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))


@pytest.fixture
def koenigstein_plan(app, demo, shared_service):
    """A 19 % service shared by Königsteiner values among Wiesbaden and the Landkreis for 2026."""
    operator = user("betrieb@kopit.example")
    wiesbaden, ladadi = member("Stadt Wiesbaden"), member("Landkreis Darmstadt-Dieburg")
    ops.set_koenigstein_value(operator, 2026, wiesbaden, Decimal("7.44344"))
    ops.set_koenigstein_value(operator, 2026, ladadi, Decimal("3.21000"))
    service = shared_service(KDZ, VatCategory.STANDARD, "Gemeinsames Rechenzentrum")
    plan = ops.create_plan(user(KDZ), service, 2026, 1_200_000, AllocationKey.KOENIGSTEIN)
    ops.add_participant(user(KDZ), plan, wiesbaden, date(2026, 1, 1))
    ops.add_participant(user(KDZ), plan, ladadi, date(2026, 1, 1))
    db.session.commit()
    return plan


def _advance(plan_id: int, member_id: int, period: str) -> Advance:
    return db.session.scalar(
        select(Advance).where(Advance.plan_id == plan_id, Advance.member_id == member_id, Advance.period == period)
    )


def test_advance_invoices_are_partial_invoices_and_pass_the_three_layers(
    app, koenigstein_plan, bill, assert_valid_xrechnung
):
    bill("2026-10")
    wiesbaden = member("Stadt Wiesbaden").id
    advance = _advance(koenigstein_plan.id, wiesbaden, "2026-10")
    finance = _client(app, "kasse@wiesbaden.example")
    xml = finance.get(f"/invoices/{advance.invoice_id}/xrechnung")
    assert xml.status_code == 200
    assert_valid_xrechnung(xml.data)
    root = ET.fromstring(xml.data)  # noqa: S314 - our own document
    assert root.findtext("cbc:InvoiceTypeCode", namespaces=UBL) == "326"
    assert "Abschlagsrechnung" in finance.get(f"/invoices/{advance.invoice_id}").text


def test_the_final_invoice_references_each_advance_invoice_and_states_them_as_prepaid(
    app, koenigstein_plan, bill, assert_valid_xrechnung
):
    plan = koenigstein_plan
    for period in ("2026-10", "2026-11"):
        bill(period)
    wiesbaden, ladadi = member("Stadt Wiesbaden").id, member("Landkreis Darmstadt-Dieburg").id
    # October's advance of the Landkreis was charged by mistake and reversed: it is not settled again
    reversed_advance = _advance(plan.id, ladadi, "2026-10")
    reverse_transfer(user("betrieb@kopit.example"), reversed_advance.transfer_id, "Doppelt berechnet")
    db.session.commit()

    app.config["MARKETPLACE_TODAY"] = "2027-01-10"
    kdz = _client(app, KDZ)
    url = f"/cost-sharing/{plan.id}"
    assert post_form(kdz, url, f"{url}/true-up", {"t-actual_cost": "1.500.000,00"}).status_code == 302
    db.session.expire_all()
    finance = _client(app, "betrieb@kopit.example")

    for member_id, months in ((wiesbaden, ["2026-10", "2026-11"]), (ladadi, ["2026-11"])):
        entry = db.session.scalar(select(TrueUp).where(TrueUp.plan_id == plan.id, TrueUp.member_id == member_id))
        final = db.session.get(Invoice, entry.invoice_id)
        advances = [db.session.get(Invoice, _advance(plan.id, member_id, m).invoice_id) for m in months]
        for xml in (kdz.get(f"{url}/final/{member_id}.xml").data, finance.get(f"/invoices/{final.id}/xrechnung").data):
            assert_valid_xrechnung(xml)
            root = ET.fromstring(xml)  # noqa: S314 - our own document
            assert root.findtext("cbc:InvoiceTypeCode", namespaces=UBL) == "380"
            references = [
                (ref.findtext("cbc:ID", namespaces=UBL), ref.findtext("cbc:IssueDate", namespaces=UBL))
                for ref in root.iterfind("cac:BillingReference/cac:InvoiceDocumentReference", UBL)
            ]
            assert references == [(a.number, a.issue_date.isoformat()) for a in advances]
            totals = root.find("cac:LegalMonetaryTotal", UBL)
            prepaid = sum(a.gross_cents for a in advances)
            assert totals.findtext("cbc:PrepaidAmount", namespaces=UBL) == f"{Decimal(prepaid) / 100:.2f}"
            assert (
                totals.findtext("cbc:TaxExclusiveAmount", namespaces=UBL) == f"{Decimal(entry.final_cents) / 100:.2f}"
            )
            payable = Decimal(totals.findtext("cbc:PayableAmount", namespaces=UBL))
            assert payable == Decimal(final.gross_cents - prepaid) / 100
    verify_ledger()


def test_a_koenigstein_value_corrected_after_the_true_up_changes_nothing_booked(app, koenigstein_plan, bill):
    plan = koenigstein_plan
    bill("2026-10")
    app.config["MARKETPLACE_TODAY"] = "2027-01-10"
    kdz = _client(app, KDZ)
    url = f"/cost-sharing/{plan.id}"
    assert post_form(kdz, url, f"{url}/true-up", {"t-actual_cost": "1.300.000,00"}).status_code == 302
    before_csv = _csv(kdz.get(f"{url}/shares.csv"))
    booked = {t.member_id: t.final_cents for t in db.session.scalars(select(TrueUp).where(TrueUp.plan_id == plan.id))}
    assert {int(r["mitglied_id"]): int(Decimal(r["endbetrag"]) * 100) for r in before_csv} == booked

    def shares_table(html: str) -> str:
        return html[html.index("<tbody", html.index("Teilnehmer und Anteile")) : html.index("</tbody>")]

    before_page = shares_table(kdz.get(url).text)
    assert "7,44344" in before_page
    operator = _client(app, "betrieb@kopit.example")
    corrected = post_form(
        operator,
        "/cost-sharing/koenigstein",
        "/cost-sharing/koenigstein",
        {"year": "2026", "member_id": member("Stadt Wiesbaden").id, "value": "9,00000"},
    )
    assert corrected.status_code == 302
    db.session.expire_all()
    assert _csv(kdz.get(f"{url}/shares.csv")) == before_csv  # weights, shares, final amounts: as booked
    assert shares_table(kdz.get(url).text) == before_page  # the page too: no new weight beside booked amounts


def test_advances_csv_marks_a_reversed_advance_and_plans_only_billable_months(app, koenigstein_plan, bill):
    plan = koenigstein_plan
    bill("2026-10")
    bill("2026-11")
    wiesbaden = member("Stadt Wiesbaden").id
    november = _advance(plan.id, wiesbaden, "2026-11")
    reversal = reverse_transfer(user("betrieb@kopit.example"), november.transfer_id, "Falscher Schlüssel")
    db.session.commit()
    kdz = _client(app, KDZ)
    rows = _csv(kdz.get(f"/cost-sharing/{plan.id}/advances.csv"))
    mine = {r["monat"]: r for r in rows if r["mitglied_id"] == str(wiesbaden)}
    # January to September lie up to the closed September: never billed, not planned, not counted
    assert sorted(mine) == ["2026-10", "2026-11", "2026-12"]
    assert mine["2026-10"]["status"] == "berechnet" and mine["2026-10"]["rechnung"]
    assert mine["2026-11"]["status"] == "storniert"
    assert mine["2026-11"]["storno_buchung"] == str(reversal.id)
    assert mine["2026-12"]["status"] == "geplant"
    assert not mine["2026-12"]["rechnung"] and not mine["2026-12"]["buchung"]
    # the shares' "advances in the year" are what was charged and stands plus what can still be billed
    shares = {r["mitglied_id"]: r for r in _csv(kdz.get(f"/cost-sharing/{plan.id}/shares.csv"))}
    expected = sum(Decimal(mine[m]["abschlag"]) for m in ("2026-10", "2026-12"))
    assert Decimal(shares[str(wiesbaden)]["abschlaege_im_jahr"]) == expected
    assert "storniert" in kdz.get(f"/cost-sharing/{plan.id}").text
    # a participant sees its own advances only
    own = _csv(_client(app, "einkauf@wiesbaden.example").get(f"/cost-sharing/{plan.id}/advances.csv"))
    assert own and {r["mitglied_id"] for r in own} == {str(wiesbaden)}


def test_a_true_up_keeps_the_largest_inhabitants_count_the_key_allows(app, demo, shared_service, bill):
    from marketplace.costsharing.models import MAX_POPULATION

    service = shared_service(KDZ, VatCategory.NOT_TAXABLE, "Großes Netz")
    plan = ops.create_plan(user(KDZ), service, 2026, 1_200_000, AllocationKey.POPULATION)
    for name, population in (("Stadt Wiesbaden", MAX_POPULATION), ("Landkreis Darmstadt-Dieburg", 300_117)):
        ops.add_participant(
            user(KDZ), plan, member(name), date(2026, 1, 1), population=population, population_date=date(2025, 12, 31)
        )
    db.session.commit()
    bill("2026-10")
    app.config["MARKETPLACE_TODAY"] = "2027-01-10"
    kdz = _client(app, KDZ)
    url = f"/cost-sharing/{plan.id}"
    assert post_form(kdz, url, f"{url}/true-up", {"t-actual_cost": "1.200.000,00"}).status_code == 302
    rows = {r["mitglied"]: r for r in _csv(kdz.get(f"{url}/shares.csv"))}
    assert rows["Stadt Wiesbaden"]["gewicht"] == str(MAX_POPULATION)
    assert sum(Decimal(r["endbetrag"]) for r in rows.values()) == Decimal("1200000.00")
