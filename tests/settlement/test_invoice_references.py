"""The buyer's references, from booking to invoice: a member's invoice profile names what its invoices must
carry (order BT-13, contract BT-12, accounting BT-19, project BT-11) and defaults; bookings take the defaults,
must name the required ones and keep them editable until invoiced; invoices are split by them, carry them in
the header and the booking's accounting reference on each line (BT-133). Lines state quantities as they are:
a pro-rata month as the full month less an allowance (BG-27) with its period (BG-26)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from lxml import etree
from sqlalchemy import select

from marketplace.bookings.models import Booking, BookingStatus
from marketplace.bookings.operations import accept_booking
from marketplace.catalogue.models import Category, Service, ServiceStatus, Unit, VatCategory
from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from marketplace.settlement.models import Invoice
from tests.conftest import csrf_token, login, post_form
from tests.settlement.conftest import user

NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}


def _service(title: str) -> Service:
    return db.session.scalar(select(Service).where(Service.title == title))


def _ladadi_requires_references(api_as) -> int:
    """The Landkreis's finance staff: every booking needs an order and a commitment number; cost centre default."""
    ladadi = user("kasse@ladadi.example").member
    response = api_as("kasse@ladadi.example").put(
        f"/api/v1/members/{ladadi.id}/invoice-profile",
        json={
            "required": ["order_reference", "project_reference"],
            "defaults": {"buyer_accounting_reference": "KST 4711", "contract_reference": "ÖRV 2026/3"},
        },
    )
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["required"] == ["order_reference", "project_reference"]
    assert body["defaults"]["buyer_accounting_reference"] == "KST 4711"
    assert body["payment"]["way"] == "clearing"
    return ladadi.id


@pytest.fixture
def ladadi_finance(app, demo, create_user):
    """The Landkreis's finance staff (created unless the demo data has them)."""
    from marketplace.members.models import Role, User

    if db.session.scalar(select(User.id).where(User.email == "kasse@ladadi.example")) is None:
        create_user(user("einkauf@ladadi.example").member, "kasse@ladadi.example", [Role.MEMBER_FINANCE])


def test_a_required_reference_missing_at_booking_is_a_422_naming_the_field(ladadi_finance, api_as):
    _ladadi_requires_references(api_as)
    api = api_as("einkauf@ladadi.example")
    server = _service("Virtueller Server (Standard)")
    request = {"service_id": server.id, "quantity": 1, "starts_on": "2026-11-20"}
    refused = api.post("/api/v1/bookings", json=request)
    assert refused.status_code == 422
    assert refused.mimetype == "application/problem+json"
    assert set(refused.get_json()["errors"]) == {"order_reference", "project_reference"}
    assert "Bestellnummer" in refused.get_json()["errors"]["order_reference"][0]
    # blank is missing too; a control character or 101 characters are refused, naming the field
    assert (
        api.post("/api/v1/bookings", json={**request, "order_reference": "  ", "project_reference": "P"}).status_code
        == 422
    )
    too_long = api.post("/api/v1/bookings", json={**request, "order_reference": "x" * 101, "project_reference": "P"})
    assert too_long.status_code == 422 and "order_reference" in too_long.get_json()["errors"]
    tab = api.post("/api/v1/bookings", json={**request, "order_reference": "B\t1", "project_reference": "P"})
    assert tab.status_code == 422 and "order_reference" in tab.get_json()["errors"]

    created = api.post("/api/v1/bookings", json={**request, "order_reference": "B-100", "project_reference": "MB-17"})
    assert created.status_code == 201, created.text
    booking = created.get_json()
    # the defaults are copied into the booking when it is requested
    assert {
        name: booking[name]
        for name in ("order_reference", "contract_reference", "buyer_accounting_reference", "project_reference")
    } == {
        "order_reference": "B-100",
        "contract_reference": "ÖRV 2026/3",
        "buyer_accounting_reference": "KST 4711",
        "project_reference": "MB-17",
    }
    assert booking["invoiced"] is False
    # editable until invoiced: only the fields sent change, a required one cannot be emptied
    path = f"/api/v1/bookings/{booking['id']}"
    emptied = api.patch(path, json={"project_reference": ""})
    assert emptied.status_code == 422 and set(emptied.get_json()["errors"]) == {"project_reference"}
    changed = api.patch(path, json={"order_reference": "B-101", "buyer_accounting_reference": ""})
    assert changed.status_code == 200, changed.text
    assert (changed.get_json()["order_reference"], changed.get_json()["buyer_accounting_reference"]) == ("B-101", "")
    assert changed.get_json()["project_reference"] == "MB-17"
    # the provider reads them, but does not change them
    provider = api_as("anbieter@kdz-mainz.example")
    assert provider.get(path).get_json()["order_reference"] == "B-101"
    assert provider.patch(path, json={"order_reference": "X"}).status_code == 403
    # another member's booking does not exist
    assert api_as("einkauf@wiesbaden.example").patch(path, json={"order_reference": "X"}).status_code == 404
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "booking.references"))
    assert audit.data["after"]["order_reference"] == "B-101"


