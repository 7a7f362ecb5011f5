"""Closing a month: in order, billed, its usage answered; then the invoices and their VAT (settlement) and
the month's state (ledger).

The close waits for postings under way (`lock_whole_ledger`), and none can start until it commits, so the
invoices cover exactly the month's charges and reversals, and what it found outstanding cannot change
while it decides.
"""

from __future__ import annotations

from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.events import PeriodClosed, announce
from marketplace.core.models import record_audit
from marketplace.core.timeutil import month_bounds, today
from marketplace.ledger.models import Period, PeriodStatus
from marketplace.ledger.operations import lock_period, lock_whole_ledger, mark_period_closed, require_billable_period
from marketplace.members.models import User
from marketplace.members.permissions import require_operator_finance
from marketplace.monthend.outstanding import Outstanding, outstanding, unfinished_billing_run
from marketplace.settlement.invoicing import issue_invoices

__all__ = ["close_period", "unfinished_billing_run"]


def _listed(items: list[Outstanding]) -> dict[str, object]:
    return {"outstanding": [item.as_dict() for item in items]}


def close_period(actor: User, period: str, reason: str = "") -> Period:
    """Close a month that has ended. `reason` goes into the audit trail and, when given, lets the operator
    close past usage still in review or disputed (that usage is billed later as an adjustment); never past an
    open earlier month or a missing charge.

    Issues the month's invoices and credit notes and posts their VAT while the month is still open, then
    marks it closed. Raises PermissionDenied (not operator finance), Conflict if it is already closed (or
    counts as closed) or not yet over, Conflict with what is outstanding (its `extensions`), InvalidInput
    for a malformed month or reason.
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
    items = outstanding(period)
    blocking = [item for item in items if not item.overridable]
    if blocking:
        raise Conflict(
            "Der Monat %(period)s kann nicht abgeschlossen werden: %(items)s",
            extensions=_listed(blocking),
            period=period,
            items=" ".join(item.detail for item in blocking),
        )
    if items and not reason:
        raise Conflict(
            "Der Monat %(period)s hat Verbrauch in Prüfung oder bestritten: %(items)s Zum Abschluss trotzdem "
            "bitte eine Begründung angeben; dieser Verbrauch wird später nachberechnet.",
            extensions=_listed(items),
            period=period,
            items=" ".join(item.detail for item in items),
        )
    issue_invoices(actor, period)  # invoices, credit notes and their VAT, while the month is still open
    row = mark_period_closed(period, actor)
    record_audit(
        actor,
        "period.closed",
        row,
        data={"period": period, "reason": reason, "overridden": [item.as_dict() for item in items]},
    )
    announce(PeriodClosed(period=period, actor_id=actor.id))
    return row
