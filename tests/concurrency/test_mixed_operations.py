"""Different operations over the same rows at the same moment, on PostgreSQL, through the HTTP API.

Races of identical calls (two accepts of one booking, two closes of one month) are tested beside each area;
here the calls differ: reversals of different charges that share the members' accounts, a reversal or a
billing run against the month's close, approvals, direct payments of one settlement, and accept, withdraw and
cancel of the same booking. After every race the ledger must be whole: the chain and every cached balance
verify, all balances sum to zero, nothing was posted into a month after its close, and the closed months'
invoices and credit notes list exactly what the ledger charged there.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from marketplace.bookings.models import COMMITTED_STATUSES, Booking, BookingEvent, BookingStatus
from marketplace.bookings.operations import accept_booking
from marketplace.catalogue.models import Service, ServiceStatus, Unit, VatCategory
from marketplace.catalogue.operations import ServiceInput, create_service
from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus, Transfer, TransferKind
from marketplace.members.queries import user_by_email
from marketplace.seed import _past_booking
from marketplace.settlement.models import InstructionStatus, InvoiceLine, Settlement, SettlementStatus
from tests.concurrency.conftest import Call, assert_ledger_whole, together, token
from tests.conftest import release_invoices, requires_postgres
from tests.taxdata import O_TAX

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.timeout(180)]

OPERATOR, SECOND = "betrieb@kopit.example", "pruefung@kopit.example"
KDZ, BUYER = "anbieter@kdz-mainz.example", "einkauf@wiesbaden.example"
#: In the demo (today 2026-11-16) August is closed, September is billed and open, October is open.
CLOSED, BILLED = "2026-08", "2026-09"


def charges(period: str) -> list[int]:
    return list(
        db.session.scalars(
            select(Transfer.id)
            .where(Transfer.period == period, Transfer.kind == TransferKind.CHARGE)
            .order_by(Transfer.id)
        )
    )


def assert_documents_match_ledger() -> None:
    """In every closed month each charge is on an invoice (or was reversed in that month, before the
    invoices), and each reversal of an invoiced charge booked there is on a credit note."""
    db.session.remove()
    reversal = aliased(Transfer)
    closed = select(Period.period).where(Period.status == PeriodStatus.CLOSED)
    uninvoiced = db.session.execute(
        select(Transfer.id)
        .outerjoin(InvoiceLine, InvoiceLine.transfer_id == Transfer.id)
        .outerjoin(reversal, (reversal.reverses_id == Transfer.id) & (reversal.period == Transfer.period))
        .where(
            Transfer.kind == TransferKind.CHARGE,
            Transfer.period.in_(closed),
            InvoiceLine.id.is_(None),
            reversal.id.is_(None),
        )
    ).all()
    assert not uninvoiced, f"charges in a closed month without an invoice: {uninvoiced}"
    original_line = aliased(InvoiceLine)
    uncredited = db.session.execute(
        select(Transfer.id)
        .join(original_line, original_line.transfer_id == Transfer.reverses_id)
        .outerjoin(InvoiceLine, InvoiceLine.transfer_id == Transfer.id)
        .where(Transfer.kind == TransferKind.REVERSAL, Transfer.period.in_(closed), InvoiceLine.id.is_(None))
    ).all()
    assert not uncredited, f"reversals of invoiced charges in a closed month without a credit note: {uncredited}"


def reverse(transfer_id: int, who: str, delay: float = 0.0) -> Call:
    return Call(f"/api/v1/ledger/transfers/{transfer_id}/reverse", who, {"reason": "Parallel-Test"}, delay)


@pytest.mark.parametrize("round_", range(3))
def test_reversals_of_different_charges_at_once_keep_every_balance(wide_app, round_):
    """Each charge moves money between a buyer's and a provider's account; the reversals share those accounts."""
    targets = charges(CLOSED) + charges(BILLED)
    assert len(targets) >= 8
    who = [token(OPERATOR), token(SECOND)]
    answers = together(wide_app, [reverse(t, who[i % 2]) for i, t in enumerate(targets)])
    assert [a.status for a in answers] == [201] * len(targets), [a.body for a in answers if a.status != 201]
    assert_ledger_whole()
    # a reversal goes to its charge's month while it is open, otherwise to the open current month
    periods = {a.body["reverses_transfer_id"]: a.body["period"] for a in answers}
    assert {periods[t] for t in charges(CLOSED)} == {"2026-11"}
    assert {periods[t] for t in charges(BILLED)} == {BILLED}


@pytest.mark.parametrize("delay", [0.0, 0.003, 0.01, 0.03, 0.08])
def test_a_reversal_racing_the_close_lands_in_an_open_month_with_its_credit_note(wide_app, delay):
    charge = charges(BILLED)[0]
    answers = together(
        wide_app,
        [Call(f"/api/v1/periods/{BILLED}/close", token(OPERATOR), {}), reverse(charge, token(SECOND), delay)],
    )
    assert [a.status for a in answers] == [200, 201], [a.body for a in answers]
    assert_ledger_whole()
    assert_documents_match_ledger()
    reversal = db.session.scalar(select(Transfer).where(Transfer.reverses_id == charge))
    closed_at = db.session.get(Period, BILLED).closed_at
    # before the close it stays in September (and the charge is not invoiced); after it, November
    assert reversal.period == (BILLED if reversal.created_at < closed_at else "2026-11")


def new_september_booking() -> int:
    """An accepted booking from 10 September that September's billing has not charged yet."""
    service = db.session.scalar(select(Service).where(Service.title == "Virtueller Server (Standard)"))
    booking = _past_booking(user_by_email(BUYER), service, date(2026, 9, 10), 1, None)
    accept_booking(user_by_email(KDZ), booking)
    db.session.commit()
    return booking.id


