"""Ledger tables. Transfers and postings are append-only (database triggers refuse UPDATE and DELETE).

Sign convention: a posting's amount is what the account gains. A member's clearing balance is positive
when the exchange owes the member money (a provider after a charge) and negative when the member owes
(a buyer after a charge). Every transfer's postings sum to zero, so all balances together are zero.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.dbtypes import str_enum
from marketplace.extensions import db
from marketplace.members.models import Member, User


class AccountKind(enum.StrEnum):
    CLEARING = "clearing"  # every member: what it owes or is owed within the exchange
    BANK = "bank"  # operator: its bank account
    IN_TRANSIT = "in_transit"  # operator: payments collected but not yet on the bank account


class TransferKind(enum.StrEnum):
    CHARGE = "charge"
    VAT = "vat"
    REVERSAL = "reversal"
    PAYMENT = "payment"
    PAYOUT = "payout"


class PeriodStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Account(db.Model):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("member_id", "kind", name="uq_accounts_member_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False)
    kind: Mapped[AccountKind] = mapped_column(str_enum(AccountKind, "account_kind"), nullable=False)
    #: Cached sum of this account's postings, updated with them under the same row lock.
    balance_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)

    member: Mapped[Member] = relationship(lazy="joined")


class Period(db.Model):
    """An accounting month; nothing is posted into a closed one."""

    __tablename__ = "periods"

    #: ``YYYY-MM``
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    status: Mapped[PeriodStatus] = mapped_column(
        str_enum(PeriodStatus, "period_status"), nullable=False, default=PeriodStatus.OPEN
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Transfer(db.Model):
    """A balanced movement of money between accounts; its id is its gap-free position in the hash chain."""

    __tablename__ = "transfers"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    #: Assigned under the chain lock as previous id + 1, so the chain has no gaps.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: Derived from the cause (``charge:<booking>:<YYYY-MM>``); replaying a cause creates nothing new.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    kind: Mapped[TransferKind] = mapped_column(str_enum(TransferKind, "transfer_kind"), nullable=False)
    period: Mapped[str] = mapped_column(ForeignKey("periods.period"), nullable=False, index=True)
    description: Mapped[str] = mapped_column(String(500), nullable=False)
    #: The sum of the positive postings (what moved).
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    #: Set on a reversal: the transfer it cancels (each transfer is reversed at most once).
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: SHA-256 of the previous transfer (64 zeros for the first).
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    #: SHA-256 over prev_hash and this transfer's canonical content.
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)

    postings: Mapped[list[Posting]] = relationship(back_populates="transfer", order_by="Posting.id")
    created_by: Mapped[User | None] = relationship()


class Posting(db.Model):
    __tablename__ = "postings"
    __table_args__ = (CheckConstraint("amount_cents <> 0", name="amount_not_zero"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), nullable=False, index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), nullable=False, index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)

    transfer: Mapped[Transfer] = relationship(back_populates="postings")
    account: Mapped[Account] = relationship(lazy="joined")


class LedgerHead(db.Model):
    """The single row that holds the end of the hash chain; locking it orders all transfers."""

    __tablename__ = "ledger_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_transfer_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)


GENESIS_HASH = "0" * 64
