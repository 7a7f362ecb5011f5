"""Payment tables: Stripe customers per member, debits per settlement debtor, received webhook events."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.dbtypes import str_enum
from marketplace.core.events import PaymentChanged, PaymentFailed
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import Member


class StripeCustomer(db.Model):
    """The Stripe customer of a member, with its SEPA Direct Debit payment method."""

    __tablename__ = "stripe_customers"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True, autoincrement=False)
    customer_id: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    payment_method_id: Mapped[str | None] = mapped_column(String(100))
    #: The IBAN the payment method was made from (a changed IBAN makes a new payment method).
    iban: Mapped[str | None] = mapped_column(String(34))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class DebitStatus(enum.StrEnum):
    #: Key stored, request not yet answered (or the client gave up): the next collect retries with the same key.
    PENDING = "pending"
    #: Stripe accepted the PaymentIntent; the outcome arrives by webhook.
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Debit(db.Model):
    """One attempt to pull a debtor's total of a settlement by SEPA Direct Debit (one PaymentIntent)."""

    __tablename__ = "debits"
    __table_args__ = (
        UniqueConstraint("settlement_id", "debtor_member_id", "attempt", name="uq_debits_attempt"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlements.id"), nullable=False, index=True)
    debtor_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: Stored (committed) before the first request and sent on every retry of it.
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    payment_intent_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    status: Mapped[DebitStatus] = mapped_column(
        str_enum(DebitStatus, "debit_status"), nullable=False, default=DebitStatus.PENDING
    )
    #: Why the last request or the debit failed (Stripe's message; never a secret).
    last_error: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    #: The ledger transfer that booked the received payment.
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )

    debtor: Mapped[Member] = relationship(lazy="joined")


class StripeEvent(db.Model):
    """A Stripe event that was applied; its id as primary key makes each event apply once."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


P = TypeVar("P", bound=PaymentChanged)


def debit_event(kind: type[P], debit: Debit) -> P:
    """`PaymentSucceeded` or `PaymentFailed` with the debit as it is now (announce after the flush)."""
    extra: dict[str, Any] = {"error": debit.last_error} if kind is PaymentFailed else {}
    return kind(
        debit_id=debit.id,
        settlement_id=debit.settlement_id,
        debtor_member_id=debit.debtor_member_id,
        amount_cents=debit.amount_cents,
        status=debit.status.value,
        **extra,
    )
