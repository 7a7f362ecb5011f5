"""Plans, participants and Königsteiner values; advances in the billing run; the true-up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from marketplace.catalogue.models import VatCategory
from marketplace.core.errors import Conflict, InvalidInput, PermissionDenied
from marketplace.costsharing import operations as ops
from marketplace.costsharing.advances import advance_key
from marketplace.costsharing.models import Advance, AllocationKey, PlanStatus
from marketplace.costsharing.queries import share_rows
from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Posting, Transfer
from marketplace.settlement.models import DocumentType, Invoice
from tests.costsharing.conftest import enrol, member, user, verify_ledger

KDZ = "anbieter@kdz-mainz.example"


def balance(name: str) -> int:
    return db.session.scalar(
        select(Account.balance_cents).where(Account.member_id == member(name).id, Account.kind == AccountKind.CLEARING)
    )


@pytest.fixture
def plan(app, demo, shared_service):
    service = shared_service()
    plan = ops.create_plan(user(KDZ), service, 2026, 1_200_000, AllocationKey.EQUAL)
    enrol(user(KDZ), plan, member("Stadt Wiesbaden"), date(2026, 1, 1))
    enrol(user(KDZ), plan, member("Landkreis Darmstadt-Dieburg"), date(2026, 1, 1))
    db.session.commit()
    return plan


def test_validation_speaks_german_and_names_fields(app, demo, shared_service, plan):
    service = plan.service
    with pytest.raises(Conflict, match="bereits eine Kostenteilung"):
        ops.create_plan(user(KDZ), service, 2026, 100, AllocationKey.EQUAL)
    with pytest.raises(PermissionDenied):
        ops.create_plan(user("einkauf@wiesbaden.example"), service, 2027, 100, AllocationKey.EQUAL)
    with pytest.raises(InvalidInput) as error:
        ops.create_plan(user(KDZ), service, 2027, -1, AllocationKey.EQUAL)
    assert error.value.errors == {"planned_cost": ["Die geplanten Jahreskosten darf nicht negativ sein."]} or (
        "planned_cost" in error.value.errors
    )
    with pytest.raises(Conflict, match="nimmt an dieser Kostenteilung bereits teil"):
        enrol(user(KDZ), plan, member("Stadt Wiesbaden"), date(2026, 3, 1))
    with pytest.raises(Conflict, match="Anbieter"):
        enrol(user(KDZ), plan, member("KDZ Mainz"), date(2026, 3, 1))
    with pytest.raises(InvalidInput) as error:
        enrol(user(KDZ), plan, member("ekom21"), date(2026, 3, 1), leaves_on=date(2026, 2, 1))
    assert "leaves_on" in error.value.errors
    with pytest.raises(PermissionDenied):
        enrol(user("anbieter@ekom21.example"), plan, member("ekom21"), date(2026, 3, 1))
    population = ops.create_plan(user(KDZ), service, 2027, 100, AllocationKey.POPULATION)
    with pytest.raises(InvalidInput) as error:
        enrol(user(KDZ), population, member("ekom21"), date(2027, 1, 1))
    assert "population" in error.value.errors
    koenigstein = ops.create_plan(user(KDZ), service, 2028, 100, AllocationKey.KOENIGSTEIN)
    with pytest.raises(InvalidInput, match="Königsteiner Schlüssel 2028"):
        enrol(user(KDZ), koenigstein, member("ekom21"), date(2028, 1, 1))
    with pytest.raises(PermissionDenied):
        ops.set_koenigstein_value(user(KDZ), 2028, member("ekom21"), Decimal("7.44344"))
    with pytest.raises(InvalidInput):
        ops.set_koenigstein_value(user("betrieb@kopit.example"), 2028, member("ekom21"), Decimal("7.443441"))


def test_koenigstein_shares_are_renormalised_over_the_participants(app, demo, shared_service):
    operator = user("betrieb@kopit.example")
    ops.set_koenigstein_value(operator, 2026, member("Stadt Wiesbaden"), Decimal("7.44344"))
    ops.set_koenigstein_value(operator, 2026, member("Landkreis Darmstadt-Dieburg"), Decimal("2.93874"))
    ops.set_koenigstein_value(operator, 2026, member("ekom21"), Decimal("1.00000"))
    ops.set_koenigstein_value(operator, 2026, member("ekom21"), Decimal("5.00000"))  # a correction
    plan = ops.create_plan(user(KDZ), shared_service(), 2026, 100_000_00, AllocationKey.KOENIGSTEIN)
    enrol(user(KDZ), plan, member("Stadt Wiesbaden"), date(2025, 1, 1))
    enrol(user(KDZ), plan, member("Landkreis Darmstadt-Dieburg"), date(2025, 1, 1))
    rows = share_rows(plan)
    assert [r.planned_cents for r in rows] == [71_694_38, 28_305_62]
    assert sum(r.share_percent for r in rows) == Decimal("100.0000")


def test_advances_are_charged_by_the_billing_run_once_with_an_invoice(app, demo, plan, bill):
    run = bill("2026-10")
    advances = db.session.scalars(select(Advance).order_by(Advance.member_id)).all()
    assert [(a.period, a.amount_cents) for a in advances] == [("2026-10", 50_000), ("2026-10", 50_000)]
    assert run.transfers_created >= 2
    transfer = db.session.scalar(
        select(Transfer).where(
            Transfer.idempotency_key == advance_key(plan.id, member("Stadt Wiesbaden").id, "2026-10")
        )
    )
    assert {p.amount_cents for p in transfer.postings} == {-50_000, 50_000}
    invoice = db.session.get(Invoice, advances[0].invoice_id)
    assert invoice.type_code is DocumentType.PARTIAL_INVOICE  # an advance invoice: a partial invoice (326)
    assert invoice.net_cents == 50_000 and invoice.vat_cents == 0
    assert invoice.lines[0].transfer_id == advances[0].transfer_id
    rerun = bill("2026-10")
    assert rerun.transfers_created == 0
    assert db.session.scalar(select(db.func.count(Advance.id))) == 2
    verify_ledger()


def test_vat_of_a_taxable_advance_is_invoiced_and_posted(app, demo, shared_service, bill, assert_valid_xrechnung):
    from marketplace.settlement.xrechnung import render

    service = shared_service("anbieter@ekom21.example", VatCategory.STANDARD, "Gemeinsame Firewall")
    ekom = user("anbieter@ekom21.example")
    plan = ops.create_plan(ekom, service, 2026, 120_000, AllocationKey.CUSTOM)
    enrol(ekom, plan, member("Stadt Wiesbaden"), date(2026, 1, 1), weight=Decimal("2"))
    enrol(ekom, plan, member("Landkreis Darmstadt-Dieburg"), date(2026, 1, 1), weight=Decimal("1"))
    db.session.commit()
    before = balance("Stadt Wiesbaden")
    bill("2026-10")  # the demo closed every month up to September; October also charges its bookings
    wiesbaden_account = db.session.scalar(
        select(Account.id).where(
            Account.member_id == member("Stadt Wiesbaden").id, Account.kind == AccountKind.CLEARING
        )
    )
    bookings_charged = db.session.scalar(
        select(db.func.sum(Posting.amount_cents))
        .join(Transfer, Transfer.id == Posting.transfer_id)
        .where(Posting.account_id == wiesbaden_account, Transfer.idempotency_key.like("charge:%"))
        .where(Transfer.period == "2026-10")
    )
    # 800.00 a year in twelve advances: October's is 66.66 (the cents are spread so the year adds up)
    assert balance("Stadt Wiesbaden") - before - bookings_charged == -(6_666 + 1_267)
    invoice = db.session.scalar(
        select(Invoice).where(Invoice.buyer_id == member("Stadt Wiesbaden").id, Invoice.cause_key.like("advance:%"))
    )
    assert (invoice.net_cents, invoice.vat_cents) == (6_666, 1_267)
    assert invoice.vat_transfer_id is not None
    assert_valid_xrechnung(render(invoice))
    verify_ledger()


def test_true_up_only_after_the_year_and_only_once(app, demo, plan, bill):
    bill("2026-10")
    with pytest.raises(Conflict, match="erst nach Ablauf"):
        ops.true_up(user(KDZ), plan, 1_300_000)
    app.config["MARKETPLACE_TODAY"] = "2027-01-10"
    with pytest.raises(PermissionDenied):
        ops.true_up(user("anbieter@ekom21.example"), plan, 1_300_000)
    entries = ops.true_up(user(KDZ), plan, 1_300_000)
    db.session.commit()
    assert [(e.final_cents, e.advances_cents, e.difference_cents) for e in entries] == [
        (650_000, 50_000, 600_000),
        (650_000, 50_000, 600_000),
    ]
    assert plan.status is PlanStatus.TRUED_UP
    with pytest.raises(Conflict, match="bereits spitz abgerechnet"):
        ops.true_up(user(KDZ), plan, 1_300_000)
    db.session.rollback()
    # no more advances for a plan that is settled
    bill("2026-12")
    assert db.session.scalars(select(Advance).where(Advance.period == "2026-12")).all() == []
    verify_ledger()


def test_expected_true_up_counts_the_advances_still_to_come(app, demo, plan, bill):
    # the demo closed September 2026: January to September can no longer be billed and never get an
    # advance; October is charged now, November and December are still to come
    bill("2026-10")
    rows = share_rows(plan, 1_200_000)
    assert [(r.advances_cents, r.year_advances_cents, r.expected_difference_cents) for r in rows] == [
        (50_000, 150_000, 450_000),
        (50_000, 150_000, 450_000),
    ]
    assert [month for month, _cents in rows[0].outstanding] == [11, 12]
    higher = share_rows(plan, 1_300_000)
    assert [r.expected_difference_cents for r in higher] == [500_000, 500_000]
    assert [r.difference_cents for r in higher] == [600_000, 600_000]  # a true-up now: only October is charged


def test_a_reversed_advance_does_not_count_at_the_true_up(app, demo, plan, bill):
    from marketplace.ledger.operations import reverse_transfer

    bill("2026-10")
    bill("2026-11")
    wiesbaden = member("Stadt Wiesbaden").id
    november = db.session.scalar(select(Advance).where(Advance.member_id == wiesbaden, Advance.period == "2026-11"))
    reverse_transfer(user("betrieb@kopit.example"), november.transfer_id, "Doppelt berechnet")
    db.session.commit()
    assert bill("2026-11").transfers_created == 0  # the cause is used up: no second November advance
    app.config["MARKETPLACE_TODAY"] = "2027-01-10"
    entries = {e.member_id: e for e in ops.true_up(user(KDZ), plan, 1_200_000)}
    db.session.commit()
    assert entries[wiesbaden].advances_cents == 50_000
    assert entries[wiesbaden].difference_cents == 550_000
    verify_ledger()
