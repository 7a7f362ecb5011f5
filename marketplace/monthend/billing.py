"""The billing run: charges every billable booking of a month once.

Recurring services (unit ``month``) are charged in advance for the booked days of the month, pro rata;
metered services from the month's usage records. The idempotency key ``charge:<booking>:<YYYY-MM>``
makes a rerun pick up only what is new. The run records the booking status changes due by date first
(set-based, `bookings.operations.advance_bookings`), posts the charges together with the month's
cost-sharing advances, and announces `BillingRunCompleted` last (the notifications e-mail the billed buyers).

A charge the ledger cannot hold (an amount above `MAX_CHARGE_CENTS`, from data that got in before entry
was bounded, or one that would carry a balance or the run's total beyond BIGINT) is skipped and reported in
the run's `skipped` instead of failing the whole month; a later run charges it once the data is corrected.

`run_billing` does it all in the caller's transaction (small runs, the CLI, the demo). A run above
``BILLING_JOB_THRESHOLD`` bookings is a job: `start_billing` queues it, and `monthend.jobs` carries it out
with the same steps, one transaction per step and per batch of charges, its progress committed with each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from flask import current_app
from sqlalchemy import and_, func, or_, select

from marketplace.bookings.models import BILLABLE_STATUSES, Booking, UsageRecord, charge_key
from marketplace.bookings.operations import advance_bookings
from marketplace.catalogue.models import Service, Unit
from marketplace.core.events import BillingRunCompleted, announce
from marketplace.core.models import record_audit
from marketplace.core.money import BIGINT_MAX, MAX_CHARGE_CENTS, format_eur
from marketplace.core.timeutil import month_bounds, today, utcnow
from marketplace.costsharing.advances import prepare as prepare_advances
from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Transfer, TransferKind
from marketplace.ledger.operations import (
    TransferSpec,
    metered_cents,
    post_transfers,
    prorated_cents,
    require_billable_period,
)
from marketplace.members.models import User
from marketplace.members.permissions import require_operator_finance
from marketplace.monthend.models import BillingRun, RunStatus

#: Bookings above which a billing run started from a page or the API runs as a job (config
#: ``BILLING_JOB_THRESHOLD``): 2-4 s of work on the reference machine, far inside a request's 30 s even on a
#: slower or busy one.
DEFAULT_JOB_THRESHOLD = 20_000


@dataclass(frozen=True)
class Charge:
    booking_id: int
    buyer_id: int
    provider_id: int
    service_title: str
    cents: int
    detail: str


@dataclass(frozen=True)
class Skipped:
    """A booking the run could not charge, and why (German: the operator reads it)."""

    booking_id: int
    reason: str

    def as_dict(self) -> dict[str, int | str]:
        return {"booking_id": self.booking_id, "reason": self.reason}


#: How the journal names the metered units (the texts are stored in the ledger, so they are German).
USAGE_UNITS = {
    Unit.HOUR: "Stunden",
    Unit.PIECE: "Stück",
    Unit.GB_MONTH: "GB-Monate",
    Unit.USER_MONTH: "Nutzer-Monate",
}


def _german_quantity(quantity: Decimal) -> str:
    """``Decimal("12.500")`` -> ``"12,5"``; ``Decimal("5120")`` -> ``"5.120"``."""
    text = f"{quantity.normalize():,f}"
    return text.replace(",", "\u202f").replace(".", ",").replace("\u202f", ".")


def billable_days(starts_on: date, ends_on: date | None, first: date, last: date) -> int:
    """Days of [starts_on, ends_on] inside [first, last], counting both ends; 0 if they do not meet."""
    start = max(starts_on, first)
    end = min(ends_on, last) if ends_on is not None else last
    return max(0, (end - start).days + 1)


def _billable(first: date, last: date) -> tuple:
    """The bookings a month may charge: priced, billable status, overlapping [first, last]."""
    return (
        Booking.status.in_(BILLABLE_STATUSES),
        Booking.unit_price_cents.is_not(None),
        Booking.starts_on <= last,
        or_(Booking.ends_on.is_(None), Booking.ends_on >= first),
    )


def billable_bookings(first: date) -> int:
    """How many bookings the month of `first` may charge: the size of its billing run (one COUNT)."""
    first, last = month_bounds(first)
    return int(db.session.scalar(select(func.count()).select_from(Booking).where(*_billable(first, last))) or 0)


def compute_charges(period: str, first: date, skipped: list[Skipped] | None = None) -> list[Charge]:
    """What the month owes, booking by booking (nothing is written).

    A charge whose amount cannot be computed or exceeds `MAX_CHARGE_CENTS` is left out and, if `skipped` is
    given, reported there.
    """
    skipped = skipped if skipped is not None else []
    first, last = month_bounds(first)
    days_in_month = last.day
    rows = db.session.execute(
        select(
            Booking.id,
            Booking.buyer_id,
            Booking.quantity,
            Booking.starts_on,
            Booking.ends_on,
            Booking.unit,
            Booking.unit_price_cents,
            Service.provider_id,
            Service.title,
            UsageRecord.quantity,
        )
        .join(Service, Service.id == Booking.service_id)
        .outerjoin(
            UsageRecord,
            # disputed usage is not billed until the provider corrects it (bookings/operations.py)
            and_(UsageRecord.booking_id == Booking.id, UsageRecord.period == period, UsageRecord.status != "disputed"),
        )
        .where(*_billable(first, last))
        .order_by(Booking.id)
    )
    charges: list[Charge] = []
    for booking_id, buyer_id, quantity, starts_on, ends_on, unit, price, provider_id, title, usage in rows:
        try:
            if unit is Unit.MONTH:
                days = billable_days(starts_on, ends_on, first, last)
                cents = prorated_cents(price, quantity, days, days_in_month)
                detail = f"{quantity} × {days}/{days_in_month} Tage"
            else:
                if usage is None:
                    continue
                cents = metered_cents(price, usage)
                detail = f"Verbrauch {_german_quantity(usage)} {USAGE_UNITS.get(unit, unit.value)}"
        except (InvalidOperation, OverflowError):  # beyond what Decimal's 28 digits can round to a cent
            skipped.append(Skipped(booking_id, _too_large(None)))
            continue
        if cents > MAX_CHARGE_CENTS:
            skipped.append(Skipped(booking_id, _too_large(cents)))
            continue
        if cents > 0:
            charges.append(Charge(booking_id, buyer_id, provider_id, title, cents, detail))
    return charges


def charge_specs(period: str, charges: list[Charge], skipped: list[Skipped]) -> list[TransferSpec]:
    """The transfers of the charges that keep every balance inside BIGINT (the others go to `skipped`)."""
    member_ids = {c.buyer_id for c in charges} | {c.provider_id for c in charges}
    accounts = (
        db.session.execute(
            select(Account.member_id, Account.id, Account.balance_cents).where(
                Account.member_id.in_(member_ids), Account.kind == AccountKind.CLEARING
            )
        ).all()
        if member_ids
        else []
    )
    clearing = {member_id: account_id for member_id, account_id, _balance in accounts}
    charges = _within_bigint(charges, {member_id: balance for member_id, _id, balance in accounts}, skipped)
    return [
        TransferSpec(
            idempotency_key=charge_key(c.booking_id, period),
            kind=TransferKind.CHARGE,
            period=period,
            description=f"{c.service_title} – {period} ({c.detail})"[:500],
            postings=((clearing[c.buyer_id], -c.cents), (clearing[c.provider_id], c.cents)),
            booking_id=c.booking_id,
        )
        for c in charges
    ]


def finish_run(run: BillingRun, actor: User | None, buyers: set[int]) -> None:
    """Audit the finished run and announce it with the buyers it charged (the notifications e-mail them)."""
    record_audit(
        actor,
        "billing.run",
        run,
        data={
            "period": run.period,
            "created": run.transfers_created,
            "total": run.total_cents,
            "skipped": run.skipped,
        },
    )
    announce(
        BillingRunCompleted(
            run_id=run.id,
            period=run.period,
            transfers_created=run.transfers_created,
            total_cents=run.total_cents,
            billed_buyer_ids=tuple(sorted(buyers)),
            actor_id=actor.id if actor is not None else None,
        )
    )


def run_billing(actor: User | None, period: str, progress: Callable[[int, int], None] | None = None) -> BillingRun:
    """Charge every billable booking of `period` once and record the run, in the caller's transaction.

    `progress(count, total)` hears of each batch written (for the CLI's progress bar).

    First records the booking status changes the dates have made (so billing never depends on someone
    having opened a booking page); last announces the run with the buyers it charged.

    Raises PermissionDenied (not operator finance; None, the system, may), InvalidInput (malformed month)
    or Conflict (future or closed month).
    """
    require_operator_finance(actor, "Abrechnungsläufe starten")
    first = require_billable_period(period)
    advance_bookings(today())
    skipped: list[Skipped] = []
    specs = charge_specs(period, compute_charges(period, first, skipped), skipped)
    advances = prepare_advances(period)
    everything = specs + advances.specs
    report = (lambda count: progress(count, len(everything))) if progress is not None else None
    result = post_transfers(everything, actor, progress=report)
    advances.record(actor)  # advance rows and invoices for the advances created just now
    now = utcnow()
    run = BillingRun(
        period=period,
        created_by_id=actor.id if actor is not None else None,
        transfers_created=result.created,
        total_cents=result.created_amount_cents,
        skipped=[item.as_dict() for item in skipped],
        status=RunStatus.DONE,
        processed=len(specs),
        planned=len(specs),
        started_at=now,
        updated_at=now,
        finished_at=now,
    )
    db.session.add(run)
    db.session.flush()
    finish_run(run, actor, set(billed_buyers(result.created_ids)))
    return run


# --- large runs as jobs -------------------------------------------------------------------------------


def job_threshold() -> int:
    return int(current_app.config.get("BILLING_JOB_THRESHOLD", DEFAULT_JOB_THRESHOLD))


def start_billing(actor: User, period: str) -> BillingRun:
    """A billing run as pages and the API start it: done at once (`run_billing`) when the month has at most
    ``BILLING_JOB_THRESHOLD`` billable bookings, otherwise queued as a job (status ``queued``): the caller
    commits and then hands it to `monthend.jobs.submit`.

    Raises PermissionDenied (not operator finance), InvalidInput (malformed month) or Conflict (future or
    closed month).
    """
    require_operator_finance(actor, "Abrechnungsläufe starten")
    first = require_billable_period(period)
    size = billable_bookings(first)
    if size <= job_threshold():
        return run_billing(actor, period)
    run = BillingRun(
        period=period,
        created_by_id=actor.id,
        transfers_created=0,
        total_cents=0,
        status=RunStatus.QUEUED,
        planned=size,
    )
    db.session.add(run)
    db.session.flush()
    record_audit(actor, "billing.queued", run, data={"period": period, "bookings": size})
    return run


def _too_large(cents: int | None) -> str:
    amount = f"Der Betrag ({format_eur(cents)})" if cents is not None else "Der Betrag"
    return (
        f"{amount} übersteigt die Obergrenze einer Buchung von {format_eur(MAX_CHARGE_CENTS)}; "
        "bitte Verbrauch und Preis der Buchung prüfen."
    )


def _within_bigint(charges: list[Charge], balances: dict[int, int], skipped: list[Skipped]) -> list[Charge]:
    """The charges that keep every clearing balance and the run's total inside BIGINT; the others skipped.

    The balances are read without a lock: this only keeps absurd data from failing the whole run, the
    posting itself locks and checks (a balance beyond BIGINT would still be refused by the database).
    """
    kept: list[Charge] = []
    projected = dict(balances)
    total = 0
    for charge in charges:
        buyer = projected.get(charge.buyer_id, 0) - charge.cents
        provider = projected.get(charge.provider_id, 0) + charge.cents
        if buyer >= -BIGINT_MAX and provider <= BIGINT_MAX and total + charge.cents <= BIGINT_MAX:
            projected[charge.buyer_id], projected[charge.provider_id] = buyer, provider
            total += charge.cents
            kept.append(charge)
        else:
            skipped.append(
                Skipped(charge.booking_id, "Der Saldo eines Kontos oder die Summe des Laufs würde zu groß werden.")
            )
    return kept


def billed_buyers(transfer_ids: list[int]) -> list[int]:
    """The buyers charged by the given new transfers: one query, so with `notify_billed`'s two the billing
    e-mails cost three queries per run however many members were billed (none for a rerun that created
    nothing)."""
    if not transfer_ids:
        return []
    # post_transfers numbers one run's transfers without gaps, so the range is exactly these transfers
    return list(
        db.session.scalars(
            select(Booking.buyer_id)
            .join(Transfer, Transfer.booking_id == Booking.id)
            .where(Transfer.id.between(min(transfer_ids), max(transfer_ids)), Transfer.kind == TransferKind.CHARGE)
            .distinct()
        )
    )
