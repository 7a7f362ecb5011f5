"""The correction case: what is disputed (its source), both parties' statements, and the operator's decision."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.bookings.models import Booking, UsageRecord
from marketplace.core.dbtypes import str_enum
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import Member, Role, User
from marketplace.settlement.models import Invoice

#: Longest statement or decision note (characters).
MAX_STATEMENT = 2000


class CaseSource(enum.StrEnum):
    """What opened the case."""

    USAGE_DISPUTE = "usage_dispute"  # the buyer disputed usage that was already billed
    PROVIDER_CORRECTION = "provider_correction"  # the provider corrected usage of a month already billed
    OBJECTION = "objection"  # the buyer's finance staff objected to a whole invoice


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    CORRECTED = "corrected"  # charge reversed (credit note if invoiced), corrected amount charged anew
    REJECTED = "rejected"  # the charge stands; a held invoice goes back to the buyer for release


class CorrectionCase(db.Model):
    """A dispute about money already billed, decided by the operator's finance staff.

    Usage cases name the usage record and its charge (``charge:<booking>:<YYYY-MM>``); an objection names the
    invoice. `invoice_id` is the invoice that lists the disputed charge (or the objected invoice), null while
    the charge's month is not yet invoiced. The corrected amount is charged with the key
    ``correction:<case id>``.
    """

    __tablename__ = "correction_cases"
    __table_args__ = (
        CheckConstraint("provider_id <> buyer_id", name="different_parties"),
        CheckConstraint("corrected_cents IS NULL OR corrected_cents >= 0", name="corrected_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[CaseSource] = mapped_column(str_enum(CaseSource, "correction_source"), nullable=False)
    status: Mapped[CaseStatus] = mapped_column(
        str_enum(CaseStatus, "correction_status"), nullable=False, default=CaseStatus.OPEN, index=True
    )
    buyer_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    #: The disputed month (the charge's month; for an objection the invoice's month).
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    usage_record_id: Mapped[int | None] = mapped_column(ForeignKey("usage_records.id"), index=True)
    #: The disputed charge (usage cases).
    charge_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    #: The quantity billed, and the provider's corrected quantity (usage cases).
    billed_quantity: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    proposed_quantity: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))

    buyer_statement: Mapped[str] = mapped_column(Text, nullable=False, default="")
    buyer_stated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_statement: Mapped[str] = mapped_column(Text, nullable=False, default="")
    provider_stated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    decision_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: What the decision charged anew (net cents; 0 when nothing is charged) and, for usage, the quantity.
    corrected_quantity: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    corrected_cents: Mapped[int | None] = mapped_column(BigInteger)
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    #: The new charge (key ``correction:<case id>``) and the month it went into.
    recharge_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"))

    buyer: Mapped[Member] = relationship(foreign_keys=[buyer_id], lazy="joined")
    provider: Mapped[Member] = relationship(foreign_keys=[provider_id], lazy="joined")
    booking: Mapped[Booking | None] = relationship(lazy="joined")
    usage_record: Mapped[UsageRecord | None] = relationship(lazy="joined")
    invoice: Mapped[Invoice | None] = relationship(foreign_keys=[invoice_id], lazy="joined")
    credit_note: Mapped[Invoice | None] = relationship(foreign_keys=[credit_note_id], lazy="joined")
    opened_by: Mapped[User] = relationship(foreign_keys=[opened_by_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")

    @property
    def is_open(self) -> bool:
        return self.status is CaseStatus.OPEN

    def side_of(self, user: User) -> str | None:
        """``"buyer"`` or ``"provider"`` for a user of either party, else None."""
        if user.member_id == self.buyer_id:
            return "buyer"
        if user.member_id == self.provider_id:
            return "provider"
        return None

    def can_view(self, user: User) -> bool:
        """Operator finance, and the staff of either party (buyer, provider or finance); others get a 404."""
        if user.is_operator_finance:
            return True
        return self.side_of(user) is not None and bool(
            set(user.roles) & {Role.BUYER, Role.PROVIDER, Role.MEMBER_FINANCE}
        )

    def can_state(self, user: User) -> bool:
        """A party's staff may add or change its statement while the case is open."""
        return self.is_open and self.can_view(user) and self.side_of(user) is not None

    def can_resolve(self, user: User) -> bool:
        return self.is_open and user.is_operator_finance
