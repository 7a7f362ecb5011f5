"""Bookings: a buyer's request for a service, its decision and its life; usage of metered services."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.catalogue.models import Service, Unit, VatCategory
from marketplace.core.dbtypes import str_enum
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import InvoiceReference, Member, Role, User

#: The booking's invoice reference fields, named as the invoice profile's (``members.models.InvoiceReference``).
REFERENCE_FIELDS = tuple(reference.value for reference in InvoiceReference)


class BookingStatus(enum.StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    ACTIVE = "active"
    ENDED = "ended"
    CANCELLED = "cancelled"


#: The only transitions there are; anything else is a Conflict.
TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.REQUESTED: frozenset({BookingStatus.ACCEPTED, BookingStatus.DECLINED, BookingStatus.WITHDRAWN}),
    BookingStatus.ACCEPTED: frozenset({BookingStatus.ACTIVE, BookingStatus.CANCELLED}),
    BookingStatus.ACTIVE: frozenset({BookingStatus.ENDED, BookingStatus.CANCELLED}),
}

#: Bookings that occupy capacity and are billed.
COMMITTED_STATUSES = frozenset({BookingStatus.ACCEPTED, BookingStatus.ACTIVE})
#: Bookings whose accepted days are charged (ended and cancelled ones for the days they ran).
BILLABLE_STATUSES = frozenset(
    {BookingStatus.ACCEPTED, BookingStatus.ACTIVE, BookingStatus.ENDED, BookingStatus.CANCELLED}
)


def effective_status(booking: Booking, on: date) -> BookingStatus:
    """The status the booking's dates give it on `on`, whether or not `advance_booking_statuses` has run.

    Accepted counts as active from the start date; accepted or active counts as ended after the last booked
    day. Nothing is written: pages and the API show this, the daily job records the same transitions.
    """
    if booking.status in COMMITTED_STATUSES:
        if booking.ends_on is not None and booking.ends_on < on:
            return BookingStatus.ENDED
        if booking.starts_on <= on:
            return BookingStatus.ACTIVE
    return booking.status


def charge_key(booking_id: int, period: str) -> str:
    """The idempotency key of a booking's charge for a month (``charge:<booking>:<YYYY-MM>``): the billing
    run posts it once, and usage of a month whose charge exists can no longer change."""
    return f"charge:{booking_id}:{period}"


class UsageStatus(enum.StrEnum):
    """What the buyer said (the stored status); where the record is in its life is `usage_state`."""

    ENTERED = "entered"  # entered by the provider; in review, then deemed accepted without an answer
    CONFIRMED = "confirmed"  # confirmed by the buyer
    DISPUTED = "disputed"  # disputed by the buyer: not billed until the provider corrects it


class UsageState(enum.StrEnum):
    """Where a usage record is in its life, as pages and the API show it (`usage_state`)."""

    RECORDED = "recorded"  # entered, inside its review period
    CORRECTED = "corrected"  # entered again after a dispute, inside its new review period
    CONFIRMED = "confirmed"  # confirmed by the buyer, not yet billed
    DEEMED_ACCEPTED = "deemed_accepted"  # review period over without an answer (as EVB-IT service contracts)
    DISPUTED = "disputed"  # disputed, waiting for the provider's correction
    BILLED = "billed"  # charged (`charge_transfer_id`)
    CREDITED = "credited"  # its charge was reversed (a credit note once invoiced)


#: Days a buyer has to confirm or dispute a usage record.
USAGE_REVIEW_DAYS = 14


def review_cutoff(day: date) -> datetime:
    """Usage entered before this moment has its review period behind it on `day` (deemed accepted unless
    answered): the period counts 14 days from the day of entry, that day included in neither."""
    return datetime.combine(day - timedelta(days=USAGE_REVIEW_DAYS), time(0), tzinfo=UTC)


def review_until(record: UsageRecord) -> date:
    """The last day on which the buyer may confirm or dispute `record`."""
    entered = record.entered_at or record.created_at
    return entered.date() + timedelta(days=USAGE_REVIEW_DAYS)


def usage_state(record: UsageRecord, on: date) -> UsageState:
    """The record's place in its life on `on` (a pure function of its columns; nothing is written)."""
    if record.credited_at is not None:
        return UsageState.CREDITED
    if record.charge_transfer_id is not None:
        return UsageState.BILLED
    if record.status is UsageStatus.CONFIRMED:
        return UsageState.CONFIRMED
    if record.status is UsageStatus.DISPUTED:
        return UsageState.DISPUTED
    if on > review_until(record):
        return UsageState.DEEMED_ACCEPTED
    return UsageState.CORRECTED if record.corrected_at is not None else UsageState.RECORDED


