"""SEPA credit transfer files (pain.001.001.09, via sepaxml) for a settlement's payments.

For the operator: the payout file, one transfer per receiving member (its total of the instructions the
operator collects), executed after the debits were collected. For a paying member (the direct way): its
own transfers per instruction, offered only while every one of them is still open: once they are being
collected by direct debit, or paid (directly or otherwise), a file would pay a second time.

A file can be submitted to a bank only once: its message id (MsgId) and payment information id (PmtInfId)
derive from the settlement, the payer and the instructions in it, and its creation time is the
settlement's approval, so every download of the same instructions carries the same ids and the bank's
duplicate check refuses a second upload. The remittance information names the payment advice first, then
as many numbers of the documents on it as fit (`remittance`), so the receiving cash office finds the
invoices it booked. Every IBAN is checked with schwifty before a file is written.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
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
from marketplace.members.models import Member
from marketplace.settlement.advices import AdviceLine, advice_number, lines_by_member, lines_for
from marketplace.settlement.models import InstructionStatus, PaymentInstruction, Settlement, SettlementStatus
from marketplace.settlement.paying import HowPaid, instruction_ways

SCHEMA = "pain.001.001.09"
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{SCHEMA}"
BERLIN = ZoneInfo("Europe/Berlin")
#: MsgId, PmtInfId and EndToEndId are Max35Text in the SEPA character set.
MAX_ID = 35
#: Unstructured remittance information (Ustrd) holds at most 140 characters.
MAX_REMITTANCE = 140
#: Ends a remittance text that could not name every document of the advice.
MORE = "u. a."
#: What the SEPA character set (EPC basic Latin) does not hold.
_NOT_SEPA = re.compile(r"[^A-Za-z0-9/?:().,'+ -]")
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})


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


def sepa_text(text: str) -> str:
    """`text` in the SEPA character set: umlauts spelt out, other accents dropped, anything else a hyphen."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_GERMAN))
    return _NOT_SEPA.sub("-", "".join(c for c in decomposed if not unicodedata.combining(c)))


def remittance(advice: str, documents: Iterable[str]) -> str:
    """The unstructured remittance information of a payment against an advice, at most 140 characters in
    the SEPA character set: the advice number, then as many of the documents' numbers as fit, in their
    order, and "u. a." when the rest had to be left out (``ZA-2026-10-4 LB-2-000017 LB-3-000009 u. a.``)."""
    text = sepa_text(advice)[:MAX_REMITTANCE]
    numbers = [sepa_text(number) for number in documents]
    for index, number in enumerate(numbers):
        room = MAX_REMITTANCE - (len(MORE) + 1 if index < len(numbers) - 1 else 0)
        if len(text) + 1 + len(number) > room:
            return f"{text} {MORE}"[:MAX_REMITTANCE]
        text = f"{text} {number}"
    return text


def advice_remittance(settlement: Settlement, member_id: int, lines: list[AdviceLine], first: int | None = None) -> str:
    """The remittance text naming `member_id`'s advice and its documents (`lines`, as the advice prints them);
    with `first`, the documents with that counterparty come first (what the receiver itself booked)."""
    if first is not None:
        lines = sorted(lines, key=lambda line: line.counterparty.id != first)
    return remittance(advice_number(settlement.period, member_id), [line.invoice.number for line in lines])


def member_instructions(settlement: Settlement, payer_id: int) -> list[PaymentInstruction]:
    return [i for i in settlement.instructions if i.debtor_member_id == payer_id]


def refusal(
    settlement: Settlement, payer: Member, ways: dict[int, HowPaid] | None = None
) -> Conflict | NotFound | None:
    """Why `payer` gets no credit transfer file for `settlement` (None: it gets one).

    NotFound when it pays nothing in it; Conflict while the settlement is a draft, for the operator when it
    collects nothing by debit, and for a member once any of its instructions is being collected by direct
    debit or is paid (directly or by a debit). `ways`: `instruction_ways(settlement)` when already read."""
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
        if not _payout_totals(settlement, ways):
            return Conflict(
                "Aus der Verrechnung %(period)s zahlt der Betreiber nichts aus: jede zahlende Stelle zahlt direkt "
                "an ihre Empfänger, keine per Lastschrift.",
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


def _payout_totals(settlement: Settlement, ways: dict[int, HowPaid] | None = None) -> dict[int, int]:
    """Per creditor, the total of the instructions the operator collects by debit: those a debtor pays itself
    (by transfer, or booked as paid directly) never pass through the operator."""
    ways = ways if ways is not None else instruction_ways(settlement)
    totals: dict[int, int] = defaultdict(int)
    for instruction in settlement.instructions:
        if ways[instruction.id].by_debit:
            totals[instruction.creditor_member_id] += instruction.amount_cents
    return totals


def _operator_payments(settlement: Settlement) -> list[Payment]:
    """The payouts (`_payout_totals`), each naming the creditor's advice and its documents."""
    totals = _payout_totals(settlement)
    lines = lines_by_member(settlement.id) if totals else {}
    return [
        Payment(
            creditor_id,
            amount,
            f"LB-{settlement.id}-AUS-{creditor_id}",
            advice_remittance(settlement, creditor_id, lines.get(creditor_id, [])),
        )
        for creditor_id, amount in sorted(totals.items())
    ]


def _member_payments(settlement: Settlement, payer_id: int) -> list[Payment]:
    """The payer's transfers, one per instruction, each naming the payer's advice and its documents, those
    with the instruction's creditor first."""
    lines = lines_for(settlement.id, payer_id)
    return [
        Payment(
            i.creditor_member_id,
            i.amount_cents,
            f"LB-{settlement.id}-{i.id}",
            advice_remittance(settlement, payer_id, lines, first=i.creditor_member_id),
        )
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
