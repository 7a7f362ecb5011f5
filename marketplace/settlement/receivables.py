"""A provider's receivables: what each buyer was charged per month, the VAT its invoices added, and how far
the documents have come (billed, invoiced, released, settled, paid) — the answer to "what are we owed?".

Net amounts are the ledger's charges and their reversals for bookings of the provider's services; VAT is
what the month's invoices and credit notes posted (VAT is posted when a month closes, so a month only
billed shows none yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from marketplace.bookings.models import Booking
from marketplace.catalogue.models import Service
from marketplace.core.timeutil import period_of
from marketplace.extensions import db
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.members.models import Member
from marketplace.settlement.charges import DocumentRef, DocumentState, document_state, settlement_states
from marketplace.settlement.models import DocumentType, Invoice

_ORDER = [
    DocumentState.OBJECTED,
    DocumentState.BILLED,
    DocumentState.INVOICED,
    DocumentState.RELEASED,
    DocumentState.SETTLED,
    DocumentState.PAID,
]


@dataclass
class Receivable:
    buyer_id: int
    buyer_name: str
    period: str  # the charged month
    net_cents: int = 0
    credit_cents: int = 0
    vat_cents: int = 0
    documents: list[DocumentRef] = field(default_factory=list)

    @property
    def gross_cents(self) -> int:
        return self.net_cents - self.credit_cents + self.vat_cents

    @property
    def state(self) -> str:
        invoices = [d for d in self.documents if d.type_code == DocumentType.INVOICE.value]
        if not invoices:
            return DocumentState.BILLED
        return min((d.state for d in invoices), key=_ORDER.index)

    @property
    def open(self) -> bool:
        return self.state != DocumentState.PAID


def receivables_of(provider_id: int) -> list[Receivable]:
    """The provider's receivables by buyer and charged month, newest month first."""
    original = aliased(Transfer)
    month = func.coalesce(original.period, Transfer.period)
    rows = db.session.execute(
        select(Booking.buyer_id, Member.name, Transfer.kind, month, func.sum(Transfer.amount_cents))
        .join(Booking, Booking.id == Transfer.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .join(Member, Member.id == Booking.buyer_id)
        .outerjoin(original, original.id == Transfer.reverses_id)
        .where(Service.provider_id == provider_id, Transfer.kind.in_((TransferKind.CHARGE, TransferKind.REVERSAL)))
        .group_by(Booking.buyer_id, Member.name, Transfer.kind, month)
    ).all()
    table: dict[tuple[int, str], Receivable] = {}
    for buyer_id, name, kind, period, total in rows:
        item = table.setdefault((buyer_id, period), Receivable(buyer_id, name, period))
        if kind is TransferKind.CHARGE:
            item.net_cents += int(total)
        else:
            item.credit_cents += int(total)
    invoices = list(db.session.scalars(select(Invoice).where(Invoice.provider_id == provider_id)))
    settlements = settlement_states() if invoices else []
    for invoice in invoices:
        key = (invoice.buyer_id, period_of(invoice.service_start))
        item = table.get(key)
        if item is None:  # e.g. a cost-sharing document: no booking charge behind it
            item = table.setdefault(key, Receivable(invoice.buyer_id, invoice.buyer.name, key[1]))
            if invoice.is_credit_note:
                item.credit_cents += invoice.net_cents
            else:
                item.net_cents += invoice.net_cents
        item.vat_cents += -invoice.vat_cents if invoice.is_credit_note else invoice.vat_cents
        item.documents.append(
            DocumentRef(
                invoice.id,
                invoice.number,
                invoice.type_code.value,
                invoice.period,
                document_state(invoice, settlements),
            )
        )
    return sorted(table.values(), key=lambda r: (r.period, r.buyer_name), reverse=True)


def open_receivables_cents(provider_id: int) -> int:
    """What the provider is owed and has not been paid: the gross of its receivables not yet paid."""
    return sum(r.gross_cents for r in receivables_of(provider_id) if r.open)
