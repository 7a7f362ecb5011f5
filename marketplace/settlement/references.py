"""Both ways between a member's statement and the documents behind its lines.

A statement line is one ledger transfer. Behind a charge or a reversal stands the invoice or credit note that
lists it (one of its lines), behind a VAT transfer the document whose VAT it posted, and once a settlement
covered that document, the member's payment advice (Zahlungsavis) in it. Behind a payment stands the
settlement it pays: a direct payment of one instruction, a SEPA direct debit the operator collected, or the
operator's payout to a creditor. The other way round, every document, advice and settlement knows the months
in which its transfers are booked, so its page can lead to those statements.

The collected debits are known to payments, which builds on this area: it offers them under
`DEBIT_TRANSFERS` in ``app.extensions`` (without it, no payment is taken for a collected debit).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from sqlalchemy import select, union

from marketplace.extensions import db
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.ledger.reports import berlin_date
from marketplace.members.models import Member, User
from marketplace.settlement.advices import AdviceLine
from marketplace.settlement.models import (
    Invoice,
    InvoiceLine,
    PaymentAdvice,
    PaymentInstruction,
    Settlement,
    SettlementDocument,
)

#: ``app.extensions`` key of payments' reader of the collected SEPA direct debits booked in the ledger:
#: ``(settlement_ids, transfer_ids) -> [(transfer id, settlement id, debtor member id), ...]`` of the debits
#: of those settlements or booked by those transfers.
DEBIT_TRANSFERS = "settlement.debit_transfers"

PAYMENT_KINDS = (TransferKind.PAYMENT, TransferKind.PAYOUT)

DebitTransfers = Callable[[Collection[int], Collection[int]], list[tuple[int, int, int]]]


class PaymentWay(enum.StrEnum):
    #: The debtor paid the creditor itself (with its own pain.001 file); the operator booked it.
    DIRECT = "direct"
    #: The operator collected the debtor's total by SEPA direct debit.
    DEBIT = "debit"
    #: The operator paid out to the creditor what it had collected for it.
    PAYOUT = "payout"


@dataclass(frozen=True)
class SettlementPayment:
    """A ledger transfer that pays a settlement (or a part of it), as a clerk finds it on a bank statement."""

    transfer_id: int
    settlement_id: int
    way: PaymentWay
    booked_on: date
    #: The ledger month the transfer is booked in (the statement that lists it).
    period: str
    payer_id: int
    payer_name: str
    payee_id: int
    payee_name: str
    cents: int
    #: The instructions it pays: the one of a direct payment; the debtor's (debit) or the creditor's (payout)
    #: instructions that were not paid directly.
    instruction_ids: tuple[int, ...]
    #: The transfer that reversed it, if the operator reversed it.
    reversed_by: int | None = None

    def concerns(self, member_id: int) -> bool:
        return member_id in (self.payer_id, self.payee_id)


def _debit_transfers(settlement_ids: Collection[int], transfer_ids: Collection[int]) -> list[tuple[int, int, int]]:
    reader: DebitTransfers | None = current_app.extensions.get(DEBIT_TRANSFERS)
    return reader(settlement_ids, transfer_ids) if reader is not None else []


def settlement_payments(settlements: Iterable[Settlement]) -> list[SettlementPayment]:
    """Every payment booked for these settlements, in booking order: direct payments, collected debits and
    payouts, each with the instructions it pays and its reversal, if any."""
    settlements = list(settlements)
    if not settlements:
        return []
    operator = db.session.scalar(select(Member).where(Member.is_operator.is_(True)))
    instructions = [i for s in settlements for i in s.instructions]
    direct_keys = {f"direct:{i.id}": i for i in instructions}
    payout_keys = {
        f"payout:{i.settlement_id}:{i.creditor_member_id}": (i.settlement_id, i.creditor_member_id)
        for i in instructions
    }
    transfers = {
        t.idempotency_key: t
        for t in db.session.scalars(select(Transfer).where(Transfer.idempotency_key.in_([*direct_keys, *payout_keys])))
    }
    paid_directly = {direct_keys[key].id for key in direct_keys if key in transfers}
    debits = _debit_transfers([s.id for s in settlements], [])
    debit_transfers = (
        {t.id: t for t in db.session.scalars(select(Transfer).where(Transfer.id.in_([d[0] for d in debits])))}
        if debits
        else {}
    )
    member_ids = {i.debtor_member_id for i in instructions} | {i.creditor_member_id for i in instructions}
    members = {m.id: m for m in db.session.scalars(select(Member).where(Member.id.in_(member_ids)))}
    if operator is not None:
        members[operator.id] = operator

    def collected(settlement_id: int, side: str, member_id: int) -> tuple[int, ...]:
        return tuple(
            i.id
            for i in instructions
            if i.settlement_id == settlement_id and getattr(i, side) == member_id and i.id not in paid_directly
        )

    found: list[tuple[Transfer, int, PaymentWay, int, int, tuple[int, ...]]] = []
    for key, instruction in direct_keys.items():
        if key in transfers:
            found.append(
                (
                    transfers[key],
                    instruction.settlement_id,
                    PaymentWay.DIRECT,
                    instruction.debtor_member_id,
                    instruction.creditor_member_id,
                    (instruction.id,),
                )
            )
    for key, (settlement_id, creditor_id) in payout_keys.items():
        if key in transfers and operator is not None:
            ids = collected(settlement_id, "creditor_member_id", creditor_id)
            found.append((transfers[key], settlement_id, PaymentWay.PAYOUT, operator.id, creditor_id, ids))
    for transfer_id, settlement_id, debtor_id in debits:
        transfer = debit_transfers.get(transfer_id)
        if transfer is not None and operator is not None:
            ids = collected(settlement_id, "debtor_member_id", debtor_id)
            found.append((transfer, settlement_id, PaymentWay.DEBIT, debtor_id, operator.id, ids))
    reversals = dict(
        db.session.execute(
            select(Transfer.reverses_id, Transfer.id).where(Transfer.reverses_id.in_([t.id for t, *_ in found]))
        ).all()
    )
    payments = [
        SettlementPayment(
            transfer_id=transfer.id,
            settlement_id=settlement_id,
            way=way,
            booked_on=berlin_date(transfer.created_at),
            period=transfer.period,
            payer_id=payer,
            payer_name=members[payer].name,
            payee_id=payee,
            payee_name=members[payee].name,
            cents=transfer.amount_cents,
            instruction_ids=ids,
            reversed_by=reversals.get(transfer.id),
        )
        for transfer, settlement_id, way, payer, payee, ids in found
    ]
    return sorted(payments, key=lambda p: p.transfer_id)


def _settlements_paid_by(transfers: list[Transfer]) -> set[int]:
    """The settlements these payment transfers pay, from the cause in their keys (debits: from payments)."""
    found: set[int] = set()
    instruction_ids = []
    debits = []
    for transfer in transfers:
        kind, _sep, rest = transfer.idempotency_key.partition(":")
        if kind == "direct" and rest.isdigit():
            instruction_ids.append(int(rest))
        elif kind == "payout":
            settlement_id = rest.partition(":")[0]
            if settlement_id.isdigit():
                found.add(int(settlement_id))
        elif kind == "payment":
            debits.append(transfer.id)
    if instruction_ids:
        found |= set(
            db.session.scalars(
                select(PaymentInstruction.settlement_id).where(PaymentInstruction.id.in_(instruction_ids))
            )
        )
    if debits:
        found |= {settlement_id for _t, settlement_id, _d in _debit_transfers([], debits)}
    return found


@dataclass(frozen=True)
class LineDocuments:
    """What stands behind one line of a member's statement."""

    #: The invoice or credit note that lists the transfer (a charge, a reversal) or whose VAT it is.
    invoice: Invoice | None = None
    #: The transfer's line on that document; None for the document's VAT.
    position: int | None = None
    #: The payment the transfer is (or, for a reversal, the payment it reverses).
    payment: SettlementPayment | None = None
    #: The settlement that covered the document, or that the payment pays.
    settlement: Settlement | None = None
    #: The member's payment advice in that settlement (for a payment the member is not a party to, such as
    #: the operator's collecting account, the advice of the member it was collected from or paid to).
    advice: PaymentAdvice | None = None
    #: The other party of the document or payment.
    counterparty: str = ""

    @property
    def number(self) -> str | None:
        """The document number the statement names: the invoice's or credit note's; for a payment, the advice's
        (the reference every payment of a settlement carries)."""
        if self.invoice is not None:
            return self.invoice.number
        if self.advice is not None:
            return self.advice.number
        return None


