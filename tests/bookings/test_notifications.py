"""E-mails through the outbox: queued with their cause, per-user preferences, sent by `flask outbox send`."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.notifications.models import NotificationKind, OutboxMessage
from tests.conftest import csrf_token, login

BUYER = "einkauf@wiesbaden.example"
PROVIDER = "anbieter@kdz-mainz.example"


def _outbox(kind=None):
    statement = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind is not None:
        statement = statement.where(OutboxMessage.kind == kind)
    return list(db.session.scalars(statement))


def _client(app, email):
    client = app.test_client()
    login(client, email)
    return client


def test_request_decision_cancellation_and_dispute_send_emails_to_the_other_party(app, make_booking, user):
    from marketplace.bookings.operations import cancel_booking, dispute_usage, record_usage

    booking = make_booking(title="Betrieb von Fachverfahren")
    requested = _outbox(NotificationKind.BOOKING_REQUESTED)[-1]
    assert requested.recipient == PROVIDER and "Landkreis" not in requested.body
    assert f"/bookings/{booking.id}" in requested.body
    decided = _outbox(NotificationKind.BOOKING_DECIDED)[-1]
    assert decided.recipient == BUYER and "angenommen" in decided.subject
    record = record_usage(user(PROVIDER), booking, "2026-11", 3)
    assert _outbox(NotificationKind.USAGE_ENTERED)[0].recipient == BUYER
    dispute_usage(user(BUYER), record, "Nur zwei Stunden")
    disputed = _outbox(NotificationKind.USAGE_DISPUTED)[-1]
    assert disputed.recipient == PROVIDER and "Nur zwei Stunden" in disputed.body
    cancel_booking(user(BUYER), booking, "Projekt beendet")
    cancelled = _outbox(NotificationKind.BOOKING_CANCELLED)[-1]
    assert cancelled.recipient == PROVIDER and "Projekt beendet" in cancelled.body
    db.session.commit()


def test_preferences_switch_kinds_off(app, make_booking):
    client = _client(app, BUYER)
    page = client.get("/profile/notifications")
    assert page.status_code == 200 and "Entscheidung über eine Anfrage" in page.text
    kept = [k.value for k in NotificationKind if k not in (NotificationKind.BOOKING_DECIDED, NotificationKind.ACCOUNT)]
    response = client.post("/profile/notifications", data={"kinds": kept, "csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    before = len(_outbox(NotificationKind.BOOKING_DECIDED))
    make_booking()
    assert len(_outbox(NotificationKind.BOOKING_DECIDED)) == before
    assert len(_outbox(NotificationKind.BOOKING_REQUESTED)) == 1  # the provider still gets its e-mail


def test_billing_run_emails_member_finance(app, demo):
    from marketplace.monthend.billing import run_billing

    run_billing(None, "2026-11")
    db.session.commit()
    recipients = {m.recipient for m in _outbox(NotificationKind.BILLING)}
    assert "kasse@wiesbaden.example" in recipients


FINANCE = "kasse@wiesbaden.example"  # Stadt Wiesbaden's member finance: the only finance staff of a buyer
OPERATOR = "betrieb@kopit.example"


def _bill_by_api(app, api_as, period):
    response = api_as(OPERATOR).post("/api/v1/billing-runs", json={"period": period})
    assert response.status_code == 201, response.get_json()


def _bill_by_cli(app, _api_as, period):
    result = app.test_cli_runner().invoke(args=["billing", "run", period, "--as", OPERATOR])
    assert result.exit_code == 0, result.output


def _bill_on_the_page(app, _api_as, period):
    from tests.conftest import post_form

    client = _client(app, OPERATOR)
    response = post_form(client, "/ledger", "/ledger/billing", {"period": period})
    assert response.status_code == 302, response.text


@pytest.mark.parametrize("bill", [_bill_by_api, _bill_by_cli, _bill_on_the_page], ids=["api", "cli", "web"])
def test_every_way_of_billing_emails_the_billed_buyers_finance_once(app, demo, api_as, bill):
    before = len(_outbox(NotificationKind.BILLING))  # the demo's own billing runs
    bill(app, api_as, "2026-10")
    db.session.expire_all()
    billing = _outbox(NotificationKind.BILLING)[before:]
    # both billed buyers' finance staff (Wiesbaden's and the Landkreis's), once each
    assert sorted(m.recipient for m in billing) == ["kasse@ladadi.example", FINANCE]
    ours = next(m for m in billing if m.recipient == FINANCE)
    assert ours.subject == "Abrechnung 2026-10" and "Stadt Wiesbaden" in ours.body
    bill(app, api_as, "2026-10")  # a rerun that charges nothing new tells nobody
    db.session.expire_all()
    assert len(_outbox(NotificationKind.BILLING)) == before + 2


def test_a_billing_run_row_flushed_elsewhere_sends_nothing(app, demo):
    from marketplace.monthend.models import BillingRun

    before = len(_outbox(NotificationKind.BILLING))
    # the demo billed 2026-09 already; the former flush listener mailed that month's buyers for any new run row
    db.session.add(BillingRun(period="2026-09", transfers_created=1, total_cents=100))
    db.session.flush()
    db.session.commit()
    assert len(_outbox(NotificationKind.BILLING)) == before


def test_billing_emails_respect_the_preference(app, demo, user):
    from marketplace.monthend.billing import run_billing
    from marketplace.notifications.operations import OPTIONAL_KINDS, set_preferences

    set_preferences(user(FINANCE), [k for k in OPTIONAL_KINDS if k is not NotificationKind.BILLING])
    db.session.commit()
    before = [m.recipient for m in _outbox(NotificationKind.BILLING)]
    run = run_billing(None, "2026-10")
    assert run.transfers_created > 0
    after = [m.recipient for m in _outbox(NotificationKind.BILLING)]
    assert after.count(FINANCE) == before.count(FINANCE)  # Wiesbaden's finance asked for none
    assert after.count("kasse@ladadi.example") == before.count("kasse@ladadi.example") + 1


def test_billing_emails_take_two_queries_however_many_members(app, demo, create_member, create_user):
    from sqlalchemy import event

    from marketplace.members.models import Member, Role
    from marketplace.notifications.operations import notify_billed

    members = [db.session.scalar(select(Member.id).where(Member.name == "Stadt Wiesbaden"))]
    for number in range(5):
        member = create_member(f"Gemeinde {number}")
        create_user(member, f"kasse{number}@gemeinde.example", [Role.MEMBER_FINANCE])
        members.append(member.id)
    db.session.commit()
    statements = []
    listener = lambda *args: statements.append(args[2]) if args[2].startswith("SELECT") else None  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        messages = notify_billed("2026-10", members)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(messages) == 6
    assert len(statements) == 2, statements


def test_outbox_send_prints_in_development_and_marks_sent(app, make_booking, monkeypatch):
    monkeypatch.delenv("SMTP_HOST", raising=False)
    make_booking(starts_on=date(2026, 12, 1))
    queued = len(_outbox())
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "E-Mail an anbieter@kdz-mainz.example" in result.output
    assert f"{queued} gesendet, 0 fehlgeschlagen" in result.output
    db.session.expire_all()
    assert all(m.sent_at is not None for m in _outbox())
    assert "0 gesendet" in app.test_cli_runner().invoke(args=["outbox", "send"]).output


def test_outbox_send_over_smtp(app, make_booking, monkeypatch):
    import smtplib

    delivered = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            assert (host, port) == ("mail.example", 2525)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            pass

        def login(self, user, password):
            assert (user, password) == ("boerse", "geheim")

        def send_message(self, message):
            delivered.append(message)

    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    for key, value in {
        "SMTP_HOST": "mail.example",
        "SMTP_PORT": "2525",
        "SMTP_USER": "boerse",
        "SMTP_PASSWORD": "geheim",
    }.items():
        monkeypatch.setenv(key, value)
    make_booking()
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert {m["To"] for m in delivered} >= {PROVIDER, BUYER}
    assert all(m["From"] and m["Subject"] for m in delivered)
