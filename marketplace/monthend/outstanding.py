"""What stands between a month and its close, computed from the data (never from when a run happened).

A month may be closed when it is over and
- every earlier month is closed (months before the installation's first month count as closed, and so does
  every month before a closed one),
- its billing is done: no billable booking or usage record of the month lacks its charge (usage whose review
  period ended included), no usage of a closed month waits for its adjustment, and no billing run of the
  month is still queued, running or failed,
- no usage of the month is still inside its review period or disputed.

The operator may close past the last two (usage in review, disputes) with a written reason; never past an
open earlier month or a missing charge. Usage left open is billed later as an adjustment
(`monthend.billing.compute_adjustments`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from marketplace.bookings.models import (
    BILLABLE_STATUSES,
    Booking,
    UsageRecord,
    UsageStatus,
    review_until,
    usage_awaiting_review,
)
from marketplace.catalogue.models import Service
from marketplace.core.errors import localised as _  # named _ so that pybabel extracts the templates
from marketplace.core.timeutil import month_label, next_month, parse_period, period_of, today
from marketplace.extensions import db
from marketplace.ledger.models import Transfer
from marketplace.ledger.operations import first_month, latest_closed_period
from marketplace.ledger.reports import PeriodRow
from marketplace.monthend import billing
from marketplace.monthend.models import BillingRun, RunStatus


class OutstandingKind(enum.StrEnum):
    EARLIER_MONTH_OPEN = "earlier_month_open"
    BILLING_RUN = "billing_run_unfinished"
    CHARGE_MISSING = "charge_missing"
    USAGE_IN_REVIEW = "usage_in_review"
    USAGE_DISPUTED = "usage_disputed"


#: What a written reason lets the operator close past.
OVERRIDABLE = frozenset({OutstandingKind.USAGE_IN_REVIEW, OutstandingKind.USAGE_DISPUTED})


@dataclass(frozen=True)
class Outstanding:
    """One thing that keeps a month open: its kind, the id of what it is about (a month, a booking, a usage
    record, a run) and a sentence for people (in the reader's language)."""

    kind: OutstandingKind
    id: str | int
    detail: str
    #: The members the item concerns (who else may see it); empty: the operator's own business.
    member_ids: tuple[int, ...] = field(default=(), compare=False)

    @property
    def overridable(self) -> bool:
        return self.kind in OVERRIDABLE

    def as_dict(self) -> dict[str, str | int]:
        return {"kind": self.kind.value, "id": self.id, "detail": self.detail}


def open_months_before(period: str) -> list[str]:
    """The months before `period` that are neither closed nor count as closed, oldest first."""
    first = first_month()
    if first is None:
        return []
    latest = latest_closed_period()
    month = parse_period(first)
    if latest is not None:
        month = max(month, next_month(parse_period(latest)))
    months = []
    while period_of(month) < period:
        months.append(period_of(month))
        month = next_month(month)
    return months


def unfinished_billing_run(period: str) -> BillingRun | None:
    """The month's latest billing run if it is not done (queued, running or failed), else None.

    A job posts its charges batch by batch; while it runs, or after it failed, the month is half billed,
    and a new run (which posts just what is missing) must be done before the month can close.
    """
    latest = db.session.scalar(
        select(BillingRun).where(BillingRun.period == period).order_by(BillingRun.id.desc()).limit(1)
    )
    return latest if latest is not None and latest.status is not RunStatus.DONE else None


def missing_charges(period: str) -> list[Outstanding]:
    """The charges a billing run of `period` would post now: the month's billable bookings and usage, and
    usage of closed months waiting for its adjustment, whose key has no transfer yet."""
    skipped: list[billing.Skipped] = []
    charges = billing.compute_charges(period, parse_period(period), skipped) + billing.compute_adjustments(skipped)
    keys = [billing.key_of(charge, period) for charge in charges]
    existing: set[str] = set()
    for start in range(0, len(keys), 900):
        chunk = keys[start : start + 900]
        existing.update(db.session.scalars(select(Transfer.idempotency_key).where(Transfer.idempotency_key.in_(chunk))))
    items = [
        Outstanding(
            OutstandingKind.CHARGE_MISSING,
            charge.booking_id,
            _(
                "Buchung %(booking)s (%(service)s): das Entgelt für %(period)s fehlt; bitte den Abrechnungslauf "
                "starten.",
                booking=charge.booking_id,
                service=charge.service_title,
                period=month_label(charge.own_period or period),
            ),
            (charge.buyer_id, charge.provider_id),
        )
        for charge, key in zip(charges, keys, strict=True)
        if key not in existing
    ]
    items += [
        Outstanding(
            OutstandingKind.CHARGE_MISSING,
            item.booking_id,
            _(
                "Buchung %(booking)s kann nicht abgerechnet werden: %(reason)s",
                booking=item.booking_id,
                reason=item.reason,
            ),
        )
        for item in skipped
    ]
    return items


def open_usage(period: str) -> list[Outstanding]:
    """The month's usage still inside its review period or disputed (of billable, priced bookings)."""
    rows = db.session.execute(
        select(UsageRecord, Service.title, Service.provider_id, Booking.buyer_id)
        .join(Booking, Booking.id == UsageRecord.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .where(
            UsageRecord.period == period,
            UsageRecord.charge_transfer_id.is_(None),
            Booking.status.in_(BILLABLE_STATUSES),
            Booking.unit_price_cents.is_not(None),
            (UsageRecord.status == UsageStatus.DISPUTED) | usage_awaiting_review(today()),
        )
        .order_by(UsageRecord.id)
    )
    items = []
    for record, title, provider_id, buyer_id in rows:
        if record.status is UsageStatus.DISPUTED:
            detail = _(
                "Verbrauch %(usage)s (Buchung %(booking)s, %(service)s) ist bestritten: „%(reason)s“.",
                usage=record.id,
                booking=record.booking_id,
                service=title,
                reason=record.dispute_reason,
            )
            kind = OutstandingKind.USAGE_DISPUTED
        else:
            detail = _(
                "Verbrauch %(usage)s (Buchung %(booking)s, %(service)s) ist bis %(day)s in Prüfung.",
                usage=record.id,
                booking=record.booking_id,
                service=title,
                day=review_until(record).strftime("%d.%m.%Y"),
            )
            kind = OutstandingKind.USAGE_IN_REVIEW
        items.append(Outstanding(kind, record.id, detail, (buyer_id, provider_id)))
    return items


def outstanding(period: str) -> list[Outstanding]:
    """Everything that keeps the open month `period` from being closed, in the order it must be dealt with."""
    items = [
        Outstanding(
            OutstandingKind.EARLIER_MONTH_OPEN,
            month,
            _("Der Monat %(month)s ist noch offen und muss zuerst abgeschlossen werden.", month=month_label(month)),
        )
        for month in open_months_before(period)
    ]
    run = unfinished_billing_run(period)
    if run is not None:
        detail = (
            _("Der Abrechnungslauf %(run)s ist abgebrochen; bitte einen neuen starten.", run=run.id)
            if run.status is RunStatus.FAILED
            else _("Der Abrechnungslauf %(run)s läuft noch (%(percent)s %%).", run=run.id, percent=run.percent)
        )
        items.append(Outstanding(OutstandingKind.BILLING_RUN, run.id, detail))
    items += missing_charges(period)
    items += open_usage(period)
    return items


def visible_to(items: list[Outstanding], member_id: int | None) -> list[Outstanding]:
    """The items a member's finance staff may see (None: the operator sees all): months, runs and what
    concerns the member itself."""
    if member_id is None:
        return items
    public = (OutstandingKind.EARLIER_MONTH_OPEN, OutstandingKind.BILLING_RUN)
    return [item for item in items if item.kind in public or member_id in item.member_ids]


def billed_at_by_period() -> dict[str, datetime]:
    """When each month's last complete billing run finished."""
    rows = db.session.execute(
        select(BillingRun.period, func.max(BillingRun.finished_at))
        .where(BillingRun.status == RunStatus.DONE)
        .group_by(BillingRun.period)
    )
    return {period: finished for period, finished in rows if finished is not None}


@dataclass(frozen=True)
class MonthNote:
    """What the months table shows of an open month: the billing it still lacks and what blocks its close."""

    missing_charges: int
    billed_at: datetime | None
    blocking: list[Outstanding]
    overridable: list[Outstanding]


def month_notes(rows: list[PeriodRow]) -> dict[str, MonthNote]:
    """For the open months that may be billed: charges missing, when last billed, and, for the month that
    may be closed next, what is outstanding."""
    billed = billed_at_by_period()
    notes = {}
    for row in rows:
        if not row.billable:
            continue
        items = outstanding(row.period) if row.closable else missing_charges(row.period)
        notes[row.period] = MonthNote(
            missing_charges=sum(1 for item in items if item.kind is OutstandingKind.CHARGE_MISSING),
            billed_at=billed.get(row.period),
            blocking=[item for item in items if not item.overridable],
            overridable=[item for item in items if item.overridable],
        )
    return notes
