"""To-do sources of settlement (marketplace.core.todos): invoices waiting for the buyer's release, settlements
waiting for the second pair of eyes or for their payment, and what a member has to pay by transfer."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace.core.timeutil import month_label
from marketplace.core.todos import Todo
from marketplace.extensions import db
from marketplace.members.models import Role, User
from marketplace.settlement.models import (
    DocumentType,
    InstructionStatus,
    Invoice,
    PaymentInstruction,
    ReleaseStatus,
    Settlement,
    SettlementStatus,
)
from marketplace.settlement.paying import debtor_ways


def invoices_to_release(user: User) -> list[Todo]:
    """The buyer's finance staff: invoices their member received that wait for the release ("sachlich und
    rechnerisch richtig")."""
    if Role.MEMBER_FINANCE not in user.roles:
        return []
    invoices = db.session.scalars(
        select(Invoice)
        .where(
            Invoice.buyer_id == user.member_id,
            Invoice.type_code == DocumentType.INVOICE,
            Invoice.release_status == ReleaseStatus.PENDING,
        )
        .order_by(Invoice.release_due, Invoice.id)
    )
    return [
        Todo(
            kind="invoice.release",
            title=_(
                "Rechnung %(number)s von %(provider)s für %(month)s",
                number=i.number,
                provider=i.provider.name,
                month=month_label(i.period),
            ),
            action=_("Prüfen und freigeben"),
            path=url_for("settlement.invoice", invoice_id=i.id),
            dated=i.issue_date,
            due=i.release_due,
            amount_cents=i.gross_cents,
            month=i.period,
        )
        for i in invoices
    ]


def settlements_to_approve(user: User) -> list[Todo]:
    """Operator finance: drafts another person created (four eyes: the creator never approves)."""
    if not user.is_operator_finance:
        return []
    drafts = db.session.scalars(
        select(Settlement)
        .where(Settlement.status == SettlementStatus.DRAFT, Settlement.created_by_id != user.id)
        .order_by(Settlement.period)
    )
    return [
        Todo(
            kind="settlement.approve",
            title=_(
                "Verrechnung %(month)s (angelegt von %(name)s)",
                month=month_label(s.period),
                name=s.created_by.name,
            ),
            action=_("Prüfen und freigeben"),
            path=url_for("settlement.show", settlement_id=s.id),
            dated=s.created_at.date(),
            amount_cents=sum(p.amount_cents for p in s.positions if p.amount_cents > 0),
        )
        for s in drafts
    ]


def settlements_to_pay(user: User) -> list[Todo]:
    """Operator finance: approved settlements (or failed debits) whose payment is still to be started, and
    settlements being collected in which debtors that pay themselves still owe their transfer."""
    if not user.is_operator_finance:
        return []
    open_instruction = (
        select(PaymentInstruction.id)
        .where(PaymentInstruction.settlement_id == Settlement.id, PaymentInstruction.status == InstructionStatus.OPEN)
        .exists()
    )
    waiting = db.session.scalars(
        select(Settlement)
        .where(
            Settlement.status.in_((SettlementStatus.APPROVED, SettlementStatus.FAILED))
            | ((Settlement.status == SettlementStatus.COLLECTING) & open_instruction)
        )
        .order_by(Settlement.period)
    )
    return [
        Todo(
            kind="settlement.pay",
            title=_pay_title(s),
            action=_("Zahlung veranlassen"),
            path=url_for("settlement.show", settlement_id=s.id),
            dated=(s.approved_at or s.created_at).date(),
            amount_cents=sum(i.amount_cents for i in s.instructions if i.status is not InstructionStatus.PAID),
        )
        for s in waiting
    ]


def _pay_title(settlement: Settlement) -> str:
    month = month_label(settlement.period)
    if settlement.status is SettlementStatus.FAILED:
        return _("Verrechnung %(month)s: Lastschrift fehlgeschlagen", month=month)
    if settlement.status is SettlementStatus.COLLECTING:
        return _(
            "Verrechnung %(month)s: Überweisungen der Stellen als Direktzahlung buchen, sobald sie eingegangen sind",
            month=month,
        )
    return _("Verrechnung %(month)s: einziehen oder Direktzahlungen buchen", month=month)


def transfers_to_make(user: User) -> list[Todo]:
    """A member's finance staff: open payment instructions of approved settlements where it is the debtor and
    pays itself (those the operator debits are not its to do)."""
    if Role.MEMBER_FINANCE not in user.roles or user.member.is_operator:
        return []
    rows = db.session.execute(
        select(PaymentInstruction, Settlement)
        .join(Settlement, Settlement.id == PaymentInstruction.settlement_id)
        .where(
            PaymentInstruction.debtor_member_id == user.member_id,
            PaymentInstruction.status == InstructionStatus.OPEN,
            Settlement.status.in_((SettlementStatus.APPROVED, SettlementStatus.COLLECTING, SettlementStatus.FAILED)),
        )
        .order_by(Settlement.period, PaymentInstruction.id)
    ).all()
    settlements = {settlement.id: settlement for _instruction, settlement in rows}
    ways = {settlement_id: debtor_ways(settlement) for settlement_id, settlement in settlements.items()}
    return [
        Todo(
            kind="settlement.transfer",
            title=_(
                "Verrechnung %(month)s: Zahlung an %(creditor)s",
                month=month_label(settlement.period),
                creditor=instruction.creditor.name,
            ),
            action=_("Zahlungsdatei und Details"),
            path=url_for("settlement.show", settlement_id=settlement.id),
            dated=(settlement.approved_at or settlement.created_at).date(),
            amount_cents=instruction.amount_cents,
        )
        for instruction, settlement in rows
        if not ways[settlement.id][user.member_id].by_debit
    ]
