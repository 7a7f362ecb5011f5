"""Multilateral netting: turn members' net positions into as few payments as the greedy rule allows.

Positions are integer cents, positive for members who receive, negative for members who pay, summing to
zero. The largest remaining debtor pays the largest remaining creditor the smaller of the two amounts;
each payment settles at least one of them and the last settles both, so there are at most
(members with a non-zero position − 1) payments. Debtors only pay and creditors only receive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Payment:
    debtor_id: int
    creditor_id: int
    amount_cents: int


class UnbalancedPositions(ValueError):
    """The positions do not sum to zero (nothing can clear them)."""


def net_positions(positions: Mapping[int, int]) -> list[Payment]:
    """Payments that clear `positions` exactly; deterministic (ties broken by member id)."""
    if sum(positions.values()) != 0:
        raise UnbalancedPositions(f"positions sum to {sum(positions.values())} cents, not 0")
    debtors = sorted(((-amount, member) for member, amount in positions.items() if amount < 0), key=_largest_first)
    creditors = sorted(((amount, member) for member, amount in positions.items() if amount > 0), key=_largest_first)
    payments: list[Payment] = []
    i = j = 0
    owed, debtor = debtors[0] if debtors else (0, 0)
    due, creditor = creditors[0] if creditors else (0, 0)
    while i < len(debtors) and j < len(creditors):
        amount = min(owed, due)
        payments.append(Payment(debtor, creditor, amount))
        owed -= amount
        due -= amount
        if owed == 0:
            i += 1
            if i < len(debtors):
                owed, debtor = debtors[i]
        if due == 0:
            j += 1
            if j < len(creditors):
                due, creditor = creditors[j]
    return payments


def _largest_first(entry: tuple[int, int]) -> tuple[int, int]:
    amount, member = entry
    return (-amount, member)
