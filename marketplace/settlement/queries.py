"""Reads for invoices and settlements, restricted to what the user may see."""

from __future__ import annotations

from sqlalchemy import Select, or_, select

from marketplace.core.errors import NotFound
from marketplace.extensions import db
from marketplace.members.models import Role, User
from marketplace.settlement.models import Invoice, Settlement


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
