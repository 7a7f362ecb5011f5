"""Resolve, release and close over the same invoice at the same moment, on PostgreSQL, through the API: the
ledger stays whole, the correction is charged exactly once (invoiced by October's close or left in the open
November), the credit note exists once, and the invoice ends in a state one of the orders explains."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace.bookings.models import Booking, UsageRecord
from marketplace.catalogue.models import Service
from marketplace.corrections.models import CaseStatus, CorrectionCase
from marketplace.corrections.operations import correct_billed_usage
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus, Transfer
from marketplace.monthend.billing import run_billing
from marketplace.monthend.close import close_period
from marketplace.settlement.models import Invoice, InvoiceLine, ReleaseStatus
from tests.concurrency.conftest import Call, assert_ledger_whole, together, token
from tests.conftest import requires_postgres
from tests.corrections.conftest import EKOM, OPERATOR, SECOND, WI_CASH, user

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.timeout(300)]


def _prepare() -> tuple[int, int]:
    """September closed (unless the demo did), October billed; ekom21 corrected September's storage: the invoice
    is held."""
    operator = user(OPERATOR)
    september = db.session.get(Period, "2026-09")
    if september is None or september.status is not PeriodStatus.CLOSED:
        run_billing(operator, "2026-09")
        db.session.commit()
        close_period(operator, "2026-09")
        db.session.commit()
    run_billing(operator, "2026-10")
    db.session.commit()
    record = db.session.scalar(
        select(UsageRecord)
        .join(Booking, Booking.id == UsageRecord.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .where(Service.title == "Objektspeicher (S3-kompatibel)", UsageRecord.period == "2026-09")
    )
    case = correct_billed_usage(user(EKOM), record.id, 4096, "Replikate doppelt gezählt")
    db.session.commit()
    return case.id, case.invoice_id


@pytest.mark.parametrize("decision", ["corrected", "rejected"])
@pytest.mark.parametrize("stagger", [0.0, 0.02, 0.5])
def test_resolve_release_and_close_race_over_one_invoice(wide_app, decision, stagger):
    case_id, invoice_id = _prepare()
    operator, second, cash = token(OPERATOR), token(SECOND), token(WI_CASH)
    body = {"decision": decision, "note": "Entschieden im Wettlauf"}
    answers = together(
        wide_app,
        [
            Call(f"/api/v1/corrections/{case_id}/resolve", operator, body),
            Call(f"/api/v1/invoices/{invoice_id}/release", cash, delay=stagger),
            Call("/api/v1/periods/2026-10/close", second, {}, delay=min(stagger, 0.02) / 2),
            Call(f"/api/v1/corrections/{case_id}/resolve", second, body, delay=stagger),
        ],
    )
    resolved, released, closed, twice = (a.status for a in answers)
    assert resolved == 200 or twice == 200, answers
    assert sorted([resolved, twice]) == [200, 409], answers  # decided exactly once
    assert released in (200, 409) and closed == 200, answers
    assert_ledger_whole()

    case = db.session.get(CorrectionCase, case_id)
    assert case.status is CaseStatus(decision)
    invoice = db.session.get(Invoice, invoice_id)
    # the release wins only after the decision returned the invoice; otherwise it is still pending
    assert invoice.release_status is (ReleaseStatus.RELEASED if released == 200 else ReleaseStatus.PENDING)
    corrections = list(db.session.scalars(select(Transfer).where(Transfer.idempotency_key == f"correction:{case_id}")))
    notes = list(db.session.scalars(select(Invoice).where(Invoice.credited_invoice_id == invoice_id)))
    if decision == "rejected":
        assert corrections == [] and notes == []
        return
    [charge] = corrections
    [note] = notes
    assert note.net_cents == 20480 and note.period == charge.period
    october = db.session.get(Period, "2026-10")
    assert october.status is PeriodStatus.CLOSED
    line = db.session.scalar(select(InvoiceLine).where(InvoiceLine.transfer_id == charge.id))
    if charge.period == "2026-10":
        # decided before the close: October's invoices carry the corrected charge
        assert line is not None
    else:
        assert charge.period == "2026-11" and line is None  # decided after: waits for November's close
