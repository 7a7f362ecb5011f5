"""Correction cases through the API and the pages: billed usage disputed by the buyer or corrected by the
provider after the month's close, and invoices objected to. A correction appears as a credit note plus a new
charge in the next open month naming the original invoice; deciding twice creates nothing; a rejection
returns the invoice for release with the operator's note; the parties read only their own cases; everything
is in the audit trail and the ledger verifies."""

from __future__ import annotations

from sqlalchemy import func, select

from marketplace.bookings.models import Booking, UsageRecord
from marketplace.catalogue.models import Service
from marketplace.extensions import db
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.ledger.queries import verify_ledger
from marketplace.settlement.models import Invoice, InvoiceLine, ReleaseStatus
from tests.conftest import csrf_token, login
from tests.corrections.conftest import (
    EKOM,
    LA_BUYER,
    LA_CASH,
    OPERATOR,
    WI_BUYER,
    WI_CASH,
    audit,
    first,
    invoices_of,
    user,
)

STORAGE, LICENCES = "Objektspeicher (S3-kompatibel)", "Lizenzmanagement Microsoft 365"


def usage(title: str, period: str) -> UsageRecord:
    db.session.rollback()
    return db.session.scalar(
        select(UsageRecord)
        .join(Booking, Booking.id == UsageRecord.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .where(Service.title == title, UsageRecord.period == period)
    )


def storage_invoice(period: str) -> Invoice:
    ekom = user(EKOM).member_id
    return first([i for i in invoices_of(WI_BUYER, period) if i.provider_id == ekom])


def counts() -> tuple[int, int]:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Transfer)), db.session.scalar(
        select(func.count()).select_from(Invoice)
    )


def test_a_providers_correction_after_close_becomes_a_credit_note_and_a_charge_in_the_next_open_month(
    app, demo, api_as, close_month, ensure_closed
):
    ensure_closed("2026-09")
    record = usage(STORAGE, "2026-09")
    original = storage_invoice("2026-09")
    assert (original.net_cents, original.vat_cents) == (20480, 3891)  # 5120 GB × 0.04 €, 19 %

    # ekom21 corrects the closed month: a case, and the invoice is held from release
    opened = api_as(EKOM).post(
        f"/api/v1/usage/{record.id}/correct", json={"quantity": "4096", "reason": "Replikate doppelt gezählt"}
    )
    assert opened.status_code == 201, opened.get_json()
    case = opened.get_json()
    assert case["source"] == "provider_correction" and case["status"] == "open"
    assert (case["invoice_id"], case["billed_quantity"], case["proposed_quantity"]) == (
        original.id,
        "5120.000",
        "4096.000",
    )
    assert db.session.get(Invoice, original.id).release_status is ReleaseStatus.OBJECTED
    assert api_as(WI_CASH).post(f"/api/v1/invoices/{original.id}/release").status_code == 409
    stated = api_as(WI_BUYER).post(
        f"/api/v1/corrections/{case['id']}/statement", json={"statement": "Einverstanden, 4.096 GB stimmen."}
    )
    assert stated.status_code == 200 and stated.get_json()["buyer_statement"]["text"].startswith("Einverstanden")
    own = api_as(WI_BUYER).post(f"/api/v1/corrections/{case['id']}/resolve", json={"decision": "rejected", "note": "x"})
    assert own.status_code == 403

    before = counts()
    decided = api_as(OPERATOR).post(
        f"/api/v1/corrections/{case['id']}/resolve",
        json={"decision": "corrected", "note": "Menge laut Anbieter und Abnehmer berichtigt."},
    )
    assert decided.status_code == 200, decided.get_json()
    decision = decided.get_json()["decision"]
    assert decision["decision"] == "corrected" and decision["by"] == "Petra Betrieb"
    assert (decision["quantity"], decision["amount"], decision["charge_period"]) == ("4096.000", "163.84", "2026-10")

    # the credit note at once, for the original invoice, its VAT posted back in the open month
    note = db.session.get(Invoice, decision["credit_note_id"])
    assert note.is_credit_note and note.credited_invoice_id == original.id and note.period == "2026-10"
    assert (note.net_cents, note.vat_cents, note.release_status) == (20480, 3891, ReleaseStatus.RELEASED)
    assert original.number in note.lines[0].description
    # the reversal and the new charge in October, the charge naming the original invoice
    charge = db.session.get(Transfer, decision["charge_transfer_id"])
    assert charge.idempotency_key == f"correction:{case['id']}" and charge.kind is TransferKind.CHARGE
    assert (charge.period, charge.amount_cents) == ("2026-10", 16384)
    assert original.number in charge.description
    reversal = db.session.scalar(select(Transfer).where(Transfer.reverses_id == case["charge_transfer_id"]))
    assert reversal.period == "2026-10" and reversal.amount_cents == 20480
    # reversal, credit-note VAT and new charge: three transfers; one new document
    assert counts() == (before[0] + 3, before[1] + 1)
    # the invoice goes back to the buyer for release, with the operator's note on the page
    assert db.session.get(Invoice, original.id).release_status is ReleaseStatus.PENDING

    # deciding twice creates nothing
    again = api_as(OPERATOR).post(
        f"/api/v1/corrections/{case['id']}/resolve", json={"decision": "corrected", "note": "Nochmal"}
    )
    assert again.status_code == 409 and counts() == (before[0] + 3, before[1] + 1)
    rejected = api_as(OPERATOR).post(
        f"/api/v1/corrections/{case['id']}/resolve", json={"decision": "rejected", "note": "Doch nicht"}
    )
    assert rejected.status_code == 409

    # October's close invoices the corrected amount with its reference to the original invoice
    close_month("2026-10")
    db.session.rollback()
    line = db.session.scalar(select(InvoiceLine).where(InvoiceLine.transfer_id == charge.id))
    assert line is not None and original.number in line.description
    october = db.session.get(Invoice, line.invoice_id)
    assert october.period == "2026-10" and october.net_cents == 20480 + 16384  # October's own usage + correction
    report = verify_ledger()
    assert report.ok, report.problems
    assert app.test_cli_runner().invoke(args=["ledger", "verify"]).exit_code == 0

    # the trail: who opened, who stated, who decided what
    [opened_event] = audit("correction.opened", case["id"])
    assert opened_event.actor_id == user(EKOM).id
    assert [e.data["side"] for e in audit("correction.statement", case["id"])] == ["buyer"]
    [resolved] = audit("correction.resolved", case["id"])
    assert resolved.actor_id == user(OPERATOR).id and resolved.data["decision"] == "corrected"
    assert resolved.data["credit_notes"] == [note.number] and resolved.data["month"] == "2026-10"


