"""The outbox of e-mails and each user's notification preferences."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.core.dbtypes import str_enum
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db


class NotificationKind(enum.StrEnum):
    BOOKING_REQUESTED = "booking_requested"
    BOOKING_DECIDED = "booking_decided"
    BOOKING_CANCELLED = "booking_cancelled"
    BOOKING_MESSAGE = "booking_message"
    USAGE_ENTERED = "usage_entered"
    USAGE_DISPUTED = "usage_disputed"
    #: Money: billing runs (advances included), settlements, release reminders, corrections, and cost
    #: sharing (invitations, changed shares, true-ups): one switch, as a new kind would need a migration.
    BILLING = "billing"
    ACCOUNT = "account"  # invitations and password resets: always sent


#: Tries before `flask outbox send` gives a message up; a message that cannot be sent at all (a header with a
#: line break, say) is given up at its first try.
MAX_ATTEMPTS = 5


class OutboxMessage(db.Model):
    """An e-mail waiting to be sent (written in the same transaction as its cause).

    Sent: `sent_at` is set. Failed for good: unsent with `attempts` at MAX_ATTEMPTS, the reason in
    `last_error`; such a message is never picked again, so it cannot hold up the ones after it.
    """

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind, "notification_kind"), nullable=False)
    recipient: Mapped[str] = mapped_column(String(254), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: Null until sent; `flask outbox send` picks the unsent ones.
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    last_error: Mapped[str] = mapped_column(String(500), nullable=False, default="", server_default="")

    @property
    def failed(self) -> bool:
        return self.sent_at is None and self.attempts >= MAX_ATTEMPTS


class NotificationPreference(db.Model):
    """A user's choice for one kind of e-mail; without a row the e-mail is sent."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind, "preference_kind"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