def test_the_profile_belongs_to_the_members_finance_staff_and_the_operator(ladadi_finance, api_as):
    ladadi = user("kasse@ladadi.example").member
    path = f"/api/v1/members/{ladadi.id}/invoice-profile"
    assert api_as("kasse@ladadi.example").get(path).status_code == 200
    assert api_as("betrieb@kopit.example").get(path).status_code == 200
    assert api_as("einkauf@ladadi.example").get(path).status_code == 404  # a buyer, not finance
    assert api_as("kasse@wiesbaden.example").get(path).status_code == 404  # another member's finance
    unknown = api_as("kasse@ladadi.example").put(path, json={"required": ["cost_centre"]})
    assert unknown.status_code == 422 and "required.0" in unknown.get_json()["errors"]
    assert (
        api_as("kasse@ladadi.example").put(path, json={"defaults": {"order_reference": "x" * 101}}).status_code == 422
    )


@pytest.fixture
def referenced_invoices(ladadi_finance, api_as, close_through, set_today):
    """Three November bookings of the Landkreis with KDZ Mainz: two with order B-100 (a server from the 20th,
    hours of operation), one with order B-200; billed and closed with the months before."""
    _ladadi_requires_references(api_as)
    buyer, provider = api_as("einkauf@ladadi.example"), api_as("anbieter@kdz-mainz.example")
    ids = {}
    for key, title, quantity, order in (
        ("server", "Virtueller Server (Standard)", 3, "B-100"),
        ("hours", "Betrieb von Fachverfahren", 1, "B-100"),
        ("other", "Virtueller Server (Standard)", 1, "B-200"),
    ):
        response = buyer.post(
            "/api/v1/bookings",
            json={
                "service_id": _service(title).id,
                "quantity": quantity,
                "starts_on": "2026-11-20",
                "order_reference": order,
                "project_reference": "MB-17",
            },
        )
        assert response.status_code == 201, response.text
        ids[key] = response.get_json()["id"]
        assert provider.post(f"/api/v1/bookings/{ids[key]}/accept").status_code == 200
    usage = provider.post(f"/api/v1/bookings/{ids['hours']}/usage", json={"period": "2026-11", "quantity": "7.25"})
    assert usage.status_code == 201, usage.text
    # the Landkreis confirms the hours, so November's run bills them
    confirmed = api_as("einkauf@ladadi.example").post(f"/api/v1/usage/{usage.get_json()['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    set_today("2026-12-02")
    close_through("2026-11")
    return ids


def _invoice_of(booking_id: int) -> Invoice:
    invoices = [
        i for i in db.session.scalars(select(Invoice)) if any(line.booking_id == booking_id for line in i.lines)
    ]
    assert len(invoices) == 1
    return invoices[0]


def test_bookings_with_different_references_land_on_separate_invoices(referenced_invoices, api_as):
    ids = referenced_invoices
    first, second = _invoice_of(ids["server"]), _invoice_of(ids["other"])
    assert _invoice_of(ids["hours"]).id == first.id  # same references: the same invoice
    assert first.id != second.id
    assert (first.provider_id, first.buyer_id, first.period, first.vat_category) == (
        second.provider_id,
        second.buyer_id,
        second.period,
        second.vat_category,
    )
    # the Landkreis's older bookings (without references) have an invoice of their own as well
    november = [
        i
        for i in db.session.scalars(select(Invoice).where(Invoice.period == "2026-11"))
        if i.buyer_id == first.buyer_id and i.provider_id == first.provider_id
    ]
    assert len(november) == 3
    api = api_as("betrieb@kopit.example")
    for invoice, order in ((first, "B-100"), (second, "B-200")):
        tree = etree.fromstring(api.get(f"/api/v1/invoices/{invoice.id}/xrechnung").data)
        assert tree.findtext("cac:OrderReference/cbc:ID", namespaces=NS) == order  # BT-13
        assert tree.findtext("cac:ContractDocumentReference/cbc:ID", namespaces=NS) == "ÖRV 2026/3"  # BT-12
        assert tree.findtext("cac:ProjectReference/cbc:ID", namespaces=NS) == "MB-17"  # BT-11
        assert tree.findtext("cbc:AccountingCost", namespaces=NS) == "KST 4711"  # BT-19
        lines = tree.findall("cac:InvoiceLine", NS)
        assert lines and all(line.findtext("cbc:AccountingCost", namespaces=NS) == "KST 4711" for line in lines)
    # once invoiced, the references are those of an issued document
    refused = api_as("einkauf@ladadi.example").patch(
        f"/api/v1/bookings/{ids['server']}", json={"order_reference": "B-9"}
    )
    assert refused.status_code == 409
    assert api_as("einkauf@ladadi.example").get(f"/api/v1/bookings/{ids['server']}").get_json()["invoiced"] is True


def test_a_pro_rata_month_is_the_full_month_less_an_allowance_and_usage_its_quantity(referenced_invoices, api_as):
    ids = referenced_invoices
    invoice = _invoice_of(ids["server"])
    tree = etree.fromstring(api_as("betrieb@kopit.example").get(f"/api/v1/invoices/{invoice.id}/xrechnung").data)
    lines = {
        line.findtext("cac:Item/cac:SellersItemIdentification/cbc:ID", namespaces=NS): line
        for line in tree.findall("cac:InvoiceLine", NS)
    }
    server = lines[f"BUCHUNG-{ids['server']}"]
    quantity = server.find("cbc:InvoicedQuantity", NS)
    assert (quantity.text, quantity.get("unitCode")) == ("3", "MON")  # three servers for the month
    assert server.findtext("cac:Price/cbc:PriceAmount", namespaces=NS) == "89.00"
    # 20 to 30 November: 11 of 30 days; 3 × 89.00 × 11/30 = 97.90, the allowance the other 169.10
    assert server.findtext("cbc:LineExtensionAmount", namespaces=NS) == "97.90"
    allowance = server.find("cac:AllowanceCharge", NS)
    assert allowance.findtext("cbc:ChargeIndicator", namespaces=NS) == "false"
    assert allowance.findtext("cbc:AllowanceChargeReason", namespaces=NS) == "anteiliger Monat: 11 von 30 Tagen"
    assert allowance.findtext("cbc:Amount", namespaces=NS) == "169.10"
    assert allowance.findtext("cbc:BaseAmount", namespaces=NS) == "267.00"
    assert Decimal("3") * Decimal("89.00") - Decimal("169.10") == Decimal("97.90")
    assert server.findtext("cac:InvoicePeriod/cbc:StartDate", namespaces=NS) == "2026-11-20"  # BG-26
    assert server.findtext("cac:InvoicePeriod/cbc:EndDate", namespaces=NS) == "2026-11-30"
    # the API lists the same: what each line is made of, and the references
    listed = api_as("betrieb@kopit.example").get("/api/v1/invoices?period=2026-11&per_page=100").get_json()
    item = next(i for i in listed["items"] if i["id"] == invoice.id)
    assert (item["order_reference"], item["project_reference"], item["payment_means_code"]) == ("B-100", "MB-17", "97")
    line = next(line for line in item["lines"] if line["booking_id"] == ids["server"])
    assert (line["quantity"], line["unit_code"], line["unit_price"], line["allowance"], line["net"]) == (
        "3.000",
        "MON",
        "89.00",
        "169.10",
        "97.90",
    )
    assert (line["period_start"], line["period_end"], line["accounting_reference"]) == (
        "2026-11-20",
        "2026-11-30",
        "KST 4711",
    )
    hours = lines[f"BUCHUNG-{ids['hours']}"]
    quantity = hours.find("cbc:InvoicedQuantity", NS)
    assert (quantity.text, quantity.get("unitCode")) == ("7.25", "HUR")
    assert hours.findtext("cac:Price/cbc:PriceAmount", namespaces=NS) == "95.00"
    assert hours.findtext("cbc:LineExtensionAmount", namespaces=NS) == "688.75"  # 7.25 × 95.00
    assert hours.find("cac:AllowanceCharge", NS) is None
    assert hours.findtext("cac:InvoicePeriod/cbc:StartDate", namespaces=NS) == "2026-11-20"
    assert hours.findtext("cac:InvoicePeriod/cbc:EndDate", namespaces=NS) == "2026-11-30"


def test_every_line_of_the_month_is_quantity_times_price_less_allowance(app, demo, close_through):
    """Each unit the demo sells (MON, HUR, IE, E34) on September's invoices: the line net recomputes exactly."""
    close_through("2026-09")
    codes = set()
    for invoice in db.session.scalars(select(Invoice).where(Invoice.period == "2026-09")):
        for line in invoice.lines:
            codes.add(line.unit_code)
            gross = (line.quantity * line.unit_price_cents).quantize(Decimal(1))
            assert gross - line.allowance_cents == line.net_cents
            assert line.period_start and line.period_end and line.period_start <= line.period_end
    assert codes == {"MON", "HUR", "IE", "E34"}
    storage = db.session.scalar(
        select(Invoice).where(Invoice.period == "2026-09", Invoice.vat_category == VatCategory.STANDARD)
    )
    [line] = storage.lines
    assert (line.quantity, line.unit_code, line.unit_price_cents, line.net_cents) == (Decimal("5120"), "E34", 4, 20480)
    # the demo's Landkreis server from 10 September: 2 × 89.00 × 21/30 = 124.60, allowance 53.40
    server = next(
        line
        for i in db.session.scalars(select(Invoice).where(Invoice.period == "2026-09"))
        for line in i.lines
        if line.allowance_cents
    )
    assert (server.quantity, server.unit_price_cents, server.allowance_cents, server.net_cents) == (
        Decimal("2"),
        8900,
        5340,
        12460,
    )
    assert server.allowance_reason == "anteiliger Monat: 21 von 30 Tagen"
    assert (server.period_start, server.period_end) == (date(2026, 9, 10), date(2026, 9, 30))


def test_the_booking_form_asks_for_the_required_references(ladadi_finance, api_as, client):
    _ladadi_requires_references(api_as)
    server = _service("Virtueller Server (Standard)")
    login(client, "einkauf@ladadi.example")
    page = client.get(f"/services/{server.id}")
    assert page.status_code == 200 and 'value="KST 4711"' in page.text  # the default, prefilled
    data = {"quantity": "1", "starts_on": "2026-11-20", "buyer_accounting_reference": "KST 4711"}
    refused = client.post(f"/bookings/request/{server.id}", data={**data, "csrf_token": csrf_token(page.text)})
    assert refused.status_code == 422
    assert "Ihre Stelle verlangt auf jeder Rechnung eine Bestellnummer" in refused.text
    assert "Ihre Stelle verlangt auf jeder Rechnung eine Projekt- oder Mittelbindungsnummer" in refused.text
    assert db.session.scalar(select(Booking.id).where(Booking.starts_on == date(2026, 11, 20))) is None
    created = client.post(
        f"/bookings/request/{server.id}",
        data={**data, "order_reference": "B-7", "project_reference": "MB-1", "csrf_token": csrf_token(page.text)},
    )
    assert created.status_code == 302
    booking = db.session.scalar(select(Booking).where(Booking.starts_on == date(2026, 11, 20)))
    assert (booking.order_reference, booking.project_reference, booking.contract_reference) == (
        "B-7",
        "MB-1",
        "ÖRV 2026/3",
    )
    # the booking page edits them until invoiced; a required one left empty is a form message
    shown = client.get(f"/bookings/{booking.id}")
    assert 'value="B-7"' in shown.text
    emptied = post_form(
        client,
        f"/bookings/{booking.id}",
        f"/bookings/{booking.id}/references",
        {"refs-order_reference": "", "refs-project_reference": "MB-1"},
    )
    assert emptied.status_code == 422 and "Ihre Stelle verlangt auf jeder Rechnung eine Bestellnummer" in emptied.text
    saved = post_form(
        client,
        f"/bookings/{booking.id}",
        f"/bookings/{booking.id}/references",
        {"refs-order_reference": "B-8", "refs-project_reference": "MB-1"},
    )
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).order_reference == "B-8"


