"""How each payment instruction of a settlement is paid: pulled by the operator's SEPA debit, or paid by the
debtor itself.

A debtor's invoices say how it pays (`payment_means`, fixed on each document at issue from the payer's
invoice profile). The operator debits a debtor only where both say debit:

- its invoice profile, now: payment way debit (59) with a mandate (reference and debited account), so the
  operator holds a mandate at the moment it debits; and
- every document the debtor pays in this settlement (an invoice it received, a credit note it issued): each
  names the debit (59), so its cash office was told it would be debited and was not asked to transfer.

Every other debtor pays itself: by transfer (58), or the balance its advice names (clearing, 97), with its
own pain.001 file if it likes; operator finance books the payment as a direct payment once it arrived. An
instruction already paid directly counts as paid by transfer; one being collected, or paid by a debit, as
paid by debit (that was decided when its debit was sent).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import case, select

from marketplace.core.locking import locked
from marketplace.extensions import db
from marketplace.ledger.models import Transfer
from marketplace.members.models import InvoiceProfile, PaymentWay
from marketplace.settlement.models import DocumentType, InstructionStatus, Invoice, Settlement, SettlementDocument
from marketplace.settlement.operations import direct_key


class PaidBy(enum.StrEnum):
    """How an instruction's money reaches its creditor."""

    #: the operator debits the debtor under its mandate (Stripe) and pays the creditor out
    DEBIT = "debit"
    #: the debtor transfers the amount itself; operator finance books it as a direct payment
    TRANSFER = "transfer"


class SelfPayReason(enum.StrEnum):
    """Why a debtor pays itself instead of being debited."""

    #: its payment way is clearing (97): it pays the balance its payment advice names
    CLEARING = "clearing"
    #: its payment way is transfer (58)
    TRANSFER = "transfer"
    #: its payment way is debit, but the mandate reference or the debited account is missing
    NO_MANDATE = "no_mandate"
    #: a document it pays in this settlement names another payment means than the debit (issued before
    #: the member chose the debit)
    DOCUMENTS = "documents"
    #: operator finance booked the instruction as paid directly
    PAID_DIRECTLY = "paid_directly"


@dataclass(frozen=True)
class HowPaid:
    paid_by: PaidBy
    #: why the debtor pays itself (None for a debit)
    reason: SelfPayReason | None = None

    @property
    def by_debit(self) -> bool:
        return self.paid_by is PaidBy.DEBIT


BY_DEBIT = HowPaid(PaidBy.DEBIT)
_WAY_REASONS = {PaymentWay.CLEARING: SelfPayReason.CLEARING, PaymentWay.TRANSFER: SelfPayReason.TRANSFER}


def paid_directly(settlement: Settlement) -> set[int]:
    """Ids of the settlement's instructions the debtor paid straight to the creditor (booked as such)."""
    keys = {direct_key(i): i.id for i in settlement.instructions}
    if not keys:
        return set()
    booked = db.session.scalars(select(Transfer.idempotency_key).where(Transfer.idempotency_key.in_(keys)))
    return {keys[key] for key in booked}


def debtor_ways(settlement: Settlement, *, lock: bool = False) -> dict[int, HowPaid]:
    """For each debtor of the settlement, whether the operator debits it (`BY_DEBIT`) or why it pays itself.

    `lock`: read the debtors' invoice profiles under a shared lock (for the collection, which decides on
    them: a change of payment way waits until the collection has committed its debits)."""
    debtors = sorted({i.debtor_member_id for i in settlement.instructions})
    if not debtors:
        return {}
    statement = select(InvoiceProfile).where(InvoiceProfile.member_id.in_(debtors)).order_by(InvoiceProfile.member_id)
    profiles = {p.member_id: p for p in db.session.scalars(locked(statement, read=True) if lock else statement)}
    payer = case((Invoice.type_code == DocumentType.CREDIT_NOTE, Invoice.provider_id), else_=Invoice.buyer_id)
    told_otherwise = set(
        db.session.scalars(
            select(payer)
            .join(SettlementDocument, SettlementDocument.invoice_id == Invoice.id)
            .where(
                SettlementDocument.settlement_id == settlement.id,
                payer.in_(debtors),
                Invoice.payment_means_code != PaymentWay.DEBIT.code,
            )
            .distinct()
        )
    )
    ways = {}
    for debtor in debtors:
        profile = profiles.get(debtor)  # none: the default, clearing
        way = profile.payment_way if profile is not None else PaymentWay.CLEARING
        if way is not PaymentWay.DEBIT:
            ways[debtor] = HowPaid(PaidBy.TRANSFER, _WAY_REASONS[way])
        elif not (profile.mandate_reference and profile.mandate_iban):
            ways[debtor] = HowPaid(PaidBy.TRANSFER, SelfPayReason.NO_MANDATE)
        elif debtor in told_otherwise:
            ways[debtor] = HowPaid(PaidBy.TRANSFER, SelfPayReason.DOCUMENTS)
        else:
            ways[debtor] = BY_DEBIT
    return ways


def instruction_ways(settlement: Settlement) -> dict[int, HowPaid]:
    """Instruction id → how it is (or was) paid: as it happened for instructions paid or being collected,
    as the debtor's way says (`debtor_ways`) for open ones."""
    debtors = debtor_ways(settlement)
    direct = paid_directly(settlement)
    ways = {}
    for instruction in settlement.instructions:
        planned = debtors[instruction.debtor_member_id]
        if instruction.id in direct:
            ways[instruction.id] = HowPaid(PaidBy.TRANSFER, planned.reason or SelfPayReason.PAID_DIRECTLY)
        elif instruction.status is InstructionStatus.OPEN:
            ways[instruction.id] = planned
        else:  # being collected, or paid by its debit
            ways[instruction.id] = BY_DEBIT
    return ways
