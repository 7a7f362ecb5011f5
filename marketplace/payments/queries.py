"""Reads of payments: the debits of a settlement, and the ledger transfers that booked the collected ones."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import or_, select

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


def debit_transfers(settlement_ids: Collection[int], transfer_ids: Collection[int]) -> list[tuple[int, int, int]]:
    """(transfer id, settlement id, debtor member id) of every collected debit of these settlements or booked
    by these transfers: what `settlement.references` reads under `DEBIT_TRANSFERS` to name a debit's
    payment on statements, invoices and advices."""
    if not settlement_ids and not transfer_ids:
        return []
    rows = db.session.execute(
        select(Debit.transfer_id, Debit.settlement_id, Debit.debtor_member_id)
        .where(
            Debit.transfer_id.is_not(None),
            or_(Debit.settlement_id.in_(list(settlement_ids)), Debit.transfer_id.in_(list(transfer_ids))),
        )
        .order_by(Debit.transfer_id)
    )
    return [(transfer_id, settlement_id, debtor_id) for transfer_id, settlement_id, debtor_id in rows]