def line_documents(member_id: int, transfer_ids: Collection[int]) -> dict[int, LineDocuments]:
    """transfer id → what stands behind it on `member_id`'s statement. Transfers without a document (a charge
    of an open month, one reversed before its month closed, a transfer between the operator's own accounts)
    are left out."""
    if not transfer_ids:
        return {}
    transfers = {t.id: t for t in db.session.scalars(select(Transfer).where(Transfer.id.in_(list(transfer_ids))))}
    on_documents: dict[int, tuple[Invoice, int | None]] = {}
    for transfer_id, position, invoice in db.session.execute(
        select(InvoiceLine.transfer_id, InvoiceLine.position, Invoice)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(InvoiceLine.transfer_id.in_(list(transfers)))
    ):
        on_documents[transfer_id] = (invoice, position)
    for invoice in db.session.scalars(select(Invoice).where(Invoice.vat_transfer_id.in_(list(transfers)))):
        on_documents[invoice.vat_transfer_id] = (invoice, None)
    covered = (
        dict(
            db.session.execute(
                select(SettlementDocument.invoice_id, SettlementDocument.settlement_id).where(
                    SettlementDocument.invoice_id.in_({invoice.id for invoice, _p in on_documents.values()})
                )
            ).all()
        )
        if on_documents
        else {}
    )
    # a payment, or a reversal of one: the payment transfer behind the line
    originals = [t.reverses_id for t in transfers.values() if t.reverses_id and t.reverses_id not in transfers]
    known = {**transfers, **{t.id: t for t in db.session.scalars(select(Transfer).where(Transfer.id.in_(originals)))}}
    paying: dict[int, Transfer] = {}
    for transfer in transfers.values():
        cause = known.get(transfer.reverses_id) if transfer.reverses_id else transfer
        if transfer.id not in on_documents and cause is not None and cause.kind in PAYMENT_KINDS:
            paying[transfer.id] = cause
    settlement_ids = set(covered.values()) | _settlements_paid_by(list(paying.values()))
    settlements = (
        {s.id: s for s in db.session.scalars(select(Settlement).where(Settlement.id.in_(settlement_ids)))}
        if settlement_ids
        else {}
    )
    payments = {p.transfer_id: p for p in settlement_payments(settlements.values())}

    def advice_of(settlement: Settlement, *candidates: int) -> PaymentAdvice | None:
        for candidate in candidates:
            for advice in settlement.advices:
                if advice.member_id == candidate:
                    return advice
        return None

    found: dict[int, LineDocuments] = {}
    for transfer_id, (invoice, position) in on_documents.items():
        settlement = settlements.get(covered.get(invoice.id, 0))
        other = invoice.buyer if invoice.provider_id == member_id else invoice.provider
        found[transfer_id] = LineDocuments(
            invoice=invoice,
            position=position,
            settlement=settlement,
            advice=advice_of(settlement, member_id) if settlement is not None else None,
            counterparty=other.name,
        )
    for transfer_id, transfer in paying.items():
        payment = payments.get(transfer.id)
        if payment is None:
            continue
        settlement = settlements[payment.settlement_id]
        found[transfer_id] = LineDocuments(
            payment=payment,
            settlement=settlement,
            advice=advice_of(settlement, member_id, payment.payer_id, payment.payee_id),
            counterparty=payment.payer_name if payment.payee_id == member_id else payment.payee_name,
        )
    return found


