"""Payment advices (Zahlungsavis): per settlement and member, the documents behind the member's position.

A settlement of month M covers the released invoices and the credit notes (which need no release) of the
months up to M that no earlier settlement covered; nothing else. Each such document counts for both its
parties with opposite signs: an invoice's amount due is + for its provider and − for its buyer, a credit
note's the reverse. A member's position is the sum over its documents, so positions sum to zero, and what
the settlement's payments move on a member's clearing account is exactly what those documents posted there
(their charges and VAT); whatever is billed but not yet settled stays in the clearing balance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, func, or_, select

from marketplace.core.locking import locked
from marketplace.core.timeutil import today
from marketplace.extensions import db
from marketplace.members.models import Member
from marketplace.settlement.models import DocumentType, Invoice, ReleaseStatus, SettlementDocument
from marketplace.settlement.xrechnung import payable_cents

#: Days from the settlement's creation to the due date of its advices, unless ``ADVICE_DAYS`` says otherwise;
#: never before the latest due date of the documents on them.
DEFAULT_ADVICE_DAYS = 10


def advice_number(period: str, member_id: int) -> str:
    """The number printed on a member's payment advice of the settlement of `period` (``ZA-2026-10-3``);
    the SEPA remittance information and DATEV's Belegfeld 1 name the advice by it."""
    return f"ZA-{period}-{member_id}"


def settleable() -> ColumnElement[bool]:
    """The condition on `Invoice` of a document a settlement may cover: a released invoice, or a credit note."""
    return or_(Invoice.release_status == ReleaseStatus.RELEASED, Invoice.type_code == DocumentType.CREDIT_NOTE)


def uncovered() -> ColumnElement[bool]:
    """The condition on `Invoice` of a document that no settlement covers yet."""
    return ~select(SettlementDocument.id).where(SettlementDocument.invoice_id == Invoice.id).exists()


def documents_to_settle(period: str) -> list[Invoice]:
    """The released invoices and the credit notes of months up to `period` that no settlement covers, locked.

    The documents are locked (ascending ids) before their coverage is read, so two settlements made at the
    same time wait for each other and the second sees what the first covered; the unique invoice of
    `SettlementDocument` is the backstop."""
    candidates = db.session.scalars(
        locked(
            select(Invoice.id).where(Invoice.period <= period, settleable(), uncovered()).order_by(Invoice.id),
        )
    ).all()
    if not candidates:
        return []
    # lock, then read: a settlement committed while this one waited may cover some of them now
    return list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.id.in_(candidates), settleable(), uncovered())
            .order_by(Invoice.period, Invoice.provider_id, Invoice.sequence)
            .execution_options(populate_existing=True)
        )
    )


def settleable_count(period: str) -> int:
    """How many documents a settlement of `period` would cover now (read without locks, for lists and to-dos)."""
    return int(
        db.session.scalar(select(func.count(Invoice.id)).where(Invoice.period <= period, settleable(), uncovered()))
        or 0
    )


def pending_before(period: str) -> int:
    """How many invoices of months up to `period` still wait for their buyer's release (or were objected to)."""
    return int(
        db.session.scalar(
            select(func.count(Invoice.id)).where(
                Invoice.period <= period,
                Invoice.type_code == DocumentType.INVOICE,
                Invoice.release_status != ReleaseStatus.RELEASED,
                uncovered(),
            )
        )
        or 0
    )


def provider_amount(invoice: Invoice) -> int:
    """What the document moves to its provider, in cents: an invoice's amount due, a credit note's negated."""
    amount = payable_cents(invoice)
    return -amount if invoice.is_credit_note else amount


def amount_for(invoice: Invoice, provider_amount_cents: int, member_id: int) -> int:
    """The document's amount from `member_id`'s side (its provider's or its buyer's): + receives, − pays."""
    if member_id == invoice.provider_id:
        return provider_amount_cents
    if member_id == invoice.buyer_id:
        return -provider_amount_cents
    raise ValueError(f"member {member_id} is no party to document {invoice.id}")


def positions_of(documents: list[tuple[Invoice, int]]) -> dict[int, int]:
    """Each party's sum over `(document, provider amount)` pairs; zero sums stay in (the advice shows them)."""
    positions: dict[int, int] = defaultdict(int)
    for invoice, amount in documents:
        positions[invoice.provider_id] += amount
        positions[invoice.buyer_id] -= amount
    return dict(positions)


def advice_days() -> int:
    """Days from a settlement to its advices' due date (setting ``ADVICE_DAYS``, default 10)."""
    return int(current_app.config.get("ADVICE_DAYS", DEFAULT_ADVICE_DAYS))


def due_date_for(documents: list[Invoice]) -> date:
    """The due date of a new settlement's advices: today plus the advice days, but not before any of the
    documents on them is due."""
    due = today() + timedelta(days=advice_days())
    return max([due, *(d.due_date for d in documents)])


@dataclass(frozen=True)
class AdviceLine:
    """One document on a member's advice, with its amount from that member's side."""

    invoice: Invoice
    #: The member whose advice it is (the document's provider or buyer).
    member_id: int
    #: + the member receives it, − the member pays it (cents)
    amount_cents: int

    @property
    def counterparty(self) -> Member:
        """The document's other party."""
        return self.invoice.buyer if self.member_id == self.invoice.provider_id else self.invoice.provider


def _documents(settlement_id: int, member_id: int | None = None) -> list[tuple[int, Invoice]]:
    statement = (
        select(SettlementDocument.provider_amount_cents, Invoice)
        .join(Invoice, Invoice.id == SettlementDocument.invoice_id)
        .where(SettlementDocument.settlement_id == settlement_id)
        .order_by(Invoice.period, Invoice.issue_date, Invoice.provider_id, Invoice.sequence)
    )
    if member_id is not None:
        statement = statement.where(or_(Invoice.provider_id == member_id, Invoice.buyer_id == member_id))
    return [(amount, invoice) for amount, invoice in db.session.execute(statement).all()]


def lines_for(settlement_id: int, member_id: int) -> list[AdviceLine]:
    """The documents a settlement covers on `member_id`'s advice, in the order they are printed."""
    return [
        AdviceLine(invoice, member_id, amount_for(invoice, amount, member_id))
        for amount, invoice in _documents(settlement_id, member_id)
    ]


def lines_by_member(settlement_id: int) -> dict[int, list[AdviceLine]]:
    """Every advice's documents of a settlement (one query), by member."""
    lines: dict[int, list[AdviceLine]] = defaultdict(list)
    for amount, invoice in _documents(settlement_id):
        lines[invoice.provider_id].append(AdviceLine(invoice, invoice.provider_id, amount))
        lines[invoice.buyer_id].append(AdviceLine(invoice, invoice.buyer_id, -amount))
    return dict(lines)