def test_an_invoiced_booking_shows_its_references_and_refuses_changes(referenced_invoices, client):
    booking_id = referenced_invoices["server"]
    login(client, "einkauf@ladadi.example")
    page = client.get(f"/bookings/{booking_id}")
    assert page.status_code == 200 and "B-100" in page.text and 'name="refs-order_reference"' not in page.text
    token = csrf_token(page.text)
    refused = client.post(
        f"/bookings/{booking_id}/references",
        data={"refs-order_reference": "B-9", "refs-project_reference": "MB-17", "csrf_token": token},
    )
    assert refused.status_code == 409 and "bereits in Rechnung gestellt" in refused.text
    assert db.session.get(Booking, booking_id).order_reference == "B-100"


def test_the_invoice_profile_page(ladadi_finance, client, app):
    ladadi = user("kasse@ladadi.example").member
    url = f"/members/{ladadi.id}/invoice-profile"
    login(client, "kasse@ladadi.example")
    assert 'href="' + url + '"' in client.get("/profile").text
    debit_without_mandate = post_form(client, url, url, {"payment_way": "debit", "mandate_iban": ladadi.iban})
    assert debit_without_mandate.status_code == 422
    assert "Referenz des SEPA-Mandats" in debit_without_mandate.text
    saved = post_form(
        client,
        url,
        url,
        {
            "required": ["order_reference"],
            "order_reference": "",
            "buyer_accounting_reference": "KST 9",
            "payment_way": "debit",
            "mandate_reference": "LADADI-0001",
            "mandate_iban": ladadi.iban,
        },
    )
    assert saved.status_code == 302
    page = client.get(url)
    assert 'value="LADADI-0001"' in page.text and 'value="KST 9"' in page.text
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invoice_profile.updated"))
    assert event.member_id == ladadi.id and event.data["after"]["payment_way"] == "debit"
    assert event.data["before"]["payment_way"] == "clearing"
    # a buyer of the member and other members' finance staff do not see it
    for email in ("einkauf@ladadi.example", "kasse@wiesbaden.example"):
        other = app.test_client()
        login(other, email)
        assert other.get(url).status_code == 404


