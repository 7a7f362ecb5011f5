"""Writes on settlements: create (documents, advices, positions and netting), approve (four eyes), state changes.

Functions flush and never commit; the request or CLI command commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.core.events import (
    InstructionState,
    PositionState,
    SettlementApproved,
    SettlementChanged,
    SettlementCollecting,
    SettlementCreated,
    SettlementFailed,
    SettlementPaid,
    announce,
)
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.core.timeutil import parse_period, utcnow
from marketplace.extensions import db
from marketplace.ledger.models import AccountKind, Period, PeriodStatus, Transfer, TransferKind
from marketplace.ledger.operations import TransferSpec, account_of, current_period, post_transfers
from marketplace.members.models import Member
from marketplace.members.permissions import require_operator_finance
from marketplace.settlement import advices
from marketplace.settlement.models import (
    InstructionStatus,
    PaymentAdvice,
    PaymentInstruction,
    Settlement,
    SettlementDocument,
    SettlementPosition,
    SettlementStatus,
)
from marketplace.settlement.netting import net_positions

if TYPE_CHECKING:
    from marketplace.members.models import User

#: The event each status a settlement moves to announces.
_EVENTS: dict[SettlementStatus, type[SettlementChanged]] = {
    SettlementStatus.APPROVED: SettlementApproved,
    SettlementStatus.COLLECTING: SettlementCollecting,
    SettlementStatus.PAID: SettlementPaid,
    SettlementStatus.FAILED: SettlementFailed,
}


def settlement_event(kind: type[SettlementChanged], settlement: Settlement) -> SettlementChanged:
    """The event with the settlement, its positions and its instructions as they are now."""
    return kind(
        settlement_id=settlement.id,
        period=settlement.period,
        status=settlement.status.value,
        positions=tuple(PositionState(p.member_id, p.amount_cents) for p in settlement.positions),
        instructions=tuple(
            InstructionState(i.id, i.debtor_member_id, i.creditor_member_id, i.amount_cents, i.status.value)
            for i in settlement.instructions
        ),
    )


def create_settlement(actor: User, period: str) -> Settlement:
    """Settle a closed month (status draft): the released invoices and the credit notes of the months up to
    `period` that no earlier settlement covered, a payment advice per member listing them, each member's
    position (their sum) and the payment instructions netting the positions, each referring to the debtor's
    and the creditor's advice.

    Raises PermissionDenied (not operator finance), InvalidInput (malformed month), Conflict (month not
    closed, already settled, a later month already settled, or no released document to settle).
    """
    require_operator_finance(actor, "Verrechnungen anlegen")
    try:
        parse_period(period)
    except ValueError as exc:
        raise InvalidInput.field("period", "Bitte den Monat als JJJJ-MM angeben, z. B. 2026-10.") from exc
    row = db.session.get(Period, period)
    if row is None or row.status is not PeriodStatus.CLOSED:
        raise Conflict(
            "Der Monat %(period)s ist nicht abgeschlossen; erst danach kann er verrechnet werden.", period=period
        )
    # the documents' locks order concurrent settlements: what is checked below is read after them
    documents = advices.documents_to_settle(period)
    if db.session.scalar(select(Settlement.id).where(Settlement.period == period)) is not None:
        raise Conflict("Für %(period)s gibt es bereits eine Verrechnung.", period=period)
    later = db.session.scalar(select(func.max(Settlement.period)).where(Settlement.period > period))
    if later is not None:
        raise Conflict("Es gibt bereits eine Verrechnung für den späteren Monat %(later)s.", later=later)
    if not documents:
        pending = advices.pending_before(period)
        if pending:
            raise Conflict(
                "Für %(period)s gibt es nichts zu verrechnen: keine freigegebene Rechnung oder Gutschrift ist "
                "offen; %(pending)s Rechnung(en) warten noch auf die Freigabe durch die Abnehmer oder sind "
                "beanstandet.",
                period=period,
                pending=pending,
            )
        raise Conflict(
            "Für %(period)s gibt es nichts zu verrechnen: keine freigegebene Rechnung oder Gutschrift ist offen.",
            period=period,
        )
    amounts = [(document, advices.provider_amount(document)) for document in documents]
    sums = advices.positions_of(amounts)
    positions = {member_id: amount for member_id, amount in sums.items() if amount}
    due = advices.due_date_for(documents)
    settlement = Settlement(period=period, status=SettlementStatus.DRAFT, created_by_id=actor.id)
    by_member = {
        member_id: PaymentAdvice(
            member_id=member_id,
            number=advices.advice_number(period, member_id),
            position_cents=amount,
            due_date=due,
        )
        for member_id, amount in sorted(sums.items())
    }
    settlement.advices = list(by_member.values())
    settlement.positions = [
        SettlementPosition(member_id=member_id, amount_cents=amount) for member_id, amount in sorted(positions.items())
    ]
    settlement.instructions = [
        PaymentInstruction(
            debtor_member_id=payment.debtor_id,
            creditor_member_id=payment.creditor_id,
            amount_cents=payment.amount_cents,
            debtor_advice=by_member[payment.debtor_id],
            creditor_advice=by_member[payment.creditor_id],
        )
        for payment in net_positions(positions)
    ]
    try:
        with db.session.begin_nested():
            db.session.add(settlement)
            db.session.flush()
            db.session.add_all(
                SettlementDocument(settlement_id=settlement.id, invoice_id=document.id, provider_amount_cents=amount)
                for document, amount in amounts
            )
            db.session.flush()
    except IntegrityError as exc:  # another operator settled the same month or the same documents just now
        raise Conflict(
            "Für %(period)s wurde gerade eine andere Verrechnung angelegt; bitte die Seite neu laden.", period=period
        ) from exc
    record_audit(
        actor,
        "settlement.created",
        settlement,
        data={
            "period": period,
            "documents": len(documents),
            "positions": len(positions),
            "instructions": len(settlement.instructions),
        },
    )
    announce(settlement_event(SettlementCreated, settlement))
    return settlement


def lock_settlement(settlement_id: int) -> Settlement:
    """The settlement and its payment instructions, locked and read afresh (in this order, by every writer).

    Every change of a settlement's or an instruction's status happens under this lock, so what a write
    checks (the settlement's status, which instructions are still open) is what the last writer committed.
    """
    settlement = db.session.scalar(locked(select(Settlement).where(Settlement.id == settlement_id), Settlement))
    db.session.scalars(
        locked(
            select(PaymentInstruction)
            .where(PaymentInstruction.settlement_id == settlement_id)
            .order_by(PaymentInstruction.id),
            PaymentInstruction,
        )
    ).all()
    return settlement


def move_settlement(settlement: Settlement, status: SettlementStatus) -> None:
    """Change the state along the transition table (Conflict otherwise), flush and announce it.

    The event carries the instructions as they are at this moment, so a caller changes the instructions
    that belong to the move (e.g. all paid) before it calls this."""
    if not settlement.may_become(status):
        raise Conflict(
            "Die Verrechnung %(period)s ist „%(status)s“ und kann nicht „%(to)s“ werden.",
            period=settlement.period,
            status=settlement.status.value,
            to=status.value,
        )
    settlement.status = status
    db.session.flush()
    announce(settlement_event(_EVENTS[status], settlement))


def approve_settlement(actor: User, settlement: Settlement) -> Settlement:
    """Four eyes: a second operator finance user approves a draft (paid at once when it has no instruction,
    its documents cancelling out). PermissionDenied for the creator or anyone without operator finance;
    Conflict unless the settlement is a draft."""
    require_operator_finance(actor, "Verrechnungen freigeben")
    if actor.id == settlement.created_by_id:
        raise PermissionDenied("Vier-Augen-Prinzip: Wer die Verrechnung angelegt hat, kann sie nicht freigeben.")
    settlement = lock_settlement(settlement.id)
    move_settlement(settlement, SettlementStatus.APPROVED)
    settlement.approved_by = actor
    settlement.approved_at = utcnow()
    db.session.flush()
    record_audit(actor, "settlement.approved", settlement, data={"period": settlement.period})
    # documents that cancel each other out leave nothing to pay: approved, the settlement is done
    mark_paid_if_complete(settlement)
    return settlement


def direct_key(instruction: PaymentInstruction) -> str:
    return f"direct:{instruction.id}"


def completion_specs(settlement: Settlement, paid_directly_now: frozenset[int] = frozenset()) -> list[TransferSpec]:
    """Once every instruction is paid: the payouts for those the operator collected (each creditor's
    clearing account against the operator's bank, one transfer per creditor). Empty before that.

    `paid_directly_now` names instructions whose direct payment is being posted in the same call."""
    if not all(i.status is InstructionStatus.PAID for i in settlement.instructions):
        return []
    keys = [direct_key(i) for i in settlement.instructions]
    direct = set(db.session.scalars(select(Transfer.idempotency_key).where(Transfer.idempotency_key.in_(keys))))
    totals: dict[int, int] = {}
    for instruction in settlement.instructions:
        if direct_key(instruction) in direct or instruction.id in paid_directly_now:
            continue
        totals[instruction.creditor_member_id] = (
            totals.get(instruction.creditor_member_id, 0) + instruction.amount_cents
        )
    if not totals:
        return []
    operator = db.session.scalar(select(Member).where(Member.is_operator.is_(True)))
    bank = account_of(operator.id, AccountKind.BANK).id
    specs = []
    for creditor_id, amount in sorted(totals.items()):
        creditor = db.session.get(Member, creditor_id)
        specs.append(
            TransferSpec(
                idempotency_key=f"payout:{settlement.id}:{creditor_id}",
                kind=TransferKind.PAYOUT,
                period=current_period(),
                description=f"Auszahlung an {creditor.name}, Verrechnung {settlement.period}",
                postings=((account_of(creditor_id).id, -amount), (bank, amount)),
            )
        )
    return specs


def mark_paid_if_complete(settlement: Settlement) -> None:
    if all(i.status is InstructionStatus.PAID for i in settlement.instructions):
        move_settlement(settlement, SettlementStatus.PAID)
        settlement.paid_at = utcnow()
        db.session.flush()


def record_direct_payment(actor: User, settlement: Settlement, instruction_id: int) -> PaymentInstruction:
    """Book that the debtor paid this instruction straight to the creditor (the direct way, with the
    debtor's own pain.001 file): debtor's clearing account against the creditor's, in the open month.

    Raises PermissionDenied (not operator finance), NotFound (no such instruction in the settlement),
    Conflict (settlement not approved/collecting/failed, or the instruction is being collected or paid)."""
    require_operator_finance(actor, "Direktzahlungen verbuchen")
    settlement = lock_settlement(settlement.id)
    instruction = next((i for i in settlement.instructions if i.id == instruction_id), None)
    if instruction is None:
        raise NotFound("Diese Zahlungsanweisung gibt es nicht.")
    if settlement.status not in (SettlementStatus.APPROVED, SettlementStatus.COLLECTING, SettlementStatus.FAILED):
        raise Conflict("Direktzahlungen lassen sich nur für freigegebene, noch nicht bezahlte Verrechnungen buchen.")
    if instruction.status is not InstructionStatus.OPEN:
        raise Conflict("Diese Zahlungsanweisung wird gerade eingezogen oder ist bereits bezahlt.")
    instruction.status = InstructionStatus.PAID
    specs = [
        TransferSpec(
            idempotency_key=direct_key(instruction),
            kind=TransferKind.PAYMENT,
            period=current_period(),
            description=(
                f"Direktzahlung {instruction.debtor.name} an {instruction.creditor.name}, "
                f"Verrechnung {settlement.period}"
            ),
            postings=(
                (account_of(instruction.debtor_member_id).id, instruction.amount_cents),
                (account_of(instruction.creditor_member_id).id, -instruction.amount_cents),
            ),
        ),
        *completion_specs(settlement, frozenset({instruction.id})),
    ]
    post_transfers(specs, actor)
    mark_paid_if_complete(settlement)
    record_audit(actor, "instruction.paid_directly", instruction, data={"settlement": settlement.id})
    return instruction