def test_a_disputed_billed_month_not_yet_invoiced_is_corrected_in_that_month(
    app, demo, api_as, close_month, ensure_closed
):
    # October is billed but open: the storage charge is on no invoice yet
    ensure_closed("2026-09")
    assert api_as(OPERATOR).post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code in (200, 201)
    record = usage(STORAGE, "2026-10")
    # the contract's dispute path: billed usage becomes a correction case (201), not a 409
    opened = api_as(WI_BUYER).post(f"/api/v1/usage/{record.id}/dispute", json={"reason": "Nur 4.000 GB"})
    assert opened.status_code == 201, opened.get_json()
    case = opened.get_json()
    assert case["source"] == "usage_dispute" and case["invoice_id"] is None
    decided = api_as(OPERATOR).post(
        f"/api/v1/corrections/{case['id']}/resolve",
        json={"decision": "corrected", "quantity": "4000", "note": "Laut Protokoll 4.000 GB."},
    )
    assert decided.status_code == 200, decided.get_json()
    decision = decided.get_json()["decision"]
    assert decision["credit_note_id"] is None  # nothing was invoiced yet
    assert (decision["charge_period"], decision["amount"]) == ("2026-10", "160.00")  # 4000 × 0.04 €
    # the usage record shows its billed charge as credited
    listed = api_as(WI_BUYER).get(f"/api/v1/usage?booking_id={record.booking_id}&period=2026-10").get_json()
    assert [item["status"] for item in listed["items"]] == ["credited"]
    close_month("2026-10")
    lines = {line.transfer_id for invoice in invoices_of(WI_BUYER, "2026-10") for line in invoice.lines}
    assert decision["charge_transfer_id"] in lines and case["charge_transfer_id"] not in lines
    assert verify_ledger().ok