@pytest.mark.parametrize("delays", [(0.0, 0.0, 0.0), (0.0, 0.005, 0.01), (0.01, 0.0, 0.005), (0.03, 0.0, 0.015)])
def test_billing_close_and_reversal_of_one_month_at_once(wide_app, delays):
    booking_id = new_september_booking()
    charge = charges(BILLED)[1]
    billing, close, reversal = together(
        wide_app,
        [
            Call("/api/v1/billing-runs", token(OPERATOR), {"period": BILLED}, delays[0]),
            Call(f"/api/v1/periods/{BILLED}/close", token(SECOND), {}, delays[1]),
            reverse(charge, token(OPERATOR), delays[2]),
        ],
    )
    assert reversal.status == 201, reversal.body
    assert billing.status == 201, billing.body  # the close never gets ahead of a missing charge
    assert_ledger_whole()
    assert_documents_match_ledger()
    new_charge = db.session.scalar(
        select(Transfer).where(Transfer.booking_id == booking_id, Transfer.kind == TransferKind.CHARGE)
    )
    assert billing.body["transfers_created"] == 1 and new_charge.period == BILLED
    if close.status == 200:  # billed before the close: the close invoiced it
        assert db.session.scalar(select(InvoiceLine.id).where(InvoiceLine.transfer_id == new_charge.id))
    else:  # the close came first and found the new booking's charge missing: the month stays open
        assert close.status == 409, close.body
        assert ("charge_missing", booking_id) in [(i["kind"], i["id"]) for i in close.body["outstanding"]]
        assert db.session.get(Period, BILLED).status is PeriodStatus.OPEN


def draft_settlement(app) -> int:
    release_invoices(CLOSED)
    client = app.test_client()
    response = client.post(
        "/api/v1/settlements", json={"period": CLOSED}, headers={"Authorization": f"Bearer {token(OPERATOR)}"}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_parallel_approvals_by_the_second_person_approve_once(wide_app):
    settlement_id = draft_settlement(wide_app)
    second = [token(SECOND) for _ in range(6)]
    answers = together(wide_app, [Call(f"/api/v1/settlements/{settlement_id}/approve", t) for t in second])
    assert Counter(a.status for a in answers) == {200: 1, 409: 5}, [a.body for a in answers]
    approvals = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "settlement.approved")
    )
    assert approvals == 1


