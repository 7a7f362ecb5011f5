"""Invoices of cost sharing, issued through the settlement's invoice model and numbering.

Advance invoices (Abschlagsrechnungen, partial invoices 326) are issued with the advance itself in the
billing run; the final invoice (Schlussrechnung, 380) or the credit note of an overpayment with the
true-up. All share the provider's gap-free number sequence (`settlement.invoicing.lock_number_counters`
and `next_number`, locked after the ledger rows like at a month's close). The final invoice is over the
whole year; it stores, when it is issued, the advance invoices it settles (BT-25 with their dates) and
their gross amount as prepaid (BT-113), which the settlement's XRechnung renders; `render` adds a note.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from marketplace.catalogue.models import VatCategory
from marketplace.core.money import from_cents
from marketplace.core.timeutil import today
from marketplace.settlement import xrechnung
from marketplace.settlement.invoicing import PAYMENT_DAYS, lock_number_counters, next_number
from marketplace.settlement.models import DocumentType, Invoice, InvoiceCounter, InvoiceLine, PrecedingInvoice
from marketplace.settlement.payment_means import apply_payment_means

if TYPE_CHECKING:
    from marketplace.costsharing.models import TrueUp
    from marketplace.members.models import User


def counters_for(provider_ids: list[int]) -> dict[int, InvoiceCounter]:
    return lock_number_counters(provider_ids)


def new_document(
    counter: InvoiceCounter,
    *,
    type_code: DocumentType,
    cause_key: str,
    provider_id: int,
    buyer_id: int,
    period: str,
    service_start: date,
    service_end: date,
    vat_category: VatCategory,
    vat_rate: Decimal,
    net_cents: int,
    vat_cents: int,
    vat_transfer_id: int | None,
    line_transfer_id: int,
    line_description: str,
    actor: User | None,
    prepaid_cents: int = 0,
    preceding: list[Invoice] | None = None,
) -> Invoice:
    """An invoice or credit note with one line, numbered in the provider's sequence (added, not flushed).

    `prepaid_cents` is what was paid on it in advance (BT-113); `preceding` the earlier invoices it settles,
    kept with their numbers and dates as they are now (BT-25, BT-26)."""
    sequence, number = next_number(counter)
    issued_on = today()
    invoice = Invoice(
        number=number,
        sequence=sequence,
        type_code=type_code,
        cause_key=cause_key,
        provider_id=provider_id,
        buyer_id=buyer_id,
        period=period,
        service_start=service_start,
        service_end=service_end,
        vat_category=vat_category,
        vat_rate=vat_rate,
        issue_date=issued_on,
        due_date=issued_on + timedelta(days=PAYMENT_DAYS),
        net_cents=net_cents,
        vat_cents=vat_cents,
        vat_transfer_id=vat_transfer_id,
        created_by_id=actor.id if actor is not None else None,
        prepaid_cents=prepaid_cents,
    )
    invoice.preceding = [
        PrecedingInvoice(
            position=position, preceding_invoice_id=earlier.id, number=earlier.number, issue_date=earlier.issue_date
        )
        for position, earlier in enumerate(preceding or [], start=1)
    ]
    invoice.lines = [
        InvoiceLine(
            position=1,
            transfer_id=line_transfer_id,
            booking_id=None,
            description=line_description[:500],
            net_cents=net_cents,
        )
    ]
    apply_payment_means(invoice)  # the payer's way of paying, fixed at issue like the month's invoices
    return invoice


CBC = "{" + xrechnung.NS["cbc"] + "}"


def render(invoice: Invoice, true_up: TrueUp | None = None) -> bytes:
    """The XRechnung of a cost-sharing document. The settlement's generator states a final invoice's
    advances as prepaid (BT-113) and the rest as due (BT-115 = BT-112 − BT-113); the note explains it."""
    xml = xrechnung.render(invoice)
    if true_up is None or invoice.is_credit_note or not invoice.prepaid_cents:
        return xml
    root = ET.fromstring(xml)  # noqa: S314 - our own document, rendered a line above
    note = root.find(f"{CBC}Note")
    advances = ", ".join(f"{p.number} vom {p.issue_date:%d.%m.%Y}" for p in invoice.preceding)
    note.text = (
        f"Schlussrechnung (Spitzabrechnung) {invoice.service_start.year}: Endbetrag netto "
        f"{from_cents(true_up.final_cents):.2f} EUR abzüglich bereits berechneter Abschläge "
        f"{from_cents(invoice.prepaid_cents):.2f} EUR (einschließlich USt.)" + (f": {advances}." if advances else ".")
    )
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