def test_the_buyer_disputes_billed_usage_on_the_page_and_a_rejection_returns_the_invoice(
    app, demo, client, close_month, ensure_closed
):
    ensure_closed("2026-09")
    record = usage(STORAGE, "2026-09")
    original = storage_invoice("2026-09")
    login(client, WI_BUYER)
    page = client.get(f"/usage/{record.id}/dispute-billed")
    assert page.status_code == 200 and "Korrekturfall" in page.text
    empty = client.post(f"/usage/{record.id}/dispute-billed", data={"csrf_token": csrf_token(page.text), "reason": ""})
    assert empty.status_code == 422 and "Bitte begründen Sie den Einspruch." in empty.text
    sent = client.post(
        f"/usage/{record.id}/dispute-billed",
        data={"csrf_token": csrf_token(page.text), "reason": "Speicher war ab dem 20. gelöscht."},
    )
    assert sent.status_code == 302
    case_url = sent.headers["Location"]
    case_id = int(case_url.rstrip("/").rsplit("/", 1)[1])
    assert db.session.get(Invoice, original.id).release_status is ReleaseStatus.OBJECTED
    # a second dispute of the same record is refused on the form, with the case named
    again = client.post(
        f"/usage/{record.id}/dispute-billed", data={"csrf_token": csrf_token(page.text), "reason": "Nochmal"}
    )
    assert again.status_code == 422 and f"Korrekturfall {case_id}" in again.text
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})

    login(client, EKOM)
    shown = client.get(case_url)
    assert "Speicher war ab dem 20. gelöscht." in shown.text and "Stellungnahme abgeben" in shown.text
    assert "Fall entscheiden" not in shown.text
    stated = client.post(
        f"/corrections/{case_id}/statement",
        data={"csrf_token": csrf_token(shown.text), "statement": "Die Daten lagen bis zum Monatsende vor."},
    )
    assert stated.status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})

    login(client, OPERATOR)
    listing = client.get("/corrections")
    assert f"/corrections/{case_id}" in listing.text
    shown = client.get(case_url)
    assert "Die Daten lagen bis zum Monatsende vor." in shown.text and "Speicher war ab dem 20." in shown.text
    note = "Protokolle belegen die Nutzung bis zum Monatsende."
    unconfirmed = client.post(
        f"/corrections/{case_id}/resolve",
        data={"csrf_token": csrf_token(shown.text), "decision": "rejected", "note": note},
    )
    assert unconfirmed.status_code == 422 and "Bitte bestätigen Sie die Entscheidung." in unconfirmed.text
    decided = client.post(
        f"/corrections/{case_id}/resolve",
        data={"csrf_token": csrf_token(shown.text), "decision": "rejected", "note": note, "confirm": "y"},
        follow_redirects=True,
    )
    assert "zurückgewiesen" in decided.text and "Petra Betrieb" in decided.text
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})

    # back with the buyer's cash office: pending, the note beside the invoice, release possible
    db.session.rollback()
    assert db.session.get(Invoice, original.id).release_status is ReleaseStatus.PENDING
    login(client, WI_CASH)
    invoice_page = client.get(f"/invoices/{original.id}")
    assert note in invoice_page.text and "Rechnung freigeben" in invoice_page.text
    [resolved] = audit("correction.resolved", case_id)
    assert resolved.data["decision"] == "rejected" and resolved.data["invoice_returned"] is True
    assert (
        db.session.scalar(
            select(func.count()).select_from(Transfer).where(Transfer.idempotency_key.like("correction:%"))
        )
        == 0
    )


def test_an_objected_invoice_corrected_to_a_lower_amount(app, demo, api_as, client, close_month, ensure_closed):
    ensure_closed("2026-09")
    invoice = first([i for i in invoices_of(LA_BUYER, "2026-09") if len(i.lines) >= 1])
    login(client, LA_CASH)
    form = client.get(f"/invoices/{invoice.id}/object")
    assert form.status_code == 200
    sent = client.post(
        f"/invoices/{invoice.id}/object",
        data={"csrf_token": csrf_token(form.text), "reason": "Leistung erst ab Monatsmitte erbracht"},
    )
    assert sent.status_code == 302
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).release_status is ReleaseStatus.OBJECTED
    [case] = api_as(LA_CASH).get("/api/v1/corrections").get_json()["items"]
    assert case["source"] == "objection" and case["invoice_id"] == invoice.id
    # the amount must be given, and differ from the invoice
    missing = api_as(OPERATOR).post(
        f"/api/v1/corrections/{case['id']}/resolve", json={"decision": "corrected", "note": "Halbiert"}
    )
    assert missing.status_code == 422 and "amount" in missing.get_json()["errors"]
    half = invoice.net_cents // 2
    decided = api_as(OPERATOR).post(
        f"/api/v1/corrections/{case['id']}/resolve",
        json={"decision": "corrected", "note": "Halbiert", "amount": f"{half // 100}.{half % 100:02d}"},
    )
    assert decided.status_code == 200, decided.get_json()
    decision = decided.get_json()["decision"]
    note = db.session.get(Invoice, decision["credit_note_id"])
    assert note.net_cents == invoice.net_cents and len(note.lines) == len(invoice.lines)
    charge = db.session.get(Transfer, decision["charge_transfer_id"])
    assert charge.amount_cents == half and charge.period == "2026-10" and invoice.number in charge.description
    assert verify_ledger().ok