def test_direct_payments_of_every_instruction_at_once_complete_the_settlement(wide_app):
    settlement_id = draft_settlement(wide_app)
    client = wide_app.test_client()
    approved = client.post(
        f"/api/v1/settlements/{settlement_id}/approve", headers={"Authorization": f"Bearer {token(SECOND)}"}
    )
    assert approved.status_code == 200
    instructions = [i.id for i in db.session.get(Settlement, settlement_id).instructions]
    assert instructions
    page = f"/settlements/{settlement_id}"
    calls = [
        Call(f"{page}/instructions/{i}/direct", login=(OPERATOR, SECOND)[n % 2], form_page=page)
        for n, i in enumerate(instructions)
    ]
    answers = together(wide_app, calls)
    assert {a.status for a in answers} == {302}
    db.session.remove()
    settlement = db.session.get(Settlement, settlement_id)
    assert {i.status for i in settlement.instructions} == {InstructionStatus.PAID}
    assert settlement.status is SettlementStatus.PAID
    direct = db.session.scalar(
        select(func.count()).select_from(Transfer).where(Transfer.idempotency_key.like("direct:%"))
    )
    assert direct == len(instructions)
    assert_ledger_whole()


def limited_service(capacity: int) -> int:
    service = create_service(
        user_by_email(KDZ),
        ServiceInput(
            title=f"Parallel-Test Kapazität {capacity}",
            description="",
            category="hosting",
            unit=Unit.MONTH,
            unit_price=Decimal("30.00"),
            vat_category=VatCategory.NOT_TAXABLE,
            capacity=capacity,
            capacity_set=True,
            status=ServiceStatus.PUBLISHED,
            **O_TAX,
        ),
    )
    db.session.commit()
    return service.id


def test_accept_withdraw_and_cancel_of_the_same_bookings_at_once(wide_app):
    service_id = limited_service(capacity=3)
    buyer, provider = token(BUYER), token(KDZ)
    client = wide_app.test_client()
    booking_ids = []
    for _ in range(5):
        response = client.post(
            "/api/v1/bookings",
            json={"service_id": service_id, "quantity": 1, "starts_on": "2026-12-01"},
            headers={"Authorization": f"Bearer {buyer}"},
        )
        assert response.status_code == 201, response.get_json()
        booking_ids.append(response.get_json()["id"])
    calls = []
    for n, booking_id in enumerate(booking_ids):
        calls += [
            Call(f"/api/v1/bookings/{booking_id}/accept", provider),
            Call(f"/api/v1/bookings/{booking_id}/withdraw", buyer, delay=0.002 * n),
            Call(f"/api/v1/bookings/{booking_id}/cancel", buyer, {"reason": "Parallel-Test"}, 0.004 * n),
        ]
    answers = together(wide_app, calls)
    db.session.remove()
    for n, booking_id in enumerate(booking_ids):
        accept, withdraw, cancel = answers[3 * n : 3 * n + 3]
        booking = db.session.get(Booking, booking_id)
        # exactly one of accept and withdraw wins; a cancel succeeds only after an accept
        assert sorted([accept.status, withdraw.status]) == [200, 409], (accept.body, withdraw.body)
        if withdraw.status == 200:
            assert booking.status is BookingStatus.WITHDRAWN and cancel.status == 409
        elif cancel.status == 200:
            assert booking.status is BookingStatus.CANCELLED
        else:
            assert booking.status is BookingStatus.ACCEPTED
        # the history is one unbroken chain of transitions
        events = db.session.scalars(
            select(BookingEvent).where(BookingEvent.booking_id == booking_id).order_by(BookingEvent.id)
        ).all()
        chain = [(e.from_status, e.to_status) for e in events]
        assert chain[0][0] is None
        assert all(chain[i][1] == chain[i + 1][0] for i in range(len(chain) - 1)), chain
        assert chain[-1][1] is booking.status
    # units held on the first day: a booking cancelled before its start ends the day before and holds none
    held = db.session.scalar(
        select(func.coalesce(func.sum(Booking.quantity), 0)).where(
            Booking.service_id == service_id,
            Booking.status.in_([*COMMITTED_STATUSES, BookingStatus.CANCELLED]),
            or_(Booking.ends_on.is_(None), Booking.ends_on >= date(2026, 12, 1)),
        )
    )
    assert held <= 3
