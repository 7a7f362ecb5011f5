"""The buyer's release of invoices ("sachlich und rechnerisch richtig"), through the API and the pages: who may
release or object, one by one or a whole month after looking at it, the deadline, the overdue list and the
reminders, and the audit trail of each."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.members.models import Role
from marketplace.members.operations import create_user
from marketplace.notifications.models import OutboxMessage
from marketplace.settlement.models import Invoice, ReleaseStatus
from tests.conftest import csrf_token, login
from tests.corrections.conftest import (
    LA_BUYER,
    LA_CASH,
    OPERATOR,
    WI_CASH,
    audit,
    first,
    invoices_of,
    user,
)

#: The demo (today 2026-11-16) closed August: the Landkreis's August invoice waits for its release.
CLOSED = "2026-08"


def _pending_invoice() -> Invoice:
    return first([i for i in invoices_of(LA_BUYER, CLOSED) if i.release_status is ReleaseStatus.PENDING])


def test_a_new_invoice_waits_for_release_with_a_deadline_ten_days_after_its_date(app, demo, api_as):
    invoice = _pending_invoice()
    body = api_as(LA_CASH).get(f"/api/v1/invoices?period={CLOSED}").get_json()
    [shown] = [item for item in body["items"] if item["id"] == invoice.id]
    assert shown["release"] == {
        "status": "pending",
        "by": None,
        "at": None,
        "due": "2026-11-26",
        "objection_reason": "",
        "reminded_at": None,
    }
    # the demo's Wiesbaden cash office released its August invoices, with name and time
    wiesbaden = api_as(WI_CASH).get(f"/api/v1/invoices?period={CLOSED}&release=released").get_json()["items"]
    assert wiesbaden and all(i["release"]["by"] == "Klaus Kasse" and i["release"]["at"] for i in wiesbaden)


def test_the_buyers_finance_staff_release_an_invoice_once_and_it_is_audited(app, demo, api_as):
    invoice = _pending_invoice()
    cash = api_as(LA_CASH)
    answer = cash.post(f"/api/v1/invoices/{invoice.id}/release")
    assert answer.status_code == 200, answer.get_json()
    release = answer.get_json()["release"]
    assert release["status"] == "released" and release["by"] == "Karla Kasse" and release["at"]
    again = cash.post(f"/api/v1/invoices/{invoice.id}/release")
    assert again.status_code == 409 and "bereits freigegeben" in again.get_json()["detail"]
    objected = cash.post(f"/api/v1/invoices/{invoice.id}/object", json={"reason": "Zu spät bemerkt"})
    assert objected.status_code == 409
    [event] = audit("invoice.released", invoice.id)
    assert event.actor_id == user(LA_CASH).id and event.member_id == invoice.buyer_id


def test_release_and_objection_are_refused_to_others_roles_and_credit_notes(app, demo, api_as):
    invoice = _pending_invoice()
    # another member's finance staff: the invoice does not exist for them
    for path, body in (
        (f"/api/v1/invoices/{invoice.id}/release", None),
        (f"/api/v1/invoices/{invoice.id}/object", {"reason": "x"}),
    ):
        assert api_as(WI_CASH).post(path, json=body).status_code == 404
        # the buyer's purchasing staff and the operator's finance staff are no member finance: 403
        assert api_as(LA_BUYER).post(path, json=body).status_code == 403
        assert api_as(OPERATOR).post(path, json=body).status_code == 403
    # the provider's own finance staff see the invoice, but only the buyer releases it
    provider_cash = create_user(
        None,
        member=invoice.provider,
        email="kasse@ekom21.example",
        name="Erna Kasse",
        password="demo-passwort",
        roles=[Role.MEMBER_FINANCE],
    )
    db.session.commit()
    assert provider_cash.member_id == invoice.provider_id
    assert api_as("kasse@ekom21.example").post(f"/api/v1/invoices/{invoice.id}/release").status_code == 403
    assert api_as(LA_CASH).get(f"/api/v1/invoices/{invoice.id + 10_000}/xrechnung").status_code == 404
    assert api_as(LA_CASH).post(f"/api/v1/invoices/{invoice.id + 10_000}/release").status_code == 404
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).release_status is ReleaseStatus.PENDING
    assert audit("invoice.released", invoice.id) == []


def test_a_credit_note_needs_no_release(app, demo, api_as):
    # the Landkreis objects to its August invoice; the operator credits it in full: a credit note at once
    invoice = _pending_invoice()
    case = api_as(LA_CASH).post(f"/api/v1/invoices/{invoice.id}/object", json={"reason": "Nicht bestellt"})
    assert case.status_code == 201
    decided = api_as(OPERATOR).post(
        f"/api/v1/corrections/{case.get_json()['id']}/resolve",
        json={"decision": "corrected", "amount": "0.00", "note": "Gutschrift in voller Höhe"},
    )
    assert decided.status_code == 200, decided.get_json()
    note = db.session.get(Invoice, decided.get_json()["decision"]["credit_note_id"])
    assert note.is_credit_note and note.release_status is ReleaseStatus.RELEASED and note.release_due is None
    answer = api_as(LA_CASH).post(f"/api/v1/invoices/{note.id}/release")
    assert answer.status_code == 409 and "Gutschrift" in answer.get_json()["detail"]
    assert api_as(LA_CASH).post(f"/api/v1/invoices/{note.id}/object", json={"reason": "x"}).status_code == 409


def test_releasing_a_month_takes_exactly_the_invoices_looked_at(app, demo, api_as, close_month, ensure_closed):
    ensure_closed("2026-09")
    pending = [i.id for i in invoices_of(LA_BUYER, "2026-09") if i.release_status is ReleaseStatus.PENDING]
    assert len(pending) >= 2
    cash = api_as(LA_CASH)
    # one missing from the list looked at: nothing is released
    partial = cash.post("/api/v1/invoices/release", json={"period": "2026-09", "invoice_ids": pending[:-1]})
    assert partial.status_code == 409
    # another member's invoice in the list: refused, naming it
    foreign = first(invoices_of("einkauf@wiesbaden.example", "2026-09")).id
    wrong = cash.post("/api/v1/invoices/release", json={"period": "2026-09", "invoice_ids": [*pending, foreign]})
    assert wrong.status_code == 409 and str(foreign) in wrong.get_json()["detail"]
    empty = cash.post("/api/v1/invoices/release", json={"period": "2026-09", "invoice_ids": []})
    assert empty.status_code == 422 and "invoice_ids" in empty.get_json()["errors"]
    assert all(i.release_status is ReleaseStatus.PENDING for i in invoices_of(LA_BUYER, "2026-09"))
    done = cash.post("/api/v1/invoices/release", json={"period": "2026-09", "invoice_ids": pending})
    assert done.status_code == 200
    assert sorted(i["id"] for i in done.get_json()["released"]) == sorted(pending)
    assert all(i.release_status is ReleaseStatus.RELEASED for i in invoices_of(LA_BUYER, "2026-09"))
    assert len([e for e in audit("invoice.released") if e.object_id in pending]) == len(pending)


def test_the_invoice_page_releases_after_the_confirmation(app, demo, client):
    invoice = _pending_invoice()
    login(client, LA_CASH)
    page = client.get(f"/invoices/{invoice.id}")
    assert "Rechnung freigeben" in page.text and "wartet auf Freigabe" in page.text
    # without ticking "sachlich und rechnerisch richtig" nothing happens
    token = csrf_token(page.text)
    answer = client.post(f"/invoices/{invoice.id}/release", data={"csrf_token": token}, follow_redirects=True)
    assert "Bitte bestätigen Sie" in answer.text
    assert db.session.get(Invoice, invoice.id).release_status is ReleaseStatus.PENDING
    answer = client.post(
        f"/invoices/{invoice.id}/release", data={"csrf_token": token, "confirm": "y"}, follow_redirects=True
    )
    assert "freigegeben: sachlich und rechnerisch richtig" in answer.text
    assert "Karla Kasse" in answer.text and "Rechnung freigeben" not in answer.text
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).release_status is ReleaseStatus.RELEASED


def test_the_buyer_purchasing_staff_get_no_release_page(app, demo, client):
    invoice = _pending_invoice()
    login(client, LA_BUYER)
    assert client.post(f"/invoices/{invoice.id}/release", data={}).status_code in (400, 403)
    assert client.get(f"/invoices/{invoice.id}/object").status_code == 403
    assert client.get("/releases").status_code == 403


def test_the_month_page_lists_what_is_released_and_releases_it(app, demo, client, close_month, ensure_closed):
    ensure_closed("2026-09")
    pending = invoices_of(LA_BUYER, "2026-09")
    login(client, LA_CASH)
    overview = client.get("/releases")
    assert "/releases/2026-09" in overview.text
    page = client.get("/releases/2026-09")
    for invoice in pending:
        assert invoice.number in page.text
    token = csrf_token(page.text)
    ids = ",".join(str(i.id) for i in pending)
    # a stale list (one id missing) releases nothing and shows the list again
    stale = client.post(
        "/releases/2026-09", data={"csrf_token": token, "confirm": "y", "invoice_ids": ids.split(",")[0]}
    )
    assert stale.status_code == 422 and "neu laden" in stale.text
    assert all(i.release_status is ReleaseStatus.PENDING for i in invoices_of(LA_BUYER, "2026-09"))
    done = client.post("/releases/2026-09", data={"csrf_token": token, "confirm": "y", "invoice_ids": ids})
    assert done.status_code == 302
    assert all(i.release_status is ReleaseStatus.RELEASED for i in invoices_of(LA_BUYER, "2026-09"))


def test_overdue_releases_for_the_operator_and_one_reminder_per_invoice_and_run(app, demo, client, api_as, set_today):
    invoice = _pending_invoice()
    assert api_as(OPERATOR).get("/api/v1/invoices?release=overdue").get_json()["total"] == 0
    set_today("2026-11-27")  # the deadline was 2026-11-26
    overdue = api_as(OPERATOR).get("/api/v1/invoices?release=overdue").get_json()["items"]
    assert invoice.id in [i["id"] for i in overdue]
    assert all(i["release"]["status"] == "pending" and i["release"]["due"] < "2026-11-27" for i in overdue)
    others = [i for i in overdue if i["id"] != invoice.id]
    login(client, OPERATOR)
    page = client.get("/releases")
    assert "Überfällige Freigaben" in page.text and invoice.number in page.text
    # a member's finance staff do not see the operator's list of other members' invoices
    wiesbaden = user(WI_CASH).member_id
    own = api_as(WI_CASH).get("/api/v1/invoices?release=overdue").get_json()["items"]
    assert all(wiesbaden in (i["buyer"]["id"], i["provider"]["id"]) for i in own)
    assert invoice.id not in [i["id"] for i in own]

    runner = app.test_cli_runner()
    result = runner.invoke(args=["invoices", "remind-releases"])
    assert result.exit_code == 0, result.output
    assert f"{len(overdue)} Erinnerungen" in result.output and invoice.number in result.output
    db.session.rollback()
    mails = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.subject.contains(invoice.number))))
    assert [m.recipient for m in mails] == [LA_CASH]
    assert "sollte bis 26.11.2026 freigegeben werden" in mails[0].body
    assert db.session.get(Invoice, invoice.id).release_reminded_at is not None
    # the next run reminds again, once; a released invoice is not reminded of
    runner.invoke(args=["invoices", "remind-releases"])
    db.session.rollback()
    assert db.session.query(OutboxMessage).filter(OutboxMessage.subject.contains(invoice.number)).count() == 2
    assert len(audit("invoice.release_reminded", invoice.id)) == 2
    assert api_as(LA_CASH).post(f"/api/v1/invoices/{invoice.id}/release").status_code == 200
    result = runner.invoke(args=["invoices", "remind-releases"])
    assert f"{len(others)} Erinnerungen" in result.output and invoice.number not in result.output
    assert api_as(OPERATOR).get("/api/v1/invoices?release=overdue").get_json()["total"] == len(others)
