"""Admission of a member: the public body (members) and its ledger accounts (ledger), in one step.

Above both areas, so that members need not know the ledger: pages, the demo data and the tests admit
members here, and the member's accounts exist from its first moment.
"""

from __future__ import annotations

from marketplace.ledger.operations import open_member_accounts
from marketplace.members.models import Member, MemberKind, User
from marketplace.members.operations import create_member


def admit_member(
    actor: User | None,
    *,
    name: str,
    kind: MemberKind,
    is_operator: bool = False,
    ags: str | None = None,
    leitweg_id: str | None = None,
    iban: str | None = None,
    vat_id: str | None = None,
    **details: str | None,
) -> Member:
    """Admit a public body: create the member and open its clearing account (the operator also gets bank
    and in-transit accounts).

    Raises InvalidInput for malformed identifiers and Conflict if the name is taken.
    """
    member = create_member(
        actor,
        name=name,
        kind=kind,
        is_operator=is_operator,
        ags=ags,
        leitweg_id=leitweg_id,
        iban=iban,
        vat_id=vat_id,
        **details,
    )
    open_member_accounts(member)
    return member