def test_the_exemption_of_each_booking_is_its_snapshot_at_acceptance(app, demo, close_through, api_as):
    """Two exempt trainings of ekom21 with different legal bases: separate invoices, each with the text its
    booking took at acceptance, however the service reads later."""
    ekom, buyer = user("anbieter@ekom21.example"), user("einkauf@ladadi.example")
    training = db.session.scalar(select(Category.id).where(Category.slug == "training"))
    bookings = []
    for title, code, basis in (
        ("Schulung Datenschutz", "VATEX-EU-132-1I", "§ 4 Nr. 21 UStG"),
        ("Schulung Vergaberecht", "VATEX-EU-132", "§ 4 Nr. 22 UStG"),
    ):
        service = Service(
            provider_id=ekom.member_id,
            category_id=training,
            title=title,
            unit=Unit.MONTH,
            unit_price_cents=50000,
            vat_category=VatCategory.EXEMPT,
            vat_rate=Decimal("0.00"),
            vatex_code=code,
            tax_legal_basis=basis,
            status=ServiceStatus.PUBLISHED,
            created_by_id=ekom.id,
        )
        db.session.add(service)
        db.session.flush()
        booking = Booking(
            service_id=service.id,
            buyer_id=buyer.member_id,
            requested_by_id=buyer.id,
            quantity=1,
            starts_on=date(2026, 10, 1),
            ends_on=date(2026, 10, 31),
            status=BookingStatus.REQUESTED,
        )
        db.session.add(booking)
        db.session.flush()
        accept_booking(ekom, booking)
        bookings.append(booking)
        service.vatex_code, service.tax_legal_basis = "VATEX-EU-135-1", "geändert nach Annahme"
    db.session.commit()
    assert (bookings[0].vat_exemption_code, bookings[0].vat_exemption_reason) == (
        "VATEX-EU-132-1I",
        "Steuerfrei nach § 4 Nr. 21 UStG",
    )
    close_through("2026-10")
    api = api_as("betrieb@kopit.example")
    texts = set()
    for booking, code, text in (
        (bookings[0], "VATEX-EU-132-1I", "Steuerfrei nach § 4 Nr. 21 UStG"),
        (bookings[1], "VATEX-EU-132", "Steuerfrei nach § 4 Nr. 22 UStG"),
    ):
        invoice = _invoice_of(booking.id)
        tree = etree.fromstring(api.get(f"/api/v1/invoices/{invoice.id}/xrechnung").data)
        category = tree.find("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", NS)
        assert category.findtext("cbc:TaxExemptionReasonCode", namespaces=NS) == code
        assert category.findtext("cbc:TaxExemptionReason", namespaces=NS) == text
        texts.add(invoice.id)
    assert len(texts) == 2


