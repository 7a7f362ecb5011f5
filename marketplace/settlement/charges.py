"""Money of one booking, month by month, as the ledger holds it: the net charges, the credits (reversals of
them), the VAT at the booking's rate, the invoices and credit notes that document them, and how far those
documents have come (billed, invoiced, released, settled, paid).

Read by the booking page (both parties, through the hook in `bookings.views`), `GET
/api/v1/bookings/{id}/charges` and the provider's receivables. The VAT shown per booking is the booking's
share, ``round_half_up(net × rate / 100)``; the ledger posts VAT once per invoice on its total (EN 16931
BR-CO-17), which may differ from the sum of the shares by a cent per line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import aliased

from marketplace.bookings.models import Booking
from marketplace.core.money import vat_cents
from marketplace.extensions import db
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.settlement.models import (
    Invoice,
    InvoiceLine,
    ReleaseStatus,
    Settlement,
    SettlementStatus,
)


class DocumentState:
    """How far a month's money has come, in the order it gets there."""

    BILLED = "billed"  # charged in the ledger, no invoice yet (the month is not closed)
    INVOICED = "invoiced"  # invoice issued, waiting for the buyer's release
    OBJECTED = "objected"  # the buyer objected to the invoice
    RELEASED = "released"  # released by the buyer's finance staff
    SETTLED = "settled"  # covered by a settlement, not yet paid
    PAID = "paid"  # the settlement is paid


@dataclass(frozen=True)
class DocumentRef:
    id: int
    number: str
    type_code: str
    period: str
    state: str


@dataclass
class MonthCharges:
    """One month of a booking: what was charged, what was credited back, and the documents."""

    period: str
    net_cents: int = 0
    credit_cents: int = 0
    vat_cents: int = 0
    transfer_ids: list[int] = field(default_factory=list)
    documents: list[DocumentRef] = field(default_factory=list)

    @property
    def balance_cents(self) -> int:
        """Net after credits."""
        return self.net_cents - self.credit_cents

    @property
    def gross_cents(self) -> int:
        return self.balance_cents + self.vat_cents

    @property
    def invoice_ids(self) -> list[int]:
        return [d.id for d in self.documents]

    @property
    def state(self) -> str:
        """The least advanced state of the month's invoices (credit notes need no release); billed without."""
        invoices = [d for d in self.documents if d.type_code == "380"] or self.documents
        if not invoices:
            return DocumentState.BILLED
        order = [
            DocumentState.OBJECTED,
            DocumentState.INVOICED,
            DocumentState.RELEASED,
            DocumentState.SETTLED,
            DocumentState.PAID,
        ]
        return min((d.state for d in invoices), key=order.index)


def settlement_states() -> list[tuple[str, SettlementStatus]]:
    """(period, status) of every settlement, oldest first: a settlement covers the documents of its month and
    the earlier ones no earlier settlement covered."""
    return [
        (p, s) for p, s in db.session.execute(select(Settlement.period, Settlement.status).order_by(Settlement.period))
    ]


def document_state(invoice: Invoice, settlements: list[tuple[str, SettlementStatus]]) -> str:
    if invoice.release_status is ReleaseStatus.OBJECTED:
        return DocumentState.OBJECTED
    if invoice.release_status is ReleaseStatus.PENDING:
        return DocumentState.INVOICED
    for period, status in settlements:
        if period >= invoice.period:
            return DocumentState.PAID if status is SettlementStatus.PAID else DocumentState.SETTLED
    return DocumentState.RELEASED


def booking_charges(booking: Booking) -> list[MonthCharges]:
    """The booking's months with money, oldest first. A reversal counts in the month of the charge it
    reverses (a correction's new charge in the month it was posted)."""
    original = aliased(Transfer)
    rows = db.session.execute(
        select(Transfer.id, Transfer.kind, Transfer.period, Transfer.amount_cents, original.period)
        .outerjoin(original, original.id == Transfer.reverses_id)
        .where(
            Transfer.booking_id == booking.id,
            Transfer.kind.in_((TransferKind.CHARGE, TransferKind.REVERSAL)),
        )
        .order_by(Transfer.id)
    ).all()
    months: dict[str, MonthCharges] = {}
    for transfer_id, kind, period, amount, reversed_period in rows:
        month_key = reversed_period if kind is TransferKind.REVERSAL and reversed_period else period
        month = months.setdefault(month_key, MonthCharges(month_key))
        month.transfer_ids.append(transfer_id)
        if kind is TransferKind.CHARGE:
            month.net_cents += amount
        else:
            month.credit_cents += amount
    if not months:
        return []
    documents: dict[int, Invoice] = {}
    by_transfer: dict[int, int] = {}
    all_ids = [t for m in months.values() for t in m.transfer_ids]
    for line_transfer, invoice in db.session.execute(
        select(InvoiceLine.transfer_id, Invoice)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(InvoiceLine.transfer_id.in_(all_ids))
    ).all():
        documents[invoice.id] = invoice
        by_transfer[line_transfer] = invoice.id
    settlements = settlement_states() if documents else []
    rate = Decimal(booking.vat_rate if booking.vat_rate is not None else 0)
    for month in months.values():
        month.vat_cents = vat_cents(month.balance_cents, rate) if month.balance_cents > 0 else 0
        seen: set[int] = set()
        for transfer_id in month.transfer_ids:
            invoice_id = by_transfer.get(transfer_id)
            if invoice_id is not None and invoice_id not in seen:
                seen.add(invoice_id)
                invoice = documents[invoice_id]
                month.documents.append(
                    DocumentRef(
                        invoice.id,
                        invoice.number,
                        invoice.type_code.value,
                        invoice.period,
                        document_state(invoice, settlements),
                    )
                )
    return [months[key] for key in sorted(months)]
