"""Cost sharing tells people what it means for them, by e-mail: the invited member's staff hear of the
invitation with the expected annual share, the other participants hear that an acceptance changed their
share (old and new amount), and at the year's end each participant hears its final amount, the advances
charged and the difference, linked to the final invoice or credit note. Amounts to the cent in German
format, links absolute with the configured address, preferences honoured, nothing sent twice."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from marketplace.catalogue.models import VatCategory
from marketplace.core.errors import Conflict
from marketplace.costsharing import operations as ops
from marketplace.costsharing.models import AllocationKey, TrueUp
from marketplace.extensions import db
from marketplace.notifications.models import NotificationKind, OutboxMessage
from marketplace.notifications.operations import OPTIONAL_KINDS, set_preferences
from marketplace.settlement.models import Invoice
from tests.conftest import csrf_token, login
from tests.costsharing.conftest import accept, member, user

SITE = "https://boerse.kopit.example"
KDZ = "anbieter@kdz-mainz.example"
WIESBADEN = ("einkauf@wiesbaden.example", "kasse@wiesbaden.example")
LADADI = ("einkauf@ladadi.example", "kasse@ladadi.example")


def _mails(subject_like: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.subject.like(subject_like)).order_by(OutboxMessage.id)
        )
    )


def _links(body: str) -> list[str]:
    return re.findall(r"https?://\S+", body)


@pytest.fixture
def plan(app, demo, shared_service):
    """200.000,00 € a year for 2026 by Königsteiner Schlüssel: Wiesbaden 7,44344 %, the Landkreis 3,21 %
    (renormed over those who accepted: 69,87 % and 30,13 %)."""
    app.config["PUBLIC_BASE_URL"] = SITE + "/"
    operator = user("betrieb@kopit.example")
    ops.set_koenigstein_value(operator, 2026, member("Stadt Wiesbaden"), Decimal("7.44344"))
    ops.set_koenigstein_value(operator, 2026, member("Landkreis Darmstadt-Dieburg"), Decimal("3.21000"))
    service = shared_service(KDZ, VatCategory.NOT_TAXABLE, "Gemeinsames Kommunalnetz")
    plan = ops.create_plan(user(KDZ), service, 2026, 20_000_000, AllocationKey.KOENIGSTEIN)
    db.session.commit()
    return plan


def test_the_invited_members_staff_get_the_expected_share_and_an_absolute_link(plan):
    ops.add_participant(user(KDZ), plan, member("Stadt Wiesbaden"), date(2026, 1, 1))
    accept(plan, "Stadt Wiesbaden")
    ops.add_participant(user(KDZ), plan, member("Landkreis Darmstadt-Dieburg"), date(2026, 1, 1))
    db.session.commit()

    invitations = _mails("Einladung zur Kostenteilung: Gemeinsames Kommunalnetz 2026")
    to_ladadi = [m for m in invitations if m.recipient.endswith("@ladadi.example")]
    # the Landkreis's buyer and finance staff (who may answer), nobody of another member twice
    assert sorted(m.recipient for m in to_ladadi) == sorted(LADADI)
    body = to_ladadi[0].body
    assert "KDZ Mainz" in body and "„Gemeinsames Kommunalnetz“ 2026" in body
    # 200.000,00 € × 3,21 / (7,44344 + 3,21) with Wiesbaden, who accepted
    assert "Erwarteter Jahresanteil bei den geplanten Kosten: 60.262,23 € (netto)" in body
    assert _links(body) == [f"{SITE}/cost-sharing/{plan.id}"]
    # Wiesbaden was invited alone: the whole cost
    to_wiesbaden = next(m for m in invitations if m.recipient == WIESBADEN[0])
    assert "Erwarteter Jahresanteil bei den geplanten Kosten: 200.000,00 € (netto)" in to_wiesbaden.body


def test_an_acceptance_tells_the_other_participants_their_old_and_new_share(plan):
    set_preferences(user(WIESBADEN[1]), [k for k in OPTIONAL_KINDS if k is not NotificationKind.BILLING])
    ops.add_participant(user(KDZ), plan, member("Stadt Wiesbaden"), date(2026, 1, 1))
    accept(plan, "Stadt Wiesbaden")
    ops.add_participant(user(KDZ), plan, member("Landkreis Darmstadt-Dieburg"), date(2026, 1, 1))
    db.session.commit()
    assert _mails("Ihr Anteil%") == []  # Wiesbaden accepted first: nobody else's share changed

    accept(plan, "Landkreis Darmstadt-Dieburg")
    db.session.commit()
    changed = _mails("Ihr Anteil an der Kostenteilung Gemeinsames Kommunalnetz 2026 ändert sich")
    # Wiesbaden's buyer only: its finance staff switched these e-mails off; the Landkreis itself is not told
    assert [m.recipient for m in changed] == [WIESBADEN[0]]
    body = changed[0].body
    assert "Landkreis Darmstadt-Dieburg nimmt nun ebenfalls teil" in body
    assert "von 200.000,00 € auf 139.737,77 € (netto)" in body
    assert _links(body) == [f"{SITE}/cost-sharing/{plan.id}"]
    # the provider still hears the answer
    assert [m.recipient for m in _mails("%Landkreis Darmstadt-Dieburg hat zugestimmt")] == [KDZ]


def test_a_decline_changes_nobodys_share_and_tells_only_the_provider(plan):
    ops.add_participant(user(KDZ), plan, member("Stadt Wiesbaden"), date(2026, 1, 1))
    accept(plan, "Stadt Wiesbaden")
    landkreis = ops.add_participant(user(KDZ), plan, member("Landkreis Darmstadt-Dieburg"), date(2026, 1, 1))
    ops.decline_invitation(user(LADADI[0]), landkreis)
    db.session.commit()
    assert [m.recipient for m in _mails("%Landkreis Darmstadt-Dieburg hat abgelehnt")] == [KDZ]
    assert _mails("Ihr Anteil%") == []


def _participant(plan, name: str):
    db.session.expire(plan, ["participants"])
    return next(p for p in plan.participants if p.member.name == name)


def test_a_leaving_date_tells_the_leaver_and_the_others_their_new_share(plan):
    for name in ("Stadt Wiesbaden", "Landkreis Darmstadt-Dieburg"):
        ops.add_participant(user(KDZ), plan, member(name), date(2026, 1, 1))
        accept(plan, name)
    db.session.commit()
    before = {m.id for m in _mails("%")}

    ops.set_leaving(user(KDZ), _participant(plan, "Stadt Wiesbaden"), date(2026, 6, 30))
    db.session.commit()
    leaving = _mails("Kostenteilung Gemeinsames Kommunalnetz 2026: Austritt zum 30.06.2026")
    assert sorted(m.recipient for m in leaving) == sorted(WIESBADEN)
    # 7,44344 × 181 days against 3,21 × 365 days of 200.000,00 €, the cent to the larger remainder
    assert "beträgt nun 106.971,76 € (netto)" in leaving[0].body
    assert _links(leaving[0].body) == [f"{SITE}/cost-sharing/{plan.id}"]
    changed = [m for m in _mails("Ihr Anteil an der Kostenteilung%") if m.id not in before]
    assert sorted(m.recipient for m in changed) == sorted(LADADI)
    assert "Stadt Wiesbaden tritt zum 30.06.2026 aus." in changed[0].body
    assert "von 60.262,23 € auf 93.028,24 € (netto)" in changed[0].body

    # the same date again changes nothing and says nothing; withdrawing the leave restores the shares
    sent = {m.id for m in _mails("%")}
    ops.set_leaving(user(KDZ), _participant(plan, "Stadt Wiesbaden"), date(2026, 6, 30))
    db.session.commit()
    assert {m.id for m in _mails("%")} == sent
    ops.set_leaving(user(KDZ), _participant(plan, "Stadt Wiesbaden"), None)
    db.session.commit()
    stays = _mails("Kostenteilung Gemeinsames Kommunalnetz 2026: Austritt aufgehoben")
    assert sorted(m.recipient for m in stays) == sorted(WIESBADEN)
    back = [m for m in _mails("Ihr Anteil an der Kostenteilung%") if m.id not in sent]
    assert sorted(m.recipient for m in back) == sorted(LADADI)
    assert "von 93.028,24 € auf 60.262,23 € (netto)" in back[0].body


def test_a_removed_participation_or_invitation_is_told_to_the_member_and_the_others(plan):
    ops.add_participant(user(KDZ), plan, member("Stadt Wiesbaden"), date(2026, 1, 1))
    accept(plan, "Stadt Wiesbaden")
    ops.add_participant(user(KDZ), plan, member("Landkreis Darmstadt-Dieburg"), date(2026, 1, 1))
    db.session.commit()
    sent = {m.id for m in _mails("%")}

    ops.remove_participant(user(KDZ), _participant(plan, "Landkreis Darmstadt-Dieburg"))
    db.session.commit()
    withdrawn = _mails("Kostenteilung Gemeinsames Kommunalnetz 2026: Einladung zurückgezogen")
    assert sorted(m.recipient for m in withdrawn) == sorted(LADADI)
    assert (
        "KDZ Mainz hat die Einladung von Landkreis Darmstadt-Dieburg zu „Gemeinsames Kommunalnetz“ 2026 zurückgezogen."
        in withdrawn[0].body
    )
    # an invitee carried no share: nobody else's changes
    assert [m for m in _mails("Ihr Anteil%") if m.id not in sent] == []

    ops.add_participant(user(KDZ), plan, member("Landkreis Darmstadt-Dieburg"), date(2026, 1, 1))
    accept(plan, "Landkreis Darmstadt-Dieburg")
    db.session.commit()
    sent = {m.id for m in _mails("%")}
    ops.remove_participant(user(KDZ), _participant(plan, "Landkreis Darmstadt-Dieburg"))
    db.session.commit()
    removed = _mails("Kostenteilung Gemeinsames Kommunalnetz 2026: Teilnahme entfernt")
    assert sorted(m.recipient for m in removed) == sorted(LADADI)
    changed = [m for m in _mails("Ihr Anteil%") if m.id not in sent]
    assert sorted(m.recipient for m in changed) == sorted(WIESBADEN)
    assert "Landkreis Darmstadt-Dieburg nimmt nicht mehr teil." in changed[0].body
    assert "von 139.737,77 € auf 200.000,00 € (netto)" in changed[0].body


@pytest.fixture
def billed_plan(plan, bill):
    """Both accepted from 1 January; October and November billed: two advances each."""
    for name in ("Stadt Wiesbaden", "Landkreis Darmstadt-Dieburg"):
        ops.add_participant(user(KDZ), plan, member(name), date(2026, 1, 1))
        accept(plan, name)
    db.session.commit()
    bill("2026-10")
    bill("2026-11")
    return plan


def _true_up(app, plan, actual_cents):
    app.config["MARKETPLACE_TODAY"] = "2027-01-10"
    entries = ops.true_up(user(KDZ), plan, actual_cents)
    db.session.commit()
    return {entry.member_id: entry for entry in entries}


def test_the_true_up_tells_each_participant_its_final_amount_advances_and_what_to_pay(app, billed_plan):
    set_preferences(user(LADADI[0]), [k for k in OPTIONAL_KINDS if k is not NotificationKind.BILLING])
    db.session.commit()
    entries = _true_up(app, billed_plan, 24_000_000)  # 240.000,00 € instead of 200.000,00 €
    wiesbaden, ladadi = member("Stadt Wiesbaden").id, member("Landkreis Darmstadt-Dieburg").id

    mails = _mails("Spitzabrechnung Gemeinsames Kommunalnetz 2026")
    # each participant's finance staff and buyers; the Landkreis's buyer switched them off
    assert sorted(m.recipient for m in mails) == sorted([*WIESBADEN, LADADI[1]])

    to_wiesbaden = next(m for m in mails if m.recipient == WIESBADEN[1]).body
    # 240.000,00 € × 69,87 %, less the advances of October and November (2 × 11.644,81 €)
    assert "Endbetrag: 167.685,33 € netto" in to_wiesbaden
    assert "Bereits berechnete Abschläge: 23.289,62 € netto" in to_wiesbaden
    assert "Nachforderung (von Ihnen zu zahlen): 144.395,71 € netto" in to_wiesbaden
    assert "tatsächlichen Kosten von 240.000,00 €" in to_wiesbaden
    invoice = db.session.get(Invoice, entries[wiesbaden].invoice_id)
    assert f"Schlussrechnung {invoice.number} über 144.395,71 €" in to_wiesbaden
    assert _links(to_wiesbaden) == [f"{SITE}/invoices/{invoice.id}"]

    to_ladadi = next(m for m in mails if m.recipient == LADADI[1]).body
    assert "Endbetrag: 72.314,67 € netto" in to_ladadi  # the rest of the 240.000,00 €
    assert "Bereits berechnete Abschläge: 10.043,70 € netto" in to_ladadi
    assert "Nachforderung (von Ihnen zu zahlen): 62.270,97 € netto" in to_ladadi
    assert _links(to_ladadi) == [f"{SITE}/invoices/{entries[ladadi].invoice_id}"]
    assert "Wiesbaden" not in to_ladadi  # nobody reads another participant's figures

    # a retried true-up books nothing and sends nothing again
    with pytest.raises(Conflict):
        ops.true_up(user(KDZ), billed_plan, 24_000_000)
    db.session.rollback()
    assert len(_mails("Spitzabrechnung%")) == 3
    assert db.session.scalar(select(TrueUp.id).where(TrueUp.plan_id == billed_plan.id).limit(1))


def test_a_true_up_below_the_advances_is_credited(app, billed_plan):
    entries = _true_up(app, billed_plan, 1_000_000)  # 10.000,00 €: less than the advances charged
    wiesbaden = member("Stadt Wiesbaden").id
    body = next(m for m in _mails("Spitzabrechnung%") if m.recipient == WIESBADEN[1]).body
    assert "Endbetrag: 6.986,89 € netto" in body
    assert "Bereits berechnete Abschläge: 23.289,62 € netto" in body
    assert "Erstattung (Ihnen gutgeschrieben): 16.302,73 € netto" in body
    credit_note = db.session.get(Invoice, entries[wiesbaden].invoice_id)
    assert credit_note.is_credit_note
    assert f"Gutschrift {credit_note.number} über 16.302,73 €" in body
    assert _links(body) == [f"{SITE}/invoices/{credit_note.id}"]


def test_switching_off_the_money_emails_on_the_profile_page_stops_the_invitation(app, plan):
    client = app.test_client()
    login(client, WIESBADEN[1])
    page = client.get("/profile/notifications")
    assert "Abrechnungen, Rechnungen und Kostenteilungen" in page.text  # the switch says it covers cost sharing
    kept = [k.value for k in OPTIONAL_KINDS if k is not NotificationKind.BILLING]
    saved = client.post("/profile/notifications", data={"kinds": kept, "csrf_token": csrf_token(page.text)})
    assert saved.status_code == 302

    ops.add_participant(user(KDZ), plan, member("Stadt Wiesbaden"), date(2026, 1, 1))
    db.session.commit()
    assert [m.recipient for m in _mails("Einladung zur Kostenteilung%")] == [WIESBADEN[0]]