#: The states in which the buyer may still answer (confirm or dispute).
REVIEWABLE_STATES = frozenset({UsageState.RECORDED, UsageState.CORRECTED})
#: The states the billing run charges.
BILLABLE_USAGE_STATES = frozenset({UsageState.CONFIRMED, UsageState.DEEMED_ACCEPTED})

# Bounds of the columns below, for the forms, the API's schemas and the operations alike.
#: Units one booking carries (``bookings.quantity``, INTEGER; capacity is at most 1 000 000).
MAX_BOOKING_QUANTITY = 100_000
#: Decimal places of a usage quantity (``usage_records.quantity``, NUMERIC(14, 3)).
USAGE_QUANTITY_PLACES = 3
#: Largest usage quantity one month may carry (NUMERIC(14, 3) holds 11 integer digits).
MAX_USAGE_QUANTITY = Decimal("10000000000")


class Booking(db.Model):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        # A booking cancelled before its start ends (effectively) before it began: zero billable days.
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on OR status = 'cancelled'", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), nullable=False, index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    #: Last booked day (inclusive); null runs until cancelled.
    ends_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[BookingStatus] = mapped_column(
        str_enum(BookingStatus, "booking_status"), nullable=False, default=BookingStatus.REQUESTED, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    # The terms as accepted: later price changes never alter them.
    unit_price_cents: Mapped[int | None] = mapped_column(BigInteger)
    unit: Mapped[Unit | None] = mapped_column(str_enum(Unit, "booking_unit"))
    vat_category: Mapped[VatCategory | None] = mapped_column(str_enum(VatCategory, "booking_vat_category"))
    vat_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    price_version_id: Mapped[int | None] = mapped_column(ForeignKey("price_versions.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Contract terms as accepted: the minimum term in months and the notice period in days.
    minimum_term_months: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    notice_period_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The exemption (VATEX code BT-121, reason BT-120) of an O or E service as accepted; null for S.
    vat_exemption_code: Mapped[str | None] = mapped_column(String(40))
    vat_exemption_reason: Mapped[str | None] = mapped_column(String(500))

    # The buyer's references for its invoices (XRechnung BT-13, BT-12, BT-19, BT-11): the defaults of its
    # invoice profile when requested, editable until a charge of the booking is invoiced.
    order_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    contract_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    buyer_accounting_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    project_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="", server_default="")
    #: When an invoice first listed a charge of the booking (set by the invoicing): from then on its
    #: references are those of issued documents and no longer change.
    invoiced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    service: Mapped[Service] = relationship(lazy="joined")
    buyer: Mapped[Member] = relationship(lazy="joined")
    events: Mapped[list[BookingEvent]] = relationship(
        back_populates="booking", order_by="BookingEvent.id", lazy="select"
    )
    messages: Mapped[list[BookingMessage]] = relationship(
        back_populates="booking", order_by="BookingMessage.id", lazy="select"
    )
    usage_records: Mapped[list[UsageRecord]] = relationship(
        back_populates="booking", order_by="UsageRecord.period", lazy="select"
    )

    def is_party(self, user: User) -> bool:
        return user.member_id in (self.buyer_id, self.service.provider_id)

    def can_view(self, user: User) -> bool:
        """Either party; the operator's staff read every booking (to settle disputes), deciding nothing."""
        return self.is_party(user) or user.is_operator_staff

    def can_decide(self, user: User) -> bool:
        """Accept or decline: the provider's staff."""
        return user.member_id == self.service.provider_id and Role.PROVIDER in user.roles

    def can_withdraw(self, user: User) -> bool:
        return user.member_id == self.buyer_id and Role.BUYER in user.roles

    def is_buyer_staff(self, user: User) -> bool:
        return user.member_id == self.buyer_id and Role.BUYER in user.roles

    def can_cancel(self, user: User) -> bool:
        """Either party's staff (the buyer's buyers, the provider's provider staff)."""
        return self.is_buyer_staff(user) or self.can_decide(user)

    def can_write_message(self, user: User) -> bool:
        return self.is_buyer_staff(user) or self.can_decide(user)

    def can_edit_references(self, user: User) -> bool:
        """The buyer's staff and its finance staff keep the invoice references."""
        return user.member_id == self.buyer_id and bool(user.roles & {Role.BUYER, Role.MEMBER_FINANCE})

    def references(self) -> dict[str, str]:
        """The four invoice references by field name (``order_reference`` …)."""
        return {name: getattr(self, name) for name in REFERENCE_FIELDS}

    def can_record_usage(self, user: User) -> bool:
        return self.can_decide(user) and self.unit is not None and not self.unit.recurring

    def can_review_usage(self, user: User) -> bool:
        return self.is_buyer_staff(user)

    def may_become(self, status: BookingStatus) -> bool:
        return status in TRANSITIONS.get(self.status, frozenset())


class BookingEvent(db.Model):
    """One transition of a booking: who moved it from which state to which, and when."""

    __tablename__ = "booking_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), nullable=False, index=True)
    from_status: Mapped[BookingStatus | None] = mapped_column(str_enum(BookingStatus, "event_from_status"))
    to_status: Mapped[BookingStatus] = mapped_column(str_enum(BookingStatus, "event_to_status"), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    note: Mapped[str] = mapped_column(String(2000), nullable=False, default="")

    booking: Mapped[Booking] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship(lazy="joined")


class UsageRecord(db.Model):
    """Delivered quantity of a metered service in one month, entered by the provider."""

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("booking_id", "period", name="uq_usage_records_booking_period"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: Entered by the provider, then confirmed or disputed by the buyer; disputed usage is not billed.
    status: Mapped[UsageStatus] = mapped_column(
        str_enum(UsageStatus, "usage_status"), nullable=False, default=UsageStatus.ENTERED, server_default="entered"
    )
    #: When the provider last entered or corrected the quantity; the buyer's 14 days count from here.
    entered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    dispute_reason: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    #: When the provider entered the quantity again after a dispute (the record is "corrected" in review).
    corrected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The charge that billed this record (set by the billing run in the same transaction as the charge), so
    #: usage knows it is billed without asking the ledger; `credited_at` once that charge was reversed.
    charge_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), unique=True)
    billed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    credited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    booking: Mapped[Booking] = relationship(back_populates="usage_records")

    @property
    def is_billed(self) -> bool:
        return self.charge_transfer_id is not None


class BookingMessage(db.Model):
    """A message between buyer and provider on one booking."""

    __tablename__ = "booking_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), nullable=False, index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    booking: Mapped[Booking] = relationship(back_populates="messages")
    author: Mapped[User] = relationship(lazy="joined")


def usage_billable(day: date) -> ColumnElement[bool]:
    """SQL: the usage records a billing run may charge on `day`: confirmed, or deemed accepted (entered and
    left unanswered until its review period ended). Records in review or disputed wait."""
    entered = func.coalesce(UsageRecord.entered_at, UsageRecord.created_at)
    return or_(
        UsageRecord.status == UsageStatus.CONFIRMED,
        and_(UsageRecord.status == UsageStatus.ENTERED, entered < review_cutoff(day)),
    )


def usage_awaiting_review(day: date) -> ColumnElement[bool]:
    """SQL: the usage records still inside their review period on `day` (neither answered nor deemed)."""
    entered = func.coalesce(UsageRecord.entered_at, UsageRecord.created_at)
    return and_(UsageRecord.status == UsageStatus.ENTERED, entered >= review_cutoff(day))
