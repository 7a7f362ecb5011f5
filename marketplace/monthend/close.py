"""Closing a month: the invoices and their VAT (settlement), then the month's state (ledger).

The close waits for postings under way (`lock_whole_ledger`), and none can start until it commits, so the
invoices cover exactly the month's charges and reversals.
"""

from __future__ import annotations

from sqlalchemy import select

from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.events import PeriodClosed, announce
from marketplace.core.models import record_audit
from marketplace.core.timeutil import month_bounds, today
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus
from marketplace.ledger.operations import lock_period, lock_whole_ledger, mark_period_closed, require_billable_period
from marketplace.members.models import User
from marketplace.members.permissions import require_operator_finance
from marketplace.monthend.models import BillingRun, RunStatus
from marketplace.settlement.invoicing import issue_invoices


def unfinished_billing_run(period: str) -> BillingRun | None:
    """The month's latest billing run if it is not done (queued, running or failed), else None.

    A job posts its charges batch by batch; while it runs, or after it failed, the month is half billed,
    and a new run (which posts just what is missing) must be done before the month can close.
    """
    latest = db.session.scalar(
        select(BillingRun).where(BillingRun.period == period).order_by(BillingRun.id.desc()).limit(1)
    )
    return latest if latest is not None and latest.status is not RunStatus.DONE else None


def close_period(actor: User, period: str, reason: str = "") -> Period:
    """Close a month that has ended; `reason` (optional) goes into the audit trail.

    Issues the month's invoices and credit notes and posts their VAT while the month is still open, then
    marks it closed. Raises PermissionDenied (not operator finance), Conflict if it is already closed, not
    yet over, or its latest billing run is not done; InvalidInput for a malformed month or reason.
    """
    require_operator_finance(actor, "Monate abschließen")
    reason = (reason or "").strip()
    if len(reason) > 300:
        raise InvalidInput.field("reason", "Die Anmerkung darf höchstens 300 Zeichen lang sein.")
    first = require_billable_period(period)
    if month_bounds(first)[1] >= today():
        raise Conflict("Der Monat %(period)s ist noch nicht vorbei und kann nicht abgeschlossen werden.", period=period)
    lock_whole_ledger()  # the close waits for postings under way, and none can start until it commits
    if lock_period(period).status is PeriodStatus.CLOSED:
        raise Conflict("Der Monat %(period)s ist bereits abgeschlossen.", period=period)
    run = unfinished_billing_run(period)
    if run is not None:
        if run.status is RunStatus.FAILED:
            raise Conflict(
                "Der Abrechnungslauf %(run)s für %(period)s ist abgebrochen. Der Monat kann erst abgeschlossen "
                "werden, wenn ein Abrechnungslauf vollständig durchgelaufen ist.",
                run=run.id,
                period=period,
            )
        raise Conflict(
            "Der Abrechnungslauf %(run)s für %(period)s läuft noch (%(percent)s %%). Der Monat kann erst "
            "abgeschlossen werden, wenn ein Abrechnungslauf vollständig durchgelaufen ist.",
            run=run.id,
            period=period,
            percent=run.percent,
        )
    issue_invoices(actor, period)  # invoices, credit notes and their VAT, while the month is still open
    row = mark_period_closed(period, actor)
    record_audit(actor, "period.closed", row, data={"period": period, "reason": reason})
    announce(PeriodClosed(period=period, actor_id=actor.id))
    return row
