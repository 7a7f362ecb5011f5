"""Members' webhook endpoints and the outbox of deliveries to them (tables `webhook_endpoints`,
`webhook_deliveries`)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.dbtypes import str_enum
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import Member, Role, User


class WebhookEndpoint(db.Model):
    """A URL a member registered to receive booking and settlement events, signed with its secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False, index=True)
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    #: The HMAC-SHA256 key; shown to the member once, needed in plain to sign each delivery.
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    member: Mapped[Member] = relationship()
    created_by: Mapped[User | None] = relationship()

    def can_manage(self, user: User) -> bool:
        return user.member_id == self.member_id and can_manage_webhooks(user)


def can_manage_webhooks(user: User) -> bool:
    """Member admins manage their member's webhooks; the operator's admins those of the operator."""
    if Role.MEMBER_ADMIN in user.roles:
        return True
    return user.has_role(Role.OPERATOR_ADMIN) and user.member.is_operator


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last retry


class WebhookDelivery(db.Model):
    """The outbox: one event for one endpoint, sent by ``flask webhooks send`` and retried with backoff."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), nullable=False, index=True)
    #: Stable id of the event (receivers deduplicate on it); the same for every retry.
    event_id: Mapped[str] = mapped_column(String(40), nullable=False)
    event_type: Mapped[str] = mapped_column(String(60), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "webhook_delivery_status"), nullable=False, default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    endpoint: Mapped[WebhookEndpoint] = relationship()
