"""A booking's money month by month (`GET /api/v1/bookings/{id}/charges` and the booking page) agrees to the
cent with the ledger, for both parties, and is 404 for everyone else."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.bookings.models import Booking
from marketplace.catalogue.models import Service
from marketplace.extensions import db
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.members.models import Member
from marketplace.settlement.models import Invoice, InvoiceLine
from tests.conftest import login

BUYER = "einkauf@wiesbaden.example"
PROVIDER = "anbieter@kdz-mainz.example"


def _booking(buyer_name: str, title: str) -> Booking:
    return db.session.scalar(
        select(Booking)
        .join(Service, Service.id == Booking.service_id)
        .join(Member, Member.id == Booking.buyer_id)
        .where(Service.title == title, Member.name == buyer_name)
    )


def _ledger_months(booking_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Transfer.period, Transfer.amount_cents).where(
            Transfer.booking_id == booking_id, Transfer.kind == TransferKind.CHARGE
        )
    ).all()
    months: dict[str, int] = {}
    for period, amount in rows:
        months[period] = months.get(period, 0) + amount
    return months


def test_both_parties_see_each_month_with_its_invoice_and_the_ledger_agrees(api_as, demo):
    vm = _booking("Stadt Wiesbaden", "Virtueller Server (Standard)")
    ledger = _ledger_months(vm.id)
    assert ledger == {"2026-08": 35600, "2026-09": 35600}  # 4 × 89,00 € from 1 August
    august_invoice = db.session.scalar(
        select(InvoiceLine.invoice_id)
        .join(Transfer, Transfer.id == InvoiceLine.transfer_id)
        .where(Transfer.booking_id == vm.id, Transfer.period == "2026-08")
    )
    for who in (BUYER, PROVIDER):
        response = api_as(who).get(f"/api/v1/bookings/{vm.id}/charges")
        assert response.status_code == 200, response.get_json()
        assert response.headers["Cache-Control"] == "no-store"
        body = response.get_json()
        assert [m["period"] for m in body["items"]] == ["2026-08", "2026-09"]
        august, september = body["items"]
        assert august["net"] == "356.00" and august["credits"] == "0.00" and august["vat"] == "0.00"
        released = db.session.get(Invoice, august_invoice).release_status.value == "released"
        assert august["invoice_ids"] == [august_invoice]
        assert august["status"] == ("released" if released else "invoiced")
        september_invoices = list(
            db.session.scalars(
                select(InvoiceLine.invoice_id)
                .join(Transfer, Transfer.id == InvoiceLine.transfer_id)
                .where(Transfer.booking_id == vm.id, Transfer.period == "2026-09")
            )
        )
        assert september["net"] == "356.00" and september["invoice_ids"] == september_invoices
        assert september["status"] != "billed" if september_invoices else september["status"] == "billed"
        assert body["net"] == "712.00"
        assert {m["period"]: int(m["net"].replace(".", "")) for m in body["items"]} == ledger


def test_vat_share_and_credits_of_a_taxable_metered_booking(api_as, demo, user):
    from marketplace.ledger.operations import reverse_transfer

    storage = _booking("Stadt Wiesbaden", "Objektspeicher (S3-kompatibel)")
    charge = db.session.scalar(select(Transfer).where(Transfer.booking_id == storage.id, Transfer.period == "2026-09"))
    assert charge.amount_cents == 20480  # 5.120 GB × 0,04 €
    body = api_as(BUYER).get(f"/api/v1/bookings/{storage.id}/charges").get_json()
    september = body["items"][0]
    assert september == {**september, "net": "204.80", "vat": "38.91", "gross": "243.71", "credits": "0.00"}

    reverse_transfer(user("betrieb@kopit.example"), charge.id, "Menge falsch gemeldet")
    db.session.commit()
    september = api_as(BUYER).get(f"/api/v1/bookings/{storage.id}/charges").get_json()["items"][0]
    assert september["period"] == "2026-09" and september["credits"] == "204.80" and september["vat"] == "0.00"
    assert september["gross"] == "0.00" and len(september["transfer_ids"]) == 2


def test_others_get_404(api_as, demo):
    vm = _booking("Stadt Wiesbaden", "Virtueller Server (Standard)")
    for outsider in ("einkauf@ladadi.example", "anbieter@ekom21.example"):
        response = api_as(outsider).get(f"/api/v1/bookings/{vm.id}/charges")
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("application/problem+json")
    assert api_as(BUYER).get("/api/v1/bookings/999999/charges").status_code == 404


def test_booking_page_shows_the_same_months_and_links_the_invoice(app, demo):
    vm = _booking("Stadt Wiesbaden", "Virtueller Server (Standard)")
    invoice = db.session.scalar(
        select(Invoice).where(
            Invoice.buyer_id == vm.buyer_id, Invoice.period == "2026-08", Invoice.provider_id == vm.service.provider_id
        )
    )
    client = app.test_client()
    login(client, BUYER)
    page = client.get(f"/bookings/{vm.id}").text.replace("\xa0", " ")
    assert "4 × 89,00 € = 356,00 € netto" in page
    row = page.split('data-period="2026-08"', 1)[1].split("</tr>", 1)[0]
    assert 'data-net="35600"' in row and f'/invoices/{invoice.id}"' in row and invoice.number in row
    assert ("Rechnung freigegeben" if invoice.release_status.value == "released" else "Freigabe offen") in row
    # the invoice link opens for the buyer without the finance role
    assert client.get(f"/invoices/{invoice.id}").status_code == 200


def test_usage_rows_show_their_euros(app, demo):
    storage = _booking("Stadt Wiesbaden", "Objektspeicher (S3-kompatibel)")
    client = app.test_client()
    login(client, BUYER)
    page = client.get(f"/bookings/{storage.id}").text.replace("\xa0", " ")
    usage = page.split('id="verbrauch"', 1)[1].split("</table>", 1)[0]
    assert "5.120 GB-Monat" in usage or "5120 GB-Monat" in usage
    assert "204,80 €" in usage


def test_estimate_before_the_request_is_accepted(app, demo, user):
    from datetime import date

    from marketplace.bookings.operations import BookingRequest, request_booking

    service = db.session.scalar(select(Service).where(Service.title == "Virtueller Server (Standard)"))
    booking = request_booking(
        user(BUYER), BookingRequest(service_id=service.id, quantity=2, starts_on=date(2026, 12, 1))
    )
    db.session.commit()
    for who in (BUYER, PROVIDER):
        client = app.test_client()
        login(client, who)
        page = client.get(f"/bookings/{booking.id}").text.replace("\xa0", " ")
        assert "Voraussichtliche Kosten je vollem Monat" in page and "2 × 89,00 € = 178,00 € netto" in page
