"""SEPA credit transfer files (pain.001.001.09, via sepaxml) for a settlement's payments.

For the operator: the payout file, one transfer per receiving member (its total of the instructions the
operator collects), executed after the debits were collected. For a paying member (the direct way): its
own transfers per instruction, offered only while every one of them is still open: once they are being
collected by direct debit, or paid (directly or otherwise), a file would pay a second time.

A file can be submitted to a bank only once: its message id (MsgId) and payment information id (PmtInfId)
derive from the settlement, the payer and the instructions in it, and its creation time is the
settlement's approval, so every download of the same instructions carries the same ids and the bank's
duplicate check refuses a second upload. The remittance information names the payment advice.
Every IBAN is checked with schwifty before a file is written.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC
from zoneinfo import ZoneInfo

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sepaxml import SepaTransfer
from sqlalchemy import select

from marketplace.core.errors import Conflict, NotFound
from marketplace.core.timeutil import today
from marketplace.extensions import db
from marketplace.ledger.models import Transfer
from marketplace.members.models import Member
from marketplace.settlement.advices import advice_number
from marketplace.settlement.models import InstructionStatus, PaymentInstruction, Settlement, SettlementStatus

SCHEMA = "pain.001.001.09"
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{SCHEMA}"
BERLIN = ZoneInfo("Europe/Berlin")
#: MsgId, PmtInfId and EndToEndId are Max35Text in the SEPA character set.
MAX_ID = 35
#: Unstructured remittance information (Ustrd) holds at most 140 characters.
MAX_REMITTANCE = 140


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


@dataclass(frozen=True)
class Payment:
    """One credit transfer of a file."""

    creditor_id: int
    amount_cents: int
    end_to_end_id: str
    remittance: str


def _paid_directly(settlement: Settlement) -> set[int]:
    """Ids of the settlement's instructions the debtor paid straight to the creditor (booked as such)."""
    keys = {f"direct:{i.id}": i.id for i in settlement.instructions}
    if not keys:
        return set()
    booked = db.session.scalars(select(Transfer.idempotency_key).where(Transfer.idempotency_key.in_(keys)))
    return {keys[key] for key in booked}


def _remittance(advice: str, period: str) -> str:
    return f"Zahlungsavis {advice} Verrechnung Leistungsboerse {period}"[:MAX_REMITTANCE]


def member_instructions(settlement: Settlement, payer_id: int) -> list[PaymentInstruction]:
    return [i for i in settlement.instructions if i.debtor_member_id == payer_id]


def refusal(settlement: Settlement, payer: Member) -> Conflict | NotFound | None:
    """Why `payer` gets no credit transfer file for `settlement` (None: it gets one).

    NotFound when it pays nothing in it; Conflict while the settlement is a draft, and for a member once
    any of its instructions is being collected by direct debit or is paid (directly or by a debit)."""
    if payer.is_operator:
        if not settlement.instructions:
            return NotFound("%(payer)s überweist in dieser Verrechnung nichts.", payer=payer.name)
    elif not member_instructions(settlement, payer.id):
        return NotFound("%(payer)s überweist in dieser Verrechnung nichts.", payer=payer.name)
    if settlement.status is SettlementStatus.DRAFT:
        return Conflict(
            "Die Verrechnung %(period)s ist noch nicht freigegeben; Überweisungsdateien gibt es erst danach.",
            period=settlement.period,
        )
    if payer.is_operator:
        if not _operator_payments(settlement):
            return Conflict(
                "Alle Zahlungen der Verrechnung %(period)s wurden direkt geleistet; der Betreiber zahlt nichts aus.",
                period=settlement.period,
            )
        return None
    statuses = {i.status for i in member_instructions(settlement, payer.id)}
    if InstructionStatus.COLLECTING in statuses:
        return Conflict(
            "Die Zahlungen von %(payer)s aus der Verrechnung %(period)s werden per Lastschrift eingezogen; "
            "eine Überweisung würde doppelt zahlen.",
            payer=payer.name,
            period=settlement.period,
        )
    if InstructionStatus.PAID in statuses:
        return Conflict(
            "Die Zahlungen von %(payer)s aus der Verrechnung %(period)s sind bereits bezahlt oder anders "
            "ausgeglichen; eine Überweisung würde doppelt zahlen.",
            payer=payer.name,
            period=settlement.period,
        )
    return None


