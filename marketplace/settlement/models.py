"""Settlement tables: invoices and credit notes (XRechnung), their numbering, settlements and instructions.

Amounts are integer cents. An invoice's and a credit note's amounts are stored positive; the type code
(380 invoice, 326 partial invoice, 381 credit note) says in which direction the money goes.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.catalogue.models import VatCategory
from marketplace.core.dbtypes import str_enum
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import Member, Role, User


class DocumentType(enum.StrEnum):
    INVOICE = "380"  # UNTDID 1001 commercial invoice
    #: UNTDID 1001 partial invoice: a cost-sharing advance (Abschlagsrechnung). The German rules accept it
    #: without the warning that the prepayment invoice (386) raises; the final invoice settles them.
    PARTIAL_INVOICE = "326"
    CREDIT_NOTE = "381"  # UNTDID 1001 credit note


class ReleaseStatus(enum.StrEnum):
    """The buyer's certification of an invoice ("sachlich und rechnerisch richtig"), which a municipal cash
    office needs before it pays; only released invoices (and credit notes, which need no release) are
    settled."""

    PENDING = "pending"  # waiting for the buyer's finance staff
    RELEASED = "released"  # certified by the buyer's finance staff (credit notes: at issue, by nobody)
    OBJECTED = "objected"  # the buyer objected to the whole invoice; a correction case decides


class InvoiceCounter(db.Model):
    """The last number a provider gave an invoice or credit note; locked FOR UPDATE while numbering."""

    __tablename__ = "invoice_counters"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Invoice(db.Model):
    """An invoice (380) or credit note (381) of one provider to one buyer for one month and tax category."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("provider_id", "sequence", name="uq_invoices_provider_sequence"),
        CheckConstraint("net_cents > 0", name="net_positive"),
        CheckConstraint("vat_cents >= 0", name="vat_not_negative"),
        CheckConstraint("provider_id <> buyer_id", name="different_parties"),
        CheckConstraint("prepaid_cents >= 0", name="prepaid_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The number printed on the document: ``<provider id>-<year>-<sequence>``; unique per provider.
    number: Mapped[str] = mapped_column(String(40), nullable=False)
    #: Gap-free position in the provider's numbering (invoices and credit notes share one sequence).
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    type_code: Mapped[DocumentType] = mapped_column(str_enum(DocumentType, "document_type", 3), nullable=False)
    #: What caused the document (``invoice:<provider>:<buyer>:<YYYY-MM>:<category>`` or
    #: ``credit-note:<invoice>:<YYYY-MM>``); issuing twice for one cause is impossible.
    cause_key: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    provider_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    #: The closed month that issued the document (for a credit note: the month of the reversal).
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    #: The service period (BT-73/BT-74): the charged month (for a credit note: the invoice's month).
    service_start: Mapped[date] = mapped_column(Date, nullable=False)
    service_end: Mapped[date] = mapped_column(Date, nullable=False)
    vat_category: Mapped[VatCategory] = mapped_column(str_enum(VatCategory, "invoice_vat_category"), nullable=False)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), nullable=False)
    issue_date: Mapped[date] = mapped_column(Date, nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    net_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: ``round_half_up(net × rate / 100)`` on the document's net total (EN 16931 BR-CO-17).
    vat_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: The ledger transfer that posted the VAT (null when the VAT is zero).
    vat_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), unique=True)
    #: A credit note's invoice (BT-25).
    credited_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    #: Already paid on this document's gross amount (BT-113), fixed when it is issued: a cost-sharing final
    #: invoice's advance invoices, with their VAT. The amount due is gross less this (BT-115).
    prepaid_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    #: The buyer's release ("sachlich und rechnerisch richtig"); credit notes are released when issued.
    release_status: Mapped[ReleaseStatus] = mapped_column(
        str_enum(ReleaseStatus, "invoice_release_status"),
        nullable=False,
        default=ReleaseStatus.PENDING,
        server_default=ReleaseStatus.RELEASED.value,
        index=True,
    )
    #: The day by which the buyer's finance staff should release (issue date + the release deadline).
    release_due: Mapped[date | None] = mapped_column(Date)
    #: When and by whom the invoice was released or objected to (null for a credit note's automatic release).
    release_decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    release_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The buyer's reason for an objection.
    objection_reason: Mapped[str] = mapped_column(String(2000), nullable=False, default="", server_default="")
    #: The last reminder about a pending release that went to the buyer's finance staff.
    release_reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # How the money moves, fixed at issue from the payer's payment way (the buyer's; a credit note's: the
    # provider's), so that a later change of the profile never alters an issued document.
    #: BT-81: 97 clearing through the exchange's settlement, 59 SEPA debit by the operator, 58 SEPA transfer.
    payment_means_code: Mapped[str] = mapped_column(String(3), nullable=False, default="97", server_default="58")
    #: 59: the mandate reference (BT-89); 58 and 59: the account credited (BT-84) or debited (BT-91).
    mandate_reference: Mapped[str | None] = mapped_column(String(35))
    payment_account: Mapped[str | None] = mapped_column(String(34))
    #: 59: the creditor identifier of the collecting operator (BT-90).
    creditor_id: Mapped[str | None] = mapped_column(String(35))
    #: Who receives the money when it is not the seller (BG-10): the operator (59, or 58 to its account).
    payee_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))

    # The buyer's references of the bookings on the document (one of each, EN 16931): BT-13, BT-12, BT-19, BT-11.
    order_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    contract_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    buyer_accounting_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    project_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    #: O and E: the exemption code (BT-121) and reason (BT-120) as the bookings snapshotted them at acceptance.
    vat_exemption_code: Mapped[str | None] = mapped_column(String(40))
    vat_exemption_reason: Mapped[str | None] = mapped_column(String(500))

    provider: Mapped[Member] = relationship(foreign_keys=[provider_id], lazy="joined")
    buyer: Mapped[Member] = relationship(foreign_keys=[buyer_id], lazy="joined")
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", lazy="selectin"
    )
    credited_invoice: Mapped[Invoice | None] = relationship(remote_side=[id], lazy="joined")
    #: Earlier invoices this one settles (BT-25 with their dates), e.g. a final invoice's advance invoices.
    preceding: Mapped[list[PrecedingInvoice]] = relationship(
        foreign_keys="PrecedingInvoice.invoice_id", order_by="PrecedingInvoice.position", lazy="selectin"
    )
    release_decided_by: Mapped[User | None] = relationship(foreign_keys=[release_decided_by_id], lazy="joined")
    payee: Mapped[Member | None] = relationship(foreign_keys=[payee_id], lazy="joined")

    @property
    def gross_cents(self) -> int:
        return self.net_cents + self.vat_cents

    @property
    def is_credit_note(self) -> bool:
        return self.type_code is DocumentType.CREDIT_NOTE

    @property
    def due_cents(self) -> int:
        """What is still to pay (BT-115): gross less what was paid in advance."""
        return self.gross_cents - self.prepaid_cents

    def can_view(self, user: User) -> bool:
        """Finance staff of either party, and operator finance; read-only also the buyer's buyers (what their
        member owes) and the provider's provider staff (what it is owed); everyone else gets a 404."""
        if user.is_operator_finance:
            return True
        if Role.MEMBER_FINANCE in user.roles and user.member_id in (self.provider_id, self.buyer_id):
            return True
        if Role.BUYER in user.roles and user.member_id == self.buyer_id:
            return True
        return Role.PROVIDER in user.roles and user.member_id == self.provider_id


