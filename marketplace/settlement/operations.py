"""Writes on settlements: create (positions and netting), approve (four eyes), state changes.

Functions flush and never commit; the request or CLI command commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from marketplace.core.errors import Conflict, InvalidInput, PermissionDenied
from marketplace.core.models import record_audit
from marketplace.core.timeutil import parse_period, utcnow
from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Period, PeriodStatus, Posting, Transfer, TransferKind
from marketplace.settlement.models import (
    PaymentInstruction,
    Settlement,
    SettlementPosition,
    SettlementStatus,
)
from marketplace.settlement.netting import net_positions

if TYPE_CHECKING:
    from marketplace.members.models import User

#: What members owe each other: charges, their VAT, and reversals of either. Payments and payouts are how
#: settlements are paid, so they do not count towards a position.
POSITION_KINDS = (TransferKind.CHARGE, TransferKind.VAT)


def member_positions(period: str) -> dict[int, int]:
    """Each member's position for a settlement of `period`: its clearing balance from charges, VAT and
    their reversals up to the end of `period`, less what earlier settlements already cleared."""
    original = aliased(Transfer)
    rows = db.session.execute(
        select(Account.member_id, func.sum(Posting.amount_cents))
        .join(Posting, Posting.account_id == Account.id)
        .join(Transfer, Transfer.id == Posting.transfer_id)
        .outerjoin(original, original.id == Transfer.reverses_id)
        .where(
            Account.kind == AccountKind.CLEARING,
            Transfer.period <= period,
            or_(
                Transfer.kind.in_(POSITION_KINDS),
                (Transfer.kind == TransferKind.REVERSAL) & original.kind.in_(POSITION_KINDS),
            ),
        )
        .group_by(Account.member_id)
    ).all()
    positions = {member_id: int(total) for member_id, total in rows}
    settled = db.session.execute(
        select(SettlementPosition.member_id, func.sum(SettlementPosition.amount_cents))
        .join(Settlement, Settlement.id == SettlementPosition.settlement_id)
        .where(Settlement.period < period)
        .group_by(SettlementPosition.member_id)
    ).all()
    for member_id, total in settled:
        positions[member_id] = positions.get(member_id, 0) - int(total)
    return {member_id: amount for member_id, amount in positions.items() if amount != 0}


def _require_operator_finance(actor: User, what: str) -> None:
    if not actor.is_operator_finance:
        raise PermissionDenied(f"{what} darf nur die Finanzabteilung des Betreibers.")


def create_settlement(period: str, actor: User) -> Settlement:
    """Net the positions of a closed month into payment instructions (status draft).

    Raises PermissionDenied (not operator finance), InvalidInput (malformed month), Conflict (month not
    closed, already settled, a later month already settled, or nothing to settle).
    """
    _require_operator_finance(actor, "Verrechnungen anlegen")
    try:
        parse_period(period)
    except ValueError as exc:
        raise InvalidInput.field("period", "Bitte den Monat als JJJJ-MM angeben, z. B. 2026-10.") from exc
    row = db.session.get(Period, period)
    if row is None or row.status is not PeriodStatus.CLOSED:
        raise Conflict(f"Der Monat {period} ist nicht abgeschlossen; erst danach kann er verrechnet werden.")
    if db.session.scalar(select(Settlement.id).where(Settlement.period == period)) is not None:
        raise Conflict(f"Für {period} gibt es bereits eine Verrechnung.")
    later = db.session.scalar(select(func.max(Settlement.period)).where(Settlement.period > period))
    if later is not None:
        raise Conflict(f"Es gibt bereits eine Verrechnung für den späteren Monat {later}.")
    positions = member_positions(period)
    if not positions:
        raise Conflict(f"Für {period} gibt es nichts zu verrechnen.")
    settlement = Settlement(period=period, status=SettlementStatus.DRAFT, created_by_id=actor.id)
    settlement.positions = [
        SettlementPosition(member_id=member_id, amount_cents=amount) for member_id, amount in sorted(positions.items())
    ]
    settlement.instructions = [
        PaymentInstruction(
            debtor_member_id=payment.debtor_id,
            creditor_member_id=payment.creditor_id,
            amount_cents=payment.amount_cents,
        )
        for payment in net_positions(positions)
    ]
    try:
        with db.session.begin_nested():
            db.session.add(settlement)
            db.session.flush()
    except IntegrityError as exc:  # another operator created the same month's settlement just now
        raise Conflict(f"Für {period} gibt es bereits eine Verrechnung.") from exc
    record_audit(
        actor,
        "settlement.created",
        settlement,
        data={"period": period, "positions": len(positions), "instructions": len(settlement.instructions)},
    )
    return settlement


def move_settlement(settlement: Settlement, status: SettlementStatus) -> None:
    """Change the state along the transition table; Conflict otherwise."""
    if not settlement.may_become(status):
        raise Conflict(
            f"Die Verrechnung {settlement.period} ist „{settlement.status.value}“ und kann nicht "
            f"„{status.value}“ werden."
        )
    settlement.status = status
    db.session.flush()


def approve_settlement(settlement: Settlement, actor: User) -> Settlement:
    """Four eyes: a second operator finance user approves a draft. PermissionDenied for the creator or
    anyone without operator finance; Conflict unless the settlement is a draft."""
    _require_operator_finance(actor, "Verrechnungen freigeben")
    if actor.id == settlement.created_by_id:
        raise PermissionDenied("Vier-Augen-Prinzip: Wer die Verrechnung angelegt hat, kann sie nicht freigeben.")
    locked = db.session.scalar(select(Settlement).where(Settlement.id == settlement.id).with_for_update(of=Settlement))
    move_settlement(locked, SettlementStatus.APPROVED)
    locked.approved_by = actor
    locked.approved_at = utcnow()
    db.session.flush()
    record_audit(actor, "settlement.approved", locked, data={"period": locked.period})
    return locked
