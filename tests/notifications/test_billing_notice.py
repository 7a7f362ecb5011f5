"""The billing e-mail goes to every member a billing run charged anything, also one charged only a
cost-sharing advance, and lists each advance with its plan and amount; a rerun sends nothing again."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from marketplace.costsharing import operations as ops
from marketplace.costsharing.models import Advance, AllocationKey
from marketplace.extensions import db
from marketplace.members.models import MemberKind, Role
from marketplace.notifications.models import NotificationKind, OutboxMessage
from marketplace.notifications.operations import OPTIONAL_KINDS, set_preferences
from tests.costsharing.conftest import accept, member, user
from tests.taxdata import O_TAX

SITE = "https://boerse.kopit.example"
KDZ = "anbieter@kdz-mainz.example"
OPERATOR = "betrieb@kopit.example"
FINANCE = "kasse@musterstadt.example"  # the new member's finance staff
QUIET = "stille@musterstadt.example"  # finance staff too, who switched billing e-mails off


def _billing_mails() -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == NotificationKind.BILLING).order_by(OutboxMessage.id)
        )
    )


def _sync(app, period):
    from marketplace.monthend.billing import run_billing

    run = run_billing(user(OPERATOR), period)
    db.session.commit()
    return run


def _as_job(app, period):
    from marketplace.monthend import jobs
    from marketplace.monthend.billing import start_billing

    app.config["BILLING_JOB_THRESHOLD"] = 1
    queued = start_billing(user(OPERATOR), period)
    db.session.commit()
    return jobs.run_billing_job(queued.id)


def _shared_service():
    """A service its provider runs for a group at cost (price 0: the plan carries the cost)."""
    from marketplace.catalogue.models import ServiceStatus, Unit, VatCategory
    from marketplace.catalogue.operations import ServiceInput, create_service

    return create_service(
        user(KDZ),
        ServiceInput(
            title="Gemeinsames Kommunalnetz",
            description="Betrieb des gemeinsamen Netzes; die Kosten tragen die Teilnehmer.",
            category="operations",
            unit=Unit.MONTH,
            unit_price=Decimal("0"),
            vat_category=VatCategory.NOT_TAXABLE,
            status=ServiceStatus.PUBLISHED,
            **O_TAX,
        ),
    )


@pytest.fixture
def musterstadt(app, demo, create_member, create_user):
    """Gemeinde Musterstadt books nothing and shares KDZ Mainz's network with Stadt Wiesbaden (equal
    shares of 139.160,16 € a year for 2026: 5.798,34 € a month each)."""
    app.config["PUBLIC_BASE_URL"] = SITE
    gemeinde = create_member(
        "Gemeinde Musterstadt",
        MemberKind.MUNICIPALITY,
        iban="DE44500105175407324931",
        street="Marktplatz 1",
        postcode="55116",
        city="Musterstadt",
    )
    create_user(gemeinde, FINANCE, [Role.MEMBER_FINANCE])
    create_user(gemeinde, QUIET, [Role.MEMBER_FINANCE])
    set_preferences(user(QUIET), [k for k in OPTIONAL_KINDS if k is not NotificationKind.BILLING])
    plan = ops.create_plan(user(KDZ), _shared_service(), 2026, 13_916_016, AllocationKey.EQUAL)
    for name in ("Gemeinde Musterstadt", "Stadt Wiesbaden"):
        ops.add_participant(user(KDZ), plan, member(name), date(2026, 1, 1))
        accept(plan, name)
    db.session.commit()
    return plan


@pytest.mark.parametrize("run", [_sync, _as_job], ids=["run", "job"])
def test_a_member_charged_only_an_advance_gets_the_billing_email_listing_it(app, musterstadt, run):
    before = len(_billing_mails())
    done = run(app, "2026-10")
    assert done.transfers_created > 0
    db.session.expire_all()
    mails = _billing_mails()[before:]
    recipients = [m.recipient for m in mails]
    # the advance-only member's finance staff once (not the one who opted out), as the booking buyers'
    assert sorted(recipients) == ["kasse@ladadi.example", FINANCE, "kasse@wiesbaden.example"]

    gemeinde = member("Gemeinde Musterstadt").id
    advance = db.session.scalar(select(Advance).where(Advance.member_id == gemeinde, Advance.period == "2026-10"))
    ours = next(m for m in mails if m.recipient == FINANCE)
    assert ours.subject == "Abrechnung 2026-10"
    assert "Gemeinde Musterstadt" in ours.body
    assert (
        "Abschläge aus Kostenteilungen:\n– Gemeinsames Kommunalnetz (Kostenteilung 2026): 5.798,34 € netto, "
        f"Abschlagsrechnung: {SITE}/invoices/{advance.invoice_id}" in ours.body
    )
    assert re.findall(r"https?://\S+", ours.body) == [f"{SITE}/invoices/{advance.invoice_id}", f"{SITE}/ledger"]
    # a member charged bookings and an advance reads both in one e-mail; one without an advance no such line
    wiesbaden = next(m for m in mails if m.recipient == "kasse@wiesbaden.example").body
    assert "Gemeinsames Kommunalnetz (Kostenteilung 2026): 5.798,34 € netto" in wiesbaden
    assert "Kostenteilung" not in next(m for m in mails if m.recipient == "kasse@ladadi.example").body

    rerun = run(app, "2026-10")  # charges nothing new and tells nobody
    assert rerun.transfers_created == 0
    db.session.expire_all()
    assert len(_billing_mails()) == before + 3


def test_the_next_month_lists_only_that_months_advance(app, musterstadt):
    _sync(app, "2026-10")
    before = len(_billing_mails())
    _sync(app, "2026-11")
    ours = [m for m in _billing_mails()[before:] if m.recipient == FINANCE]
    assert len(ours) == 1 and ours[0].subject == "Abrechnung 2026-11"
    assert ours[0].body.count("Gemeinsames Kommunalnetz (Kostenteilung 2026): 5.798,34 € netto") == 1