class PrecedingInvoice(db.Model):
    """An earlier invoice a document refers to (XRechnung BG-3: BT-25 number, BT-26 issue date), as it was
    when the document was issued."""

    __tablename__ = "invoice_preceding"
    __table_args__ = (UniqueConstraint("invoice_id", "position", name="uq_invoice_preceding_invoice_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    preceding_invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), nullable=False, index=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False)
    issue_date: Mapped[date] = mapped_column(Date, nullable=False)


class InvoiceLine(db.Model):
    """One charged booking (or, on a credit note, one reversal of such a charge)."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("invoice_id", "position", name="uq_invoice_lines_invoice_position"),
        CheckConstraint("net_cents > 0", name="net_positive"),
        CheckConstraint("allowance_cents >= 0", name="allowance_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The charge (or reversal) this line documents; each appears on exactly one document.
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), nullable=False, unique=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    description: Mapped[str] = mapped_column(String(500), nullable=False)
    net_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # What the net amount is made of (null on lines issued before they were stored: one lump sum):
    # ``net = round_half_up(quantity × unit price) − allowance`` to the cent (EN 16931 BT-131).
    #: BT-129 and its UN/ECE Rec. 20 unit (BT-130); BT-146 the net price of one unit.
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    unit_code: Mapped[str | None] = mapped_column(String(3))
    unit_price_cents: Mapped[int | None] = mapped_column(BigInteger)
    #: A line allowance (BG-27): what a pro-rata month leaves out of the full month, with its reason.
    allowance_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    allowance_reason: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")
    #: The days the line covers (BG-26).
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    #: The booking's buyer accounting reference (BT-133).
    accounting_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class SettlementStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    COLLECTING = "collecting"
    PAID = "paid"
    FAILED = "failed"


#: The only transitions there are; anything else is a Conflict.
SETTLEMENT_TRANSITIONS: dict[SettlementStatus, frozenset[SettlementStatus]] = {
    SettlementStatus.DRAFT: frozenset({SettlementStatus.APPROVED}),
    # PAID straight from APPROVED when every debtor paid its creditors directly
    SettlementStatus.APPROVED: frozenset({SettlementStatus.COLLECTING, SettlementStatus.PAID}),
    SettlementStatus.COLLECTING: frozenset({SettlementStatus.PAID, SettlementStatus.FAILED}),
    # A failed debit reopens its instructions; collecting again retries them.
    SettlementStatus.FAILED: frozenset({SettlementStatus.COLLECTING, SettlementStatus.PAID}),
}


class InstructionStatus(enum.StrEnum):
    OPEN = "open"
    COLLECTING = "collecting"
    PAID = "paid"


class Settlement(db.Model):
    """The settlement of a closed month: the released invoices and credit notes up to it that no earlier
    settlement covered, each member's advice and position (their sum), the netted instructions and their
    payment."""

    __tablename__ = "settlements"
    __table_args__ = (
        # Four eyes, also in the database: the creator never approves.
        CheckConstraint("approved_by_id IS NULL OR approved_by_id <> created_by_id", name="four_eyes"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), unique=True, nullable=False)
    status: Mapped[SettlementStatus] = mapped_column(
        str_enum(SettlementStatus, "settlement_status"), nullable=False, default=SettlementStatus.DRAFT
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    collected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id], lazy="joined")
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id], lazy="joined")
    positions: Mapped[list[SettlementPosition]] = relationship(
        back_populates="settlement", order_by="SettlementPosition.member_id", lazy="selectin"
    )
    instructions: Mapped[list[PaymentInstruction]] = relationship(
        back_populates="settlement", order_by="PaymentInstruction.id", lazy="selectin"
    )
    #: One payment advice per member with documents in the settlement (none for settlements made before
    #: advices existed, which netted whole clearing balances).
    advices: Mapped[list[PaymentAdvice]] = relationship(
        back_populates="settlement", order_by="PaymentAdvice.member_id", lazy="selectin"
    )

    def may_become(self, status: SettlementStatus) -> bool:
        return status in SETTLEMENT_TRANSITIONS.get(self.status, frozenset())

    def can_view(self, user: User) -> bool:
        """Operator finance sees all; a member's finance staff sees settlements it takes part in."""
        if user.is_operator_finance:
            return True
        if Role.MEMBER_FINANCE not in user.roles:
            return False
        return any(p.member_id == user.member_id for p in self.positions) or any(
            a.member_id == user.member_id for a in self.advices
        )

    def can_approve(self, user: User) -> bool:
        return user.is_operator_finance and user.id != self.created_by_id


class SettlementPosition(db.Model):
    """A member's net position: positive is owed to the member, negative is what it owes."""

    __tablename__ = "settlement_positions"
    __table_args__ = (
        UniqueConstraint("settlement_id", "member_id", name="uq_settlement_positions_member"),
        CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlements.id"), nullable=False)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)

    settlement: Mapped[Settlement] = relationship(back_populates="positions")
    member: Mapped[Member] = relationship(lazy="joined")


class PaymentInstruction(db.Model):
    """debtor pays creditor `amount`; the netting makes at most (non-zero positions − 1) of them."""

    __tablename__ = "payment_instructions"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("debtor_member_id <> creditor_member_id", name="different_members"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlements.id"), nullable=False, index=True)
    debtor_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False)
    creditor_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[InstructionStatus] = mapped_column(
        str_enum(InstructionStatus, "instruction_status"), nullable=False, default=InstructionStatus.OPEN
    )
    #: The advices the payment refers to: the debtor's (what it pays for) and the creditor's (what it receives
    #: for). Null only for instructions of settlements made before advices existed.
    debtor_advice_id: Mapped[int | None] = mapped_column(ForeignKey("payment_advices.id"))
    creditor_advice_id: Mapped[int | None] = mapped_column(ForeignKey("payment_advices.id"))

    settlement: Mapped[Settlement] = relationship(back_populates="instructions")
    debtor: Mapped[Member] = relationship(foreign_keys=[debtor_member_id], lazy="joined")
    creditor: Mapped[Member] = relationship(foreign_keys=[creditor_member_id], lazy="joined")
    debtor_advice: Mapped[PaymentAdvice | None] = relationship(foreign_keys=[debtor_advice_id], lazy="joined")
    creditor_advice: Mapped[PaymentAdvice | None] = relationship(foreign_keys=[creditor_advice_id], lazy="joined")


class PaymentAdvice(db.Model):
    """A member's payment advice (Zahlungsavis) in a settlement: the invoices and credit notes behind its
    position, the position (their sum, from the member's side: positive it receives, negative it pays;
    zero when they cancel out) and the day the payments are due. A cash office pays against it."""

    __tablename__ = "payment_advices"
    __table_args__ = (UniqueConstraint("settlement_id", "member_id", name="uq_payment_advices_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlements.id"), nullable=False)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    #: ``advices.advice_number(period, member)``, e.g. ``ZA-2026-10-3``; SEPA remittance and DATEV name it.
    number: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    position_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)

    settlement: Mapped[Settlement] = relationship(back_populates="advices")
    member: Mapped[Member] = relationship(lazy="joined")


class SettlementDocument(db.Model):
    """An invoice or credit note a settlement covers. A document is covered by one settlement only (the
    unique invoice), and appears on the advices of both its parties with opposite signs."""

    __tablename__ = "settlement_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlements.id"), nullable=False, index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), nullable=False, unique=True)
    #: What the document moves to its provider: an invoice's amount due (+), a credit note's (−); its buyer
    #: gets the same amount with the opposite sign.
    provider_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)

    invoice: Mapped[Invoice] = relationship(lazy="joined")
