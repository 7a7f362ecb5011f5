"""The billing run: charges every billable booking of a month once.

Recurring services (unit ``month``) are charged in advance for the booked days of the month, pro rata;
metered services from the month's usage records. The idempotency key ``charge:<booking>:<YYYY-MM>``
makes a rerun pick up only what is new. The run records the booking status changes due by date first
(set-based, `bookings.operations.advance_bookings`), posts the charges together with the month's
cost-sharing advances, and announces `BillingRunCompleted` last (the notifications e-mail every member it charged,
for bookings or advances).

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

from marketplace.bookings.models import BILLABLE_STATUSES, Booking, UsageRecord, charge_key, usage_billable
from marketplace.bookings.operations import advance_bookings, mark_usage_billed
from marketplace.catalogue.models import Service, Unit
from marketplace.core.events import BillingRunCompleted, announce
from marketplace.core.models import record_audit
from marketplace.core.money import BIGINT_MAX, MAX_CHARGE_CENTS, format_eur
from marketplace.core.timeutil import month_bounds, today, utcnow
from marketplace.costsharing.advances import charged as advances_charged
from marketplace.costsharing.advances import prepare as prepare_advances
from marketplace.costsharing.models import Advance
from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Transfer, TransferKind
from marketplace.ledger.operations import (
    TransferSpec,
    latest_closed_period,
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
    #: The usage record a metered charge bills (stamped with the charge once it is posted).
    usage_id: int | None = None
    #: An adjustment: usage of this closed month, billed in the run's open month under its own month's key.
    own_period: str | None = None


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
            UsageRecord.id,
        )
        .join(Service, Service.id == Booking.service_id)
        .outerjoin(
            UsageRecord,
            # only confirmed or deemed-accepted usage: usage in review waits for its period's end, disputed
            # usage for the provider's correction (bookings.models.usage_billable)
            and_(UsageRecord.booking_id == Booking.id, UsageRecord.period == period, usage_billable(today())),
        )
        .where(*_billable(first, last))
        .order_by(Booking.id)
    )
    charges: list[Charge] = []
    for booking_id, buyer_id, quantity, starts_on, ends_on, unit, price, provider_id, title, usage, usage_id in rows:
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
            charges.append(Charge(booking_id, buyer_id, provider_id, title, cents, detail, usage_id))
    return charges


def compute_adjustments(skipped: list[Skipped] | None = None) -> list[Charge]:
    """Usage of closed months that became billable after its month closed (the close was overridden while it
    was in review or disputed): charged in the run's open month, each under its own month's key
    ``charge:<booking>:<own month>`` and with its month in the text (nothing is written here)."""
    skipped = skipped if skipped is not None else []
    latest = latest_closed_period()
    if latest is None:
        return []
    rows = db.session.execute(
        select(
            UsageRecord.id,
            UsageRecord.period,
            UsageRecord.quantity,
            Booking.id,
            Booking.buyer_id,
            Booking.unit,
            Booking.unit_price_cents,
            Service.provider_id,
            Service.title,
        )
        .join(Booking, Booking.id == UsageRecord.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .where(
            UsageRecord.period <= latest,
            UsageRecord.charge_transfer_id.is_(None),
            usage_billable(today()),
            Booking.status.in_(BILLABLE_STATUSES),
            Booking.unit_price_cents.is_not(None),
        )
        .order_by(UsageRecord.period, Booking.id)
    )
    charges: list[Charge] = []
    for usage_id, own, usage, booking_id, buyer_id, unit, price, provider_id, title in rows:
        if unit is None or unit is Unit.MONTH:
            continue
        try:
            cents = metered_cents(price, usage)
        except (InvalidOperation, OverflowError):
            skipped.append(Skipped(booking_id, _too_large(None)))
            continue
        if cents > MAX_CHARGE_CENTS:
            skipped.append(Skipped(booking_id, _too_large(cents)))
            continue
        if cents > 0:
            detail = f"Nachberechnung Verbrauch {own}: {_german_quantity(usage)} {USAGE_UNITS.get(unit, unit.value)}"
            charges.append(Charge(booking_id, buyer_id, provider_id, title, cents, detail, usage_id, own))
    return charges


def key_of(charge: Charge, period: str) -> str:
    """The charge's idempotency key: its booking and the month it bills (an adjustment's own month)."""
    return charge_key(charge.booking_id, charge.own_period or period)


def stamp_usage(period: str, charges: list[Charge]) -> None:
    """Mark the usage records of the posted metered charges as billed by their charge (same transaction)."""
    keys = {key_of(c, period): c.usage_id for c in charges if c.usage_id is not None}
    found: dict[int, int] = {}
    key_list = list(keys)
    for start in range(0, len(key_list), 900):
        chunk = key_list[start : start + 900]
        rows = db.session.execute(
            select(Transfer.id, Transfer.idempotency_key).where(Transfer.idempotency_key.in_(chunk))
        )
        found.update({keys[key]: transfer_id for transfer_id, key in rows})
    usage_ids = list(found)
    unstamped: set[int] = set()
    for start in range(0, len(usage_ids), 900):
        chunk = usage_ids[start : start + 900]
        unstamped.update(
            db.session.scalars(
                select(UsageRecord.id).where(UsageRecord.id.in_(chunk), UsageRecord.charge_transfer_id.is_(None))
            )
        )
    found = {usage_id: transfer_id for usage_id, transfer_id in found.items() if usage_id in unstamped}
    mark_usage_billed(found)


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
            idempotency_key=key_of(c, period),
            kind=TransferKind.CHARGE,
            period=period,
            description=f"{c.service_title} – {c.own_period or period} ({c.detail})"[:500],
            postings=((clearing[c.buyer_id], -c.cents), (clearing[c.provider_id], c.cents)),
            booking_id=c.booking_id,
        )
        for c in charges
    ]


def finish_run(run: BillingRun, actor: User | None, buyers: set[int], advances: list[Advance] | None = None) -> None:
    """Audit the finished run and announce it with the members it charged, `buyers` of bookings and the
    participants of the cost-sharing `advances` it created (the notifications e-mail them)."""
    charged_advances = advances_charged(advances or [])
    buyers = buyers | {advance.member_id for advance in charged_advances}
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
            advances=charged_advances,
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
    charges = compute_charges(period, first, skipped) + compute_adjustments(skipped)
    specs = charge_specs(period, charges, skipped)
    advances = prepare_advances(period)
    everything = specs + advances.specs
    report = (lambda count: progress(count, len(everything))) if progress is not None else None
    result = post_transfers(everything, actor, progress=report)
    stamp_usage(period, charges)
    created_advances = advances.record(actor)  # advance rows and invoices for the advances created just now
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
    finish_run(run, actor, set(billed_buyers(result.created_ids)), created_advances)
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
