"""Reads of payments: the debits of a settlement."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.payments.models import Debit
from marketplace.settlement.models import Settlement


def debits_seen_by(settlement: Settlement, user: User) -> list[Debit]:
    """The settlement's SEPA direct debits: all of them for operator finance, the own member's otherwise."""
    statement = (
        select(Debit).where(Debit.settlement_id == settlement.id).order_by(Debit.debtor_member_id, Debit.attempt)
    )
    if not user.is_operator_finance:
        statement = statement.where(Debit.debtor_member_id == user.member_id)
    return list(db.session.scalars(statement))
