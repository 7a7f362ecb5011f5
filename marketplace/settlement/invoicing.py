"""Invoices and credit notes, issued when a month is closed (called from `monthend.close.close_period`).

One invoice per provider, buyer, month, tax category (with its exemption) and set of buyer references
(BT-13, BT-12, BT-19, BT-11: EN 16931 allows one of each per invoice, so bookings with different references
get separate invoices), listing the month's charges that were not reversed within the month. Each line
states the quantity, unit price, allowance and period behind its amount (`settlement.lines`) and the
booking's accounting reference (BT-133); the document stores the payment means of its payer as they are at
issue (`settlement.payment_means`), the references and the exemption the bookings snapshotted.

Its VAT is computed once on the invoice's net total (EN 16931 BR-CO-17,
rounded half up) and posted to the ledger in the same month (buyer's clearing account to the
provider's), so that ledger and invoices agree to the cent.

Credit notes: a charge reversed after its month was closed (the reversal lands in a later, open month)
is credited when the month of the reversal is closed: one credit note (type 381) per original invoice,
referencing it, whose VAT (on the credit note's net total) is posted back in that month. Doing this at
the close, and not inside `reverse_transfer`, keeps each ledger transaction to one `post_transfers` call
under the whole-ledger lock, and numbers credit notes in the same gap-free run as the invoices.

Numbers are gap-free per provider: invoices and credit notes share one counter row per provider, read
FOR UPDATE, and a unique (provider, sequence) constraint backs it up.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from marketplace.bookings.models import REFERENCE_FIELDS, Booking, UsageRecord, UsageStatus
from marketplace.catalogue.models import Service, VatCategory, exemption_of
from marketplace.core.events import InvoiceIssued, announce
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.core.timeutil import month_bounds, parse_period, today, utcnow
from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind, Transfer, TransferKind
from marketplace.ledger.operations import TransferSpec, post_transfers
from marketplace.settlement.lines import LineBasis, Terms, basis_of, charged_month
from marketplace.settlement.models import DocumentType, Invoice, InvoiceCounter, InvoiceLine, ReleaseStatus
from marketplace.settlement.payment_means import apply_payment_means

if TYPE_CHECKING:
    from marketplace.members.models import User

#: Days between issue and due date (BT-9, payment terms BT-20).
PAYMENT_DAYS = 14
#: Days the buyer's finance staff have to release an invoice, unless ``RELEASE_DAYS`` says otherwise.
DEFAULT_RELEASE_DAYS = 10


def release_days() -> int:
    """The release deadline in days after the invoice date (setting ``RELEASE_DAYS``, default 10)."""
    return int(current_app.config.get("RELEASE_DAYS", DEFAULT_RELEASE_DAYS))


def vat_cents(net_cents: int, rate: Decimal) -> int:
    """VAT on a document's net total: ``round_half_up(net × rate / 100)`` in cents."""
    return int((Decimal(net_cents) * Decimal(rate) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def vat_key(invoice: Invoice) -> str:
    return f"vat:{'credit-note' if invoice.is_credit_note else 'invoice'}:{invoice.id}"


#: The buyer's references that put bookings on separate invoices (EN 16931 allows one of each per invoice).
_References = tuple[str, str, str, str]


@dataclass(frozen=True)
class _Item:
    transfer_id: int
    booking_id: int | None
    provider_id: int
    buyer_id: int
    vat_category: VatCategory
    vat_rate: Decimal
    description: str
    net_cents: int
    #: BT-13, BT-12, BT-19, BT-11 of the booking (`REFERENCE_FIELDS` order).
    references: _References
    #: The exemption code and reason the booking snapshotted at acceptance (O and E).
    exemption: tuple[str, str] | None
    basis: LineBasis

    @property
    def group(self) -> tuple[int, int, VatCategory, Decimal, tuple[str, str] | None, _References]:
        """What one invoice has in common: parties, tax category and rate, exemption, buyer references."""
        return (self.provider_id, self.buyer_id, self.vat_category, self.vat_rate, self.exemption, self.references)


def _open_charges(period: str) -> list[_Item]:
    """The month's charges that nobody reversed and no invoice lists yet.

    Their bookings are locked (after the ledger, as the close takes it), so that references read here are
    the ones the booking keeps: a change of references waits for the close, then finds the booking invoiced.
    """
    reversal = aliased(Transfer)
    rows = db.session.execute(
        select(Transfer, Service.provider_id)
        .join(Booking, Booking.id == Transfer.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .outerjoin(reversal, reversal.reverses_id == Transfer.id)
        .outerjoin(InvoiceLine, InvoiceLine.transfer_id == Transfer.id)
        .where(
            Transfer.period == period,
            Transfer.kind == TransferKind.CHARGE,
            reversal.id.is_(None),
            InvoiceLine.id.is_(None),
        )
        .order_by(Transfer.id)
    ).all()
    booking_ids = sorted({transfer.booking_id for transfer, _provider in rows})
    bookings = {
        booking.id: booking
        for booking in db.session.scalars(
            locked(select(Booking).where(Booking.id.in_(booking_ids)).order_by(Booking.id), Booking)
        )
    }
    usage = {
        (record.booking_id, record.period): record.quantity
        for record in db.session.scalars(
            select(UsageRecord).where(
                UsageRecord.booking_id.in_(booking_ids), UsageRecord.status != UsageStatus.DISPUTED
            )
        )
    }
    items = []
    for transfer, provider_id in rows:
        booking = bookings[transfer.booking_id]
        month = charged_month(transfer.idempotency_key, transfer.period)
        terms = Terms(
            unit=booking.unit,
            unit_price_cents=booking.unit_price_cents,
            quantity=booking.quantity,
            starts_on=booking.starts_on,
            ends_on=booking.ends_on,
            usage=usage.get((booking.id, month)),
        )
        category = booking.vat_category or VatCategory.NOT_TAXABLE
        exemption = None
        if category is not VatCategory.STANDARD:
            exemption = (
                (booking.vat_exemption_code, booking.vat_exemption_reason)
                if booking.vat_exemption_code and booking.vat_exemption_reason
                else exemption_of(category, None, None)
            )
        references = booking.references()
        items.append(
            _Item(
                transfer_id=transfer.id,
                booking_id=booking.id,
                provider_id=provider_id,
                buyer_id=booking.buyer_id,
                vat_category=category,
                vat_rate=Decimal(booking.vat_rate if booking.vat_rate is not None else 0),
                description=transfer.description,
                net_cents=transfer.amount_cents,
                references=tuple(references[name] for name in REFERENCE_FIELDS),  # type: ignore[arg-type]
                exemption=exemption,
                basis=basis_of(terms, month, transfer.amount_cents),
            )
        )
    return items


def _cause_key(provider_id: int, buyer_id: int, period: str, items: list[_Item]) -> str:
    """``invoice:<provider>:<buyer>:<YYYY-MM>:<category>:<rate>``, plus a digest of the exemption and the
    buyer references where the group has them (each set of references is an invoice of its own)."""
    first = items[0]
    key = f"invoice:{provider_id}:{buyer_id}:{period}:{first.vat_category.value}:{first.vat_rate:.2f}"
    if first.exemption is None and not any(first.references):
        return key
    digest = hashlib.sha256(json.dumps([first.exemption, first.references]).encode()).hexdigest()[:16]
    return f"{key}:{digest}"


def _line(position: int, item: _Item) -> InvoiceLine:
    basis = item.basis
    return InvoiceLine(
        position=position,
        transfer_id=item.transfer_id,
        booking_id=item.booking_id,
        description=item.description,
        net_cents=item.net_cents,
        quantity=basis.quantity,
        unit_code=basis.unit_code,
        unit_price_cents=basis.unit_price_cents,
        allowance_cents=basis.allowance_cents,
        allowance_reason=basis.allowance_reason,
        period_start=basis.period_start,
        period_end=basis.period_end,
        accounting_reference=item.references[REFERENCE_FIELDS.index("buyer_accounting_reference")],
    )


def _credit_line(position: int, reversal: Transfer, line: InvoiceLine, original: Invoice) -> InvoiceLine:
    """A credit note's line: the credited line's quantity, price, allowance and period (a reversal takes back
    the whole charge)."""
    return InvoiceLine(
        position=position,
        transfer_id=reversal.id,
        booking_id=reversal.booking_id,
        description=f"Gutschrift zu Position {line.position} der Rechnung {original.number}: {line.description}"[:500],
        net_cents=reversal.amount_cents,
        quantity=line.quantity,
        unit_code=line.unit_code,
        unit_price_cents=line.unit_price_cents,
        allowance_cents=line.allowance_cents,
        allowance_reason=line.allowance_reason,
        period_start=line.period_start,
        period_end=line.period_end,
        accounting_reference=line.accounting_reference,
    )


def _late_reversals(period: str) -> list[tuple[Transfer, InvoiceLine]]:
    """Reversals posted in `period` of charges that an invoice already lists (and no credit note yet)."""
    credited = aliased(InvoiceLine)
    return [
        (transfer, line)
        for transfer, line in db.session.execute(
            select(Transfer, InvoiceLine)
            .join(InvoiceLine, InvoiceLine.transfer_id == Transfer.reverses_id)
            .outerjoin(credited, credited.transfer_id == Transfer.id)
            .where(Transfer.period == period, Transfer.kind == TransferKind.REVERSAL, credited.id.is_(None))
            .order_by(Transfer.id)
        ).all()
    ]


def lock_number_counters(provider_ids: list[int]) -> dict[int, InvoiceCounter]:
    """The providers' invoice number counters, locked FOR UPDATE in ascending order (missing ones are
    created): take numbers from them with `next_number`. Lock them after the ledger rows (as a month's
    close does), so that invoicing never deadlocks with posting."""
    provider_ids = sorted(set(provider_ids))
    counters = {
        counter.member_id: counter
        for counter in db.session.scalars(
            locked(
                select(InvoiceCounter)
                .where(InvoiceCounter.member_id.in_(provider_ids))
                .order_by(InvoiceCounter.member_id)
            )
        )
    }
    for provider_id in provider_ids:
        if provider_id not in counters:
            counters[provider_id] = InvoiceCounter(member_id=provider_id, last_number=0)
            db.session.add(counters[provider_id])
    db.session.flush()
    return counters


def next_number(counter: InvoiceCounter) -> tuple[int, str]:
    """The provider's next gap-free (sequence, number) for an invoice or credit note, e.g. ``LB-2-000042``;
    `counter` comes from `lock_number_counters` in the same transaction."""
    counter.last_number += 1
    return counter.last_number, f"LB-{counter.member_id}-{counter.last_number:06d}"


def issue_invoices(actor: User | None, period: str) -> list[Invoice]:
    """Issue the month's invoices and credit notes and post their VAT (one `post_transfers` call).

    Must run inside the month's close, after `lock_whole_ledger()` (it posts into `period`, which is still
    open). Issuing again for the same month creates nothing new.
    """
    first, last = month_bounds(parse_period(period))
    issued_on = today()
    due_on = issued_on + timedelta(days=PAYMENT_DAYS)

    groups: dict[tuple, list[_Item]] = defaultdict(list)
    for item in _open_charges(period):
        groups[item.group].append(item)
    credits: dict[int, list[tuple[Transfer, InvoiceLine]]] = defaultdict(list)
    for reversal, line in _late_reversals(period):
        credits[line.invoice_id].append((reversal, line))
    originals = {
        invoice.id: invoice for invoice in db.session.scalars(select(Invoice).where(Invoice.id.in_(list(credits))))
    }

    provider_ids = sorted({key[0] for key in groups} | {inv.provider_id for inv in originals.values()})
    if not provider_ids:
        return []
    counters = lock_number_counters(provider_ids)
    documents: list[Invoice] = []

    def order(group: tuple) -> tuple:
        provider_id, buyer_id, category, rate, exemption, references = group
        return (provider_id, buyer_id, category.value, rate, exemption or ("", ""), references)

    for group in sorted(groups, key=order):
        items = groups[group]
        provider_id, buyer_id, category, rate, exemption, references = group
        net = sum(item.net_cents for item in items)
        if net <= 0:
            continue
        sequence, number = next_number(counters[provider_id])
        invoice = Invoice(
            number=number,
            sequence=sequence,
            type_code=DocumentType.INVOICE,
            cause_key=_cause_key(provider_id, buyer_id, period, items),
            provider_id=provider_id,
            buyer_id=buyer_id,
            period=period,
            service_start=first,
            service_end=last,
            vat_category=category,
            vat_rate=rate,
            issue_date=issued_on,
            due_date=due_on,
            net_cents=net,
            vat_cents=vat_cents(net, rate),
            created_by_id=actor.id if actor is not None else None,
            release_status=ReleaseStatus.PENDING,
            release_due=issued_on + timedelta(days=release_days()),
            vat_exemption_code=exemption[0] if exemption else None,
            vat_exemption_reason=exemption[1] if exemption else None,
            **dict(zip(REFERENCE_FIELDS, references, strict=True)),
        )
        invoice.lines = [_line(position, item) for position, item in enumerate(items, start=1)]
        documents.append(invoice)

    for invoice_id in sorted(credits):
        original = originals[invoice_id]
        pairs = credits[invoice_id]
        documents.append(
            _credit_note(
                actor, original, pairs, counters, period, f"credit-note:{original.id}:{period}", issued_on, due_on
            )
        )

    for document in documents:
        apply_payment_means(document)
    db.session.add_all(documents)
    db.session.flush()
    _mark_invoiced([line.booking_id for document in documents for line in document.lines])
    _post_vat(documents, period, actor)
    for document in documents:
        record_audit(
            actor,
            "credit_note.issued" if document.is_credit_note else "invoice.issued",
            document,
            member_id=document.provider_id,
            data={"number": document.number, "net": document.net_cents, "vat": document.vat_cents},
        )
    for document in documents:
        announce(invoice_issued(document))
    return documents


def _credit_note(
    actor: User | None,
    original: Invoice,
    pairs: list[tuple[Transfer, InvoiceLine]],
    counters: dict[int, InvoiceCounter],
    period: str,
    cause_key: str,
    issued_on: date,
    due_on: date,
) -> Invoice:
    """A credit note of `original` for its reversed lines, numbered in the provider's sequence (not added)."""
    net = sum(reversal.amount_cents for reversal, _line in pairs)
    sequence, number = next_number(counters[original.provider_id])
    note = Invoice(
        number=number,
        sequence=sequence,
        type_code=DocumentType.CREDIT_NOTE,
        cause_key=cause_key,
        provider_id=original.provider_id,
        buyer_id=original.buyer_id,
        period=period,
        service_start=original.service_start,
        service_end=original.service_end,
        vat_category=original.vat_category,
        vat_rate=original.vat_rate,
        issue_date=issued_on,
        due_date=due_on,
        net_cents=net,
        vat_cents=vat_cents(net, original.vat_rate),
        credited_invoice_id=original.id,
        created_by_id=actor.id if actor is not None else None,
        release_status=ReleaseStatus.RELEASED,  # a credit note needs no release
        vat_exemption_code=original.vat_exemption_code,
        vat_exemption_reason=original.vat_exemption_reason,
        **{name: getattr(original, name) for name in REFERENCE_FIELDS},
    )
    note.lines = [
        _credit_line(position, reversal, line, original) for position, (reversal, line) in enumerate(pairs, 1)
    ]
    return note


def credit_reversals_now(actor: User | None, reversal_ids: list[int], reference: str) -> list[Invoice]:
    """Issue at once the credit notes of reversals whose charges an invoice already lists (one per original
    invoice), instead of at the close of the reversals' month, and post their VAT in that month.

    For a correction case, whose buyer must see the credit next to the invoice it disputed. Must run after
    `lock_whole_ledger()` (it may post a second time in the transaction). Reversals of charges no invoice
    lists, and reversals that a credit note already lists, are skipped; `reference` (e.g. ``correction:7``)
    makes each note's cause unique, so the month's close can still credit later reversals of the same
    invoice in a note of its own.
    """
    credited = aliased(InvoiceLine)
    pairs = db.session.execute(
        select(Transfer, InvoiceLine)
        .join(InvoiceLine, InvoiceLine.transfer_id == Transfer.reverses_id)
        .outerjoin(credited, credited.transfer_id == Transfer.id)
        .where(Transfer.id.in_(reversal_ids), Transfer.kind == TransferKind.REVERSAL, credited.id.is_(None))
        .order_by(Transfer.id)
    ).all()
    if not pairs:
        return []
    by_invoice: dict[int, list[tuple[Transfer, InvoiceLine]]] = defaultdict(list)
    for reversal, line in pairs:
        by_invoice[line.invoice_id].append((reversal, line))
    originals = {
        invoice.id: invoice for invoice in db.session.scalars(select(Invoice).where(Invoice.id.in_(list(by_invoice))))
    }
    counters = lock_number_counters([invoice.provider_id for invoice in originals.values()])
    issued_on = today()
    notes = []
    for invoice_id in sorted(by_invoice):
        original = originals[invoice_id]
        items = by_invoice[invoice_id]
        period = items[0][0].period
        cause = f"credit-note:{original.id}:{period}:{reference}"[:120]
        notes.append(
            _credit_note(
                actor, original, items, counters, period, cause, issued_on, issued_on + timedelta(days=PAYMENT_DAYS)
            )
        )
    for note in notes:
        apply_payment_means(note)
    db.session.add_all(notes)
    db.session.flush()
    for period in sorted({note.period for note in notes}):
        _post_vat([note for note in notes if note.period == period], period, actor)
    for note in notes:
        record_audit(
            actor,
            "credit_note.issued",
            note,
            member_id=note.provider_id,
            data={"number": note.number, "net": note.net_cents, "vat": note.vat_cents, "cause": reference},
        )
        announce(invoice_issued(note))
    return notes


def _mark_invoiced(booking_ids: list[int | None]) -> None:
    """From their first invoice on, bookings keep their references (they stand on issued documents)."""
    ids = sorted({booking_id for booking_id in booking_ids if booking_id is not None})
    if ids:
        db.session.execute(
            update(Booking)
            .where(Booking.id.in_(ids), Booking.invoiced_at.is_(None))
            .values(invoiced_at=utcnow())
            .execution_options(synchronize_session="fetch")
        )


def invoice_issued(document: Invoice) -> InvoiceIssued:
    """The event of a flushed invoice or credit note (also the cost-sharing advances and true-ups)."""
    return InvoiceIssued(
        invoice_id=document.id,
        number=document.number,
        credit_note=document.is_credit_note,
        period=document.period,
        provider_id=document.provider_id,
        buyer_id=document.buyer_id,
        net_cents=document.net_cents,
        vat_cents=document.vat_cents,
    )


def _post_vat(documents: list[Invoice], period: str, actor: User | None) -> None:
    taxed = [document for document in documents if document.vat_cents > 0]
    if not taxed:
        return
    member_ids = {d.provider_id for d in taxed} | {d.buyer_id for d in taxed}
    clearing = dict(
        db.session.execute(
            select(Account.member_id, Account.id).where(
                Account.member_id.in_(member_ids), Account.kind == AccountKind.CLEARING
            )
        ).all()
    )
    specs = []
    for document in taxed:
        sign = -1 if document.is_credit_note else 1  # an invoice moves VAT from buyer to provider
        label = "Gutschrift" if document.is_credit_note else "Rechnung"
        specs.append(
            TransferSpec(
                idempotency_key=vat_key(document),
                kind=TransferKind.VAT,
                period=period,
                description=f"USt. {document.vat_rate:.2f} % zur {label} {document.number}",
                postings=(
                    (clearing[document.buyer_id], -sign * document.vat_cents),
                    (clearing[document.provider_id], sign * document.vat_cents),
                ),
            )
        )
    post_transfers(specs, actor)
    ids = dict(
        db.session.execute(
            select(Transfer.idempotency_key, Transfer.id).where(
                Transfer.idempotency_key.in_([spec.idempotency_key for spec in specs])
            )
        ).all()
    )
    for document in taxed:
        document.vat_transfer_id = ids[vat_key(document)]
    db.session.flush()
