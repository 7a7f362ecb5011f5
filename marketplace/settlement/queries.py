"""Reads for invoices and settlements, restricted to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, or_, select

from marketplace.core.errors import NotFound
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus
from marketplace.members.models import Member, Role, User
from marketplace.settlement.advices import AdviceLine, lines_by_member, lines_for
from marketplace.settlement.models import (
    InstructionStatus,
    Invoice,
    PaymentAdvice,
    PaymentInstruction,
    Settlement,
    SettlementPosition,
)
from marketplace.settlement.paying import HowPaid, instruction_ways
from marketplace.settlement.sepa import refusal


def invoices_statement(user: User, period: str | None = None) -> Select:
    """Invoices and credit notes the user may see (`Invoice.can_view`), newest first: finance staff both sides
    of its member, buyers the received ones, provider staff the issued ones, operator finance all."""
    statement = select(Invoice).order_by(Invoice.period.desc(), Invoice.provider_id, Invoice.sequence)
    if not user.is_operator_finance:
        sides = []
        if Role.MEMBER_FINANCE in user.roles or Role.PROVIDER in user.roles:
            sides.append(Invoice.provider_id == user.member_id)
        if Role.MEMBER_FINANCE in user.roles or Role.BUYER in user.roles:
            sides.append(Invoice.buyer_id == user.member_id)
        if not sides:
            return statement.where(Invoice.id.is_(None))
        statement = statement.where(or_(*sides))
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


def advice_documents(settlement: Settlement, member_id: int) -> list[AdviceLine]:
    """The invoices and credit notes on `member_id`'s payment advice of `settlement`, each with its amount
    from that member's side (+ it receives, − it pays) and its counterparty; their sum is the member's
    position. Empty for a member without documents in it. For SEPA remittance and DATEV alike."""
    return lines_for(settlement.id, member_id)


def may_see_advice(user: User, member_id: int) -> bool:
    """Operator finance sees every advice; a member's finance staff only its own member's."""
    return user.is_operator_finance or (Role.MEMBER_FINANCE in user.roles and user.member_id == member_id)


def advice_for(user: User, settlement_id: int, member_id: int) -> PaymentAdvice:
    """A member's advice in a settlement if the user may see it; NotFound otherwise (also for a settlement
    or member the user may not see, so nothing is revealed)."""
    advice = None
    if may_see_advice(user, member_id):
        advice = db.session.scalar(
            select(PaymentAdvice).where(
                PaymentAdvice.settlement_id == settlement_id, PaymentAdvice.member_id == member_id
            )
        )
    if advice is None:
        raise NotFound("Dieses Zahlungsavis gibt es nicht.")
    return advice


@dataclass(frozen=True)
class AdviceView:
    """A member's advice with its documents and how they reconcile with its position and instructions."""

    advice: PaymentAdvice
    lines: list[AdviceLine]
    #: the instructions that refer to this advice (as the debtor's or the creditor's)
    instructions: list[PaymentInstruction]

    @property
    def documents_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def instructions_cents(self) -> int:
        """What the member receives less what it pays by the instructions."""
        member = self.advice.member_id
        return sum(i.amount_cents for i in self.instructions if i.creditor_member_id == member) - sum(
            i.amount_cents for i in self.instructions if i.debtor_member_id == member
        )

    @property
    def reconciled(self) -> bool:
        """Documents = position = instructions, to the cent."""
        return self.documents_cents == self.advice.position_cents == self.instructions_cents


def advice_view(advice: PaymentAdvice, lines: list[AdviceLine] | None = None) -> AdviceView:
    """The advice with its documents (`lines` when already read) and the instructions referring to it."""
    instructions = [
        i for i in advice.settlement.instructions if advice.id in (i.debtor_advice_id, i.creditor_advice_id)
    ]
    if lines is None:
        lines = advice_documents(advice.settlement, advice.member_id)
    return AdviceView(advice, lines, instructions)


@dataclass(frozen=True)
class SettlementView:
    """What one user sees of a settlement: everything for operator finance, the own member's part otherwise."""

    positions: list[SettlementPosition]
    instructions: list[PaymentInstruction]
    #: Members for whom a pain.001 credit transfer file can be downloaded (who pays, while it is not paid).
    sepa_payers: list[Member]
    #: Paying members whose file is no longer (or not yet) offered, with the reason.
    sepa_refused: list[tuple[Member, str]]
    #: The payment advices with their documents and reconciliation (none for settlements made before advices).
    advices: list[AdviceView]
    #: Instruction id → how it is paid: the operator's debit, or the debtor's own transfer (and why).
    ways: dict[int, HowPaid]

    @property
    def debits_to_collect(self) -> bool:
        """Whether an instruction is left that the operator's debit pays (open, or its debit under way)."""
        return any(self.ways[i.id].by_debit and i.status is not InstructionStatus.PAID for i in self.instructions)

    def advice_of(self, member_id: int) -> PaymentAdvice | None:
        return next((a.advice for a in self.advices if a.advice.member_id == member_id), None)


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
    ways = instruction_ways(settlement)
    offered: list[Member] = []
    refused: list[tuple[Member, str]] = []
    for payer in payers.values():
        problem = refusal(settlement, payer, ways)
        if problem is None:
            offered.append(payer)
        elif not isinstance(problem, NotFound):
            refused.append((payer, problem.detail))
    visible = [a for a in settlement.advices if may_see_advice(user, a.member_id)]
    lines = lines_by_member(settlement.id) if visible else {}
    advices = [advice_view(a, lines.get(a.member_id, [])) for a in visible]
    return SettlementView(positions, instructions, offered, refused, advices, ways)


def settleable_periods() -> list[str]:
    """Closed months that no settlement covers yet, newest first: what a new settlement may be for."""
    settled = select(Settlement.period)
    statement = (
        select(Period.period)
        .where(Period.status == PeriodStatus.CLOSED, Period.period.not_in(settled))
        .order_by(Period.period.desc())
    )
    return list(db.session.scalars(statement))