def test_a_credit_note_repeats_the_references_and_the_quantities(referenced_invoices, api_as, close_month, set_today):
    from marketplace.ledger.operations import reverse_transfer

    invoice = _invoice_of(referenced_invoices["server"])
    line = next(line for line in invoice.lines if line.booking_id == referenced_invoices["server"])
    reverse_transfer(user("betrieb@kopit.example"), line.transfer_id, "Server nie bereitgestellt")
    db.session.commit()
    set_today("2027-01-04")
    close_month("2026-12")
    note = db.session.scalar(select(Invoice).where(Invoice.credited_invoice_id == invoice.id))
    tree = etree.fromstring(api_as("betrieb@kopit.example").get(f"/api/v1/invoices/{note.id}/xrechnung").data)
    assert etree.QName(tree).localname == "CreditNote"
    assert tree.findtext("cac:OrderReference/cbc:ID", namespaces=NS) == "B-100"
    assert tree.findtext("cac:ContractDocumentReference/cbc:ID", namespaces=NS) == "ÖRV 2026/3"
    # a CreditNote has no ProjectReference: BT-11 is a document reference of type 50
    project = tree.find("cac:AdditionalDocumentReference[cbc:DocumentTypeCode='50']", NS)
    assert project.findtext("cbc:ID", namespaces=NS) == "MB-17"
    [credited] = tree.findall("cac:CreditNoteLine", NS)
    quantity = credited.find("cbc:CreditedQuantity", NS)
    assert (quantity.text, quantity.get("unitCode")) == ("3", "MON")
    assert credited.findtext("cbc:LineExtensionAmount", namespaces=NS) == "97.90"
    assert credited.findtext("cac:AllowanceCharge/cbc:Amount", namespaces=NS) == "169.10"
    assert credited.findtext("cbc:AccountingCost", namespaces=NS) == "KST 4711"
    assert credited.findtext("cac:InvoicePeriod/cbc:StartDate", namespaces=NS) == "2026-11-20"