# --- the other way: from documents to the months of the statement ---------------------------------------


def booked_months(invoice_ids: Collection[int]) -> dict[int, list[str]]:
    """invoice id → the months (ascending) in which the transfers it documents are booked: its lines'
    charges or reversals and its VAT."""
    if not invoice_ids:
        return {}
    ids = list(invoice_ids)
    rows = db.session.execute(
        union(
            select(InvoiceLine.invoice_id, Transfer.period)
            .join(Transfer, Transfer.id == InvoiceLine.transfer_id)
            .where(InvoiceLine.invoice_id.in_(ids)),
            select(Invoice.id, Transfer.period)
            .join(Transfer, Transfer.id == Invoice.vat_transfer_id)
            .where(Invoice.id.in_(ids)),
        )
    ).all()
    months: dict[int, set[str]] = defaultdict(set)
    for invoice_id, period in rows:
        months[invoice_id].add(period)
    return {invoice_id: sorted(periods) for invoice_id, periods in months.items()}


@dataclass(frozen=True)
class MemberTrail:
    """Where one member's part of a settlement is booked: the months of its documents' transfers, and its
    payments."""

    member_id: int
    document_months: list[str]
    payments: list[SettlementPayment] = field(default_factory=list)

    @property
    def payment_months(self) -> list[str]:
        return sorted({p.period for p in self.payments})

    @property
    def months(self) -> list[str]:
        """Every month of the member's statement that lists something of this settlement."""
        return sorted(set(self.document_months) | set(self.payment_months))

    def payments_of(self, instruction: PaymentInstruction) -> list[SettlementPayment]:
        """The member's payments that pay `instruction`."""
        return [p for p in self.payments if instruction.id in p.instruction_ids]


