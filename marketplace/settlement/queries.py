"""Reads for invoices and settlements, restricted to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, or_, select

from marketplace.core.errors import NotFound
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus
from marketplace.members.models import Member, Role, User
from marketplace.settlement.models import Invoice, PaymentInstruction, Settlement, SettlementPosition


def invoices_statement(user: User, period: str | None = None) -> Select:
    """Invoices and credit notes the user's finance role may see, newest first."""
    statement = select(Invoice).order_by(Invoice.period.desc(), Invoice.provider_id, Invoice.sequence)
    if not user.is_operator_finance:
        if Role.MEMBER_FINANCE not in user.roles:
            return statement.where(Invoice.id.is_(None))
        statement = statement.where(or_(Invoice.provider_id == user.member_id, Invoice.buyer_id == user.member_id))
    if period:
        statement = statement.where(Invoice.period == period)
    return statement


def invoice_for(user: User, invoice_id: int) -> Invoice:
    """The invoice if the user may see it; NotFound otherwise (its existence is not revealed)."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or not invoice.can_view(user):
        raise NotFound("Diese Rechnung gibt es nicht.")
    return invoice


def settlements_for(user: User) -> list[Settlement]:
    settlements = db.session.scalars(select(Settlement).order_by(Settlement.period.desc())).all()
    return [s for s in settlements if s.can_view(user)]


def settlement_for(user: User, settlement_id: int) -> Settlement:
    settlement = db.session.get(Settlement, settlement_id)
    if settlement is None or not settlement.can_view(user):
        raise NotFound("Diese Verrechnung gibt es nicht.")
    return settlement


@dataclass(frozen=True)
class SettlementView:
    """What one user sees of a settlement: everything for operator finance, the own member's part otherwise."""

    positions: list[SettlementPosition]
    instructions: list[PaymentInstruction]
    #: Members for whom a pain.001 credit transfer file can be downloaded (who pays).
    sepa_payers: list[Member]


def view_of(settlement: Settlement, user: User) -> SettlementView:
    positions = list(settlement.positions)
    instructions = list(settlement.instructions)
    if not user.is_operator_finance:
        own = user.member_id
        positions = [p for p in positions if p.member_id == own]
        instructions = [i for i in instructions if own in (i.debtor_member_id, i.creditor_member_id)]
    payers: dict[int, Member] = {}
    if user.is_operator_finance:
        operator = db.session.scalar(select(Member).where(Member.is_operator.is_(True)))
        if operator is not None and settlement.instructions:
            payers[operator.id] = operator
    for instruction in instructions:
        if user.is_operator_finance or instruction.debtor_member_id == user.member_id:
            payers.setdefault(instruction.debtor_member_id, instruction.debtor)
    return SettlementView(positions, instructions, list(payers.values()))


def settleable_periods() -> list[str]:
    """Closed months that no settlement covers yet, newest first: what a new settlement may be for."""
    settled = select(Settlement.period)
    statement = (
        select(Period.period)
        .where(Period.status == PeriodStatus.CLOSED, Period.period.not_in(settled))
        .order_by(Period.period.desc())
    )
    return list(db.session.scalars(statement))