def _operator_payments(settlement: Settlement) -> list[Payment]:
    """The payouts: per creditor, the total of the instructions the operator collects (those a debtor paid
    directly are not paid out again)."""
    direct = _paid_directly(settlement)
    totals: dict[int, int] = defaultdict(int)
    for instruction in settlement.instructions:
        if instruction.id not in direct:
            totals[instruction.creditor_member_id] += instruction.amount_cents
    return [
        Payment(
            creditor_id,
            amount,
            f"LB-{settlement.id}-AUS-{creditor_id}",
            _remittance(advice_number(settlement.period, creditor_id), settlement.period),
        )
        for creditor_id, amount in sorted(totals.items())
    ]


def _member_payments(settlement: Settlement, payer_id: int) -> list[Payment]:
    remittance = _remittance(advice_number(settlement.period, payer_id), settlement.period)
    return [
        Payment(i.creditor_member_id, i.amount_cents, f"LB-{settlement.id}-{i.id}", remittance)
        for i in sorted(member_instructions(settlement, payer_id), key=lambda i: i.id)
    ]


def file_ids(settlement: Settlement, payer_id: int, payments: list[Payment]) -> tuple[str, str]:
    """(MsgId, PmtInfId): the same for the same settlement, payer and payments, different otherwise."""
    content = "|".join(f"{p.end_to_end_id}:{p.creditor_id}:{p.amount_cents}" for p in payments)
    digest = hashlib.sha256(f"{settlement.id}|{payer_id}|{content}".encode()).hexdigest()
    base = f"{settlement.id}-{payer_id}-{digest[:8]}"
    return f"LB-M-{base}"[:MAX_ID], f"LB-P-{base}"[:MAX_ID]


def creation_time(settlement: Settlement) -> str:
    """The settlement's approval (the moment its instructions became payable) in Berlin time, 24-hour clock
    with the UTC offset: ``2026-11-16T14:03:07+01:00``."""
    moment = settlement.approved_at or settlement.created_at
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BERLIN).replace(microsecond=0).isoformat()


class _StableTransfer(SepaTransfer):
    """sepaxml's transfer with ids and creation time given instead of random ones and the current time."""

    def __init__(self, config: dict, *, msg_id: str, payment_info_id: str, created: str) -> None:
        self._stable = (msg_id, payment_info_id, created)
        super().__init__(config, schema=SCHEMA)

    def _finalize_batch(self) -> None:
        super()._finalize_batch()
        msg_id, payment_info_id, created = self._stable
        root = self._xml.find(self.root_el)
        header = root.find("GrpHdr")
        header.find("MsgId").text = msg_id
        header.find("CreDtTm").text = created
        batches = root.findall("PmtInf")
        for number, batch in enumerate(batches, start=1):
            batch.find("PmtInfId").text = payment_info_id if len(batches) == 1 else f"{payment_info_id}-{number}"


def credit_transfer_file(settlement: Settlement, payer_id: int) -> tuple[bytes, str]:
    """(XML, file name) of the transfers `payer_id` makes for `settlement`.

    Raises NotFound when the member pays nothing in it, Conflict when the file is not offered (see
    `refusal`) or for a missing or invalid IBAN.
    """
    payer = db.session.get(Member, payer_id)
    if payer is None:
        raise NotFound("Dieses Mitglied gibt es nicht.")
    problem = refusal(settlement, payer)
    if problem is not None:
        raise problem
    payments = _operator_payments(settlement) if payer.is_operator else _member_payments(settlement, payer_id)
    creditor_ids = [p.creditor_id for p in payments]
    members = {m.id: m for m in db.session.scalars(select(Member).where(Member.id.in_(creditor_ids)))}
    msg_id, payment_info_id = file_ids(settlement, payer_id, payments)
    sepa = _StableTransfer(
        {**_account(payer), "batch": True, "currency": "EUR"},
        msg_id=msg_id,
        payment_info_id=payment_info_id,
        created=creation_time(settlement),
    )
    execution = today()
    for payment in payments:
        sepa.add_payment(
            {
                **_account(members[payment.creditor_id]),
                "amount": payment.amount_cents,
                "execution_date": execution,
                "description": payment.remittance,
                "endtoend_id": payment.end_to_end_id,
            }
        )
    xml = sepa.export(validate=False)
    return xml, f"pain001-verrechnung-{settlement.period}-{payer_id}.xml"