def settlement_trails(
    settlement: Settlement,
    lines: dict[int, list[AdviceLine]],
    payments: list[SettlementPayment] | None = None,
) -> dict[int, MemberTrail]:
    """member id → its trail in the settlement, for the members whose advice documents are in `lines`
    (``advices.lines_by_member``) or who take part in a payment."""
    if payments is None:
        payments = settlement_payments([settlement])
    months = booked_months({line.invoice.id for member_lines in lines.values() for line in member_lines})
    member_ids = set(lines) | {p.payer_id for p in payments} | {p.payee_id for p in payments}
    return {
        member_id: MemberTrail(
            member_id,
            sorted({m for line in lines.get(member_id, []) for m in months.get(line.invoice.id, [])}),
            [p for p in payments if p.concerns(member_id)],
        )
        for member_id in member_ids
    }


@dataclass(frozen=True)
class InvoiceSide:
    """One party's view of an invoice: its statement months, its advice and the payments that settled it."""

    member: Member
    advice: PaymentAdvice | None
    payments: list[SettlementPayment]


@dataclass(frozen=True)
class InvoiceTrail:
    """Where an invoice or credit note went after it was issued: the months its transfers are booked in,
    the settlement that covered it and, per party the user may follow, its advice and payments."""

    months: list[str]
    settlement: Settlement | None
    sides: list[InvoiceSide]


def invoice_trail(invoice: Invoice, user: User) -> InvoiceTrail:
    """The invoice's trail as `user` may follow it (who may see the invoice at all is `Invoice.can_view`):
    operator finance both parties' sides, everyone else its own member's side."""
    document = db.session.scalar(select(SettlementDocument).where(SettlementDocument.invoice_id == invoice.id))
    settlement = db.session.get(Settlement, document.settlement_id) if document is not None else None
    payments = settlement_payments([settlement]) if settlement is not None else []
    sides = []
    for member in (invoice.provider, invoice.buyer):
        if not (user.is_operator_finance or user.member_id == member.id):
            continue
        advice = (
            next((a for a in settlement.advices if a.member_id == member.id), None) if settlement is not None else None
        )
        sides.append(InvoiceSide(member, advice, [p for p in payments if p.concerns(member.id)]))
    return InvoiceTrail(booked_months([invoice.id]).get(invoice.id, []), settlement, sides)
