"""Reads of usage records through their whole life: the state (bookings), the charges that billed and
credited them (ledger) and the invoices that carry those charges (settlement).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, and_, func, or_, select

from marketplace.bookings.models import (
    Booking,
    UsageRecord,
    UsageState,
    UsageStatus,
    charge_key,
    review_cutoff,
    usage_state,
)
from marketplace.catalogue.models import Service
from marketplace.core.timeutil import today
from marketplace.extensions import db
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.ledger.operations import metered_cents
from marketplace.members.models import User
from marketplace.settlement.models import InvoiceLine


@dataclass(frozen=True)
class UsageCharge:
    transfer_id: int
    kind: str  # "charge" or "reversal" (the corrections area adds its re-charges)
    invoice_id: int | None
    cents: int  # a reversal is negative: what it gives back


def state_clause(state: UsageState, day: date) -> object:
    """SQL for the usage records in `state` on `day` (the same rule as `bookings.models.usage_state`)."""
    entered = func.coalesce(UsageRecord.entered_at, UsageRecord.created_at)
    unbilled = UsageRecord.charge_transfer_id.is_(None)
    in_review = and_(unbilled, UsageRecord.status == UsageStatus.ENTERED, entered >= review_cutoff(day))
    return {
        UsageState.CREDITED: UsageRecord.credited_at.is_not(None),
        UsageState.BILLED: and_(UsageRecord.charge_transfer_id.is_not(None), UsageRecord.credited_at.is_(None)),
        UsageState.CONFIRMED: and_(unbilled, UsageRecord.status == UsageStatus.CONFIRMED),
        UsageState.DISPUTED: and_(unbilled, UsageRecord.status == UsageStatus.DISPUTED),
        UsageState.DEEMED_ACCEPTED: and_(
            unbilled, UsageRecord.status == UsageStatus.ENTERED, entered < review_cutoff(day)
        ),
        UsageState.RECORDED: and_(in_review, UsageRecord.corrected_at.is_(None)),
        UsageState.CORRECTED: and_(in_review, UsageRecord.corrected_at.is_not(None)),
    }[state]


def usage_statement(
    user: User,
    *,
    booking_id: int | None = None,
    period: str | None = None,
    state: UsageState | None = None,
) -> Select:
    """The usage records the user's member sees as buyer or provider (the operator's finance staff: all),
    filtered, oldest month first."""
    statement = (
        select(UsageRecord)
        .join(Booking, Booking.id == UsageRecord.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .order_by(UsageRecord.period, UsageRecord.id)
    )
    if not user.is_operator_finance:
        statement = statement.where(or_(Booking.buyer_id == user.member_id, Service.provider_id == user.member_id))
    if booking_id is not None:
        statement = statement.where(UsageRecord.booking_id == booking_id)
    if period:
        statement = statement.where(UsageRecord.period == period)
    if state is not None:
        statement = statement.where(state_clause(state, today()))  # type: ignore[arg-type]
    return statement


def charges_of(records: list[UsageRecord]) -> dict[int, list[UsageCharge]]:
    """Per usage record: its charge (by its key, whichever month it was posted in), the reversal of that
    charge, each with the invoice or credit note that carries it (None until the month's close)."""
    keys = {charge_key(r.booking_id, r.period): r.id for r in records}
    if not keys:
        return {}
    charges = db.session.execute(
        select(Transfer.id, Transfer.idempotency_key, Transfer.amount_cents).where(
            Transfer.idempotency_key.in_(list(keys)), Transfer.kind == TransferKind.CHARGE
        )
    ).all()
    owner = {transfer_id: keys[key] for transfer_id, key, _amount in charges}
    reversals = (
        db.session.execute(
            select(Transfer.id, Transfer.reverses_id, Transfer.amount_cents).where(
                Transfer.reverses_id.in_(list(owner))
            )
        ).all()
        if owner
        else []
    )
    transfer_ids = list(owner) + [transfer_id for transfer_id, _rev, _amount in reversals]
    invoices = dict(
        db.session.execute(
            select(InvoiceLine.transfer_id, InvoiceLine.invoice_id).where(InvoiceLine.transfer_id.in_(transfer_ids))
        ).all()
    )
    found: dict[int, list[UsageCharge]] = defaultdict(list)
    for transfer_id, _key, amount in charges:
        found[owner[transfer_id]].append(UsageCharge(transfer_id, "charge", invoices.get(transfer_id), amount))
    for transfer_id, reverses_id, amount in reversals:
        found[owner[reverses_id]].append(UsageCharge(transfer_id, "reversal", invoices.get(transfer_id), -amount))
    return found


def usage_amount_cents(record: UsageRecord) -> int | None:
    """What the recorded quantity costs at the booking's price (what its charge is or will be)."""
    price = record.booking.unit_price_cents
    return metered_cents(price, record.quantity) if price is not None else None


def state_of(record: UsageRecord) -> UsageState:
    return usage_state(record, today())
