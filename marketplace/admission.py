"""Admission of a member: the public body (members) and its ledger accounts (ledger), in one step.

Above both areas, so that members need not know the ledger: pages, the demo data and the tests admit
members here, and the member's accounts exist from its first moment.
"""

from __future__ import annotations

from typing import Any

from marketplace.ledger.operations import open_member_accounts
from marketplace.members.models import Member, User
from marketplace.members.operations import create_member


def admit_member(actor: User | None, **fields: Any) -> Member:
    """Admit a public body: `members.operations.create_member` with the same fields (name, kind, identifiers,
    address, …), then its clearing account (the operator also gets bank and in-transit accounts).

    Raises InvalidInput for malformed identifiers and Conflict if the name is taken.
    """
    member = create_member(actor, **fields)
    open_member_accounts(member)
    return member
