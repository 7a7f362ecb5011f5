"""SEPA credit transfer files (pain.001.001.09, via sepaxml) for a settlement's payments.

For the operator: the payout file, one transfer per receiving member (its total), executed after the
debits were collected. For a paying member (the direct way): its own transfers per instruction.
Every IBAN is checked with schwifty before a file is written.
"""

from __future__ import annotations

from collections import defaultdict

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sepaxml import SepaTransfer
from sqlalchemy import select

from marketplace.core.errors import Conflict, NotFound
from marketplace.core.timeutil import today
from marketplace.extensions import db
from marketplace.members.models import Member
from marketplace.settlement.models import Settlement

SCHEMA = "pain.001.001.09"


def checked_iban(member: Member) -> IBAN:
    """The member's IBAN, validated (Conflict naming the member when missing or invalid)."""
    try:
        if not member.iban:
            raise SchwiftyException("missing")
        return IBAN(member.iban)
    except SchwiftyException as exc:
        raise Conflict("Für %(member)s ist keine gültige IBAN hinterlegt.", member=member.name) from exc


def _account(member: Member) -> dict[str, str]:
    iban = checked_iban(member)
    account = {"name": member.name[:70], "IBAN": iban.compact}
    bic = member.bic or (str(iban.bic) if iban.bic is not None else None)
    if bic:
        account["BIC"] = bic
    return account


def credit_transfer_file(settlement: Settlement, payer_id: int) -> tuple[bytes, str]:
    """(XML, file name) of the transfers `payer_id` makes for `settlement`.

    Raises NotFound when the member pays nothing in it, Conflict for a missing or invalid IBAN.
    """
    payer = db.session.get(Member, payer_id)
    if payer is None:
        raise NotFound("Dieses Mitglied gibt es nicht.")
    if payer.is_operator:
        totals: dict[int, int] = defaultdict(int)
        for instruction in settlement.instructions:
            totals[instruction.creditor_member_id] += instruction.amount_cents
        transfers = [
            (creditor_id, amount, f"LB-{settlement.id}-AUS-{creditor_id}") for creditor_id, amount in totals.items()
        ]
    else:
        transfers = [
            (i.creditor_member_id, i.amount_cents, f"LB-{settlement.id}-{i.id}")
            for i in settlement.instructions
            if i.debtor_member_id == payer_id
        ]
    if not transfers:
        raise NotFound("%(payer)s überweist in dieser Verrechnung nichts.", payer=payer.name)
    members = {m.id: m for m in db.session.scalars(select(Member).where(Member.id.in_([t[0] for t in transfers])))}
    sepa = SepaTransfer({**_account(payer), "batch": True, "currency": "EUR"}, schema=SCHEMA)
    execution = today()
    for creditor_id, amount, end_to_end in sorted(transfers):
        sepa.add_payment(
            {
                **_account(members[creditor_id]),
                "amount": amount,
                "execution_date": execution,
                "description": f"Leistungsboerse Verrechnung {settlement.period}",
                "endtoend_id": end_to_end,
            }
        )
    xml = sepa.export(validate=False)
    return xml, f"pain001-verrechnung-{settlement.period}-{payer_id}.xml"