def test_parties_read_only_their_own_cases(app, demo, api_as, client):
    [case] = api_as(OPERATOR).get("/api/v1/corrections").get_json()["items"]
    for email in (WI_BUYER, WI_CASH, "anbieter@kdz-mainz.example"):
        assert [c["id"] for c in api_as(email).get("/api/v1/corrections").get_json()["items"]] == [case["id"]]
        assert api_as(email).get(f"/api/v1/corrections/{case['id']}").status_code == 200
    for email in (LA_BUYER, LA_CASH, EKOM):
        assert api_as(email).get("/api/v1/corrections").get_json()["total"] == 0
        assert api_as(email).get(f"/api/v1/corrections/{case['id']}").status_code == 404
        answer = api_as(email).post(f"/api/v1/corrections/{case['id']}/statement", json={"statement": "Ich auch"})
        assert answer.status_code == 404
    for email in (WI_CASH, "anbieter@kdz-mainz.example"):
        answer = api_as(email).post(
            f"/api/v1/corrections/{case['id']}/resolve", json={"decision": "rejected", "note": "Selbst entschieden"}
        )
        assert answer.status_code == 403
    bad = api_as(OPERATOR).post(
        f"/api/v1/corrections/{case['id']}/resolve", json={"decision": "vielleicht", "note": "x"}
    )
    assert bad.status_code == 422 and "decision" in bad.get_json()["errors"]
    login(client, LA_CASH)
    assert client.get(f"/corrections/{case['id']}").status_code == 404
    assert client.post(f"/corrections/{case['id']}/resolve", data={}).status_code in (400, 403)


def test_billed_usage_cannot_be_disputed_by_the_provider_nor_corrected_by_the_buyer(app, demo, api_as):
    record = usage(LICENCES, "2026-08")  # billed and invoiced in the demo
    assert (
        api_as("anbieter@kdz-mainz.example")
        .post(f"/api/v1/usage/{record.id}/dispute-billed", json={"reason": "x"})
        .status_code
        == 403
    )
    assert (
        api_as(WI_BUYER).post(f"/api/v1/usage/{record.id}/correct", json={"quantity": "1", "reason": "x"}).status_code
        == 403
    )
    assert api_as(LA_BUYER).post(f"/api/v1/usage/{record.id}/dispute-billed", json={"reason": "x"}).status_code == 404
    unchanged = api_as("anbieter@kdz-mainz.example").post(
        f"/api/v1/usage/{record.id}/correct", json={"quantity": "350", "reason": "gleich"}
    )
    assert unchanged.status_code == 422 and "quantity" in unchanged.get_json()["errors"]
    # usage of a month not billed yet is not a correction case
    october = usage(LICENCES, "2026-10")
    answer = api_as(WI_BUYER).post(f"/api/v1/usage/{october.id}/dispute-billed", json={"reason": "x"})
    assert answer.status_code == 409 and "noch nicht abgerechnet" in answer.get_json()["detail"]


def test_the_booking_page_offers_a_correction_case_for_billed_usage_instead_of_a_failing_dispute(app, demo, client):
    record = usage(STORAGE, "2026-09")  # billed in the demo, month still open
    login(client, WI_BUYER)
    page = client.get(f"/bookings/{record.booking_id}")
    assert f"/usage/{record.id}/dispute-billed" in page.text
    assert f'/usage/{record.id}/dispute"' not in page.text and "Beanstanden (Korrekturfall)" in page.text
    # the demo's open case on the licences is linked from its booking
    licences = usage(LICENCES, "2026-09")
    page = client.get(f"/bookings/{licences.booking_id}")
    assert "Korrekturfall" in page.text and f"/usage/{licences.id}/dispute-billed" not in page.text
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})
    login(client, EKOM)
    page = client.get(f"/bookings/{record.booking_id}")
    assert f"/usage/{record.id}/correct" in page.text


def test_the_case_list_marks_its_filter_and_links_the_invoice_for_whoever_may_read_it(app, demo, api_as):
    [case] = api_as(OPERATOR).get("/api/v1/corrections").get_json()["items"]
    invoice = db.session.get(Invoice, case["invoice_id"])
    for email in (OPERATOR, WI_CASH):
        client = app.test_client()
        login(client, email)
        page = client.get("/corrections").text
        assert '<a class="kern-link" href="/corrections?status=open" aria-current="page">offen</a>' in page
        assert f'href="/invoices/{invoice.id}">{invoice.number}</a>' in page
        done = client.get("/corrections?status=corrected").text
        assert 'href="/corrections?status=corrected" aria-current="page"' in done
        assert "Keine Korrekturfälle." in done
