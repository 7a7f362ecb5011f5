"""Tables of the API: stored responses of idempotent POSTs (webhook tables: `marketplace.webhooks.models`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.core.timeutil import utcnow
from marketplace.extensions import db


class IdempotencyRecord(db.Model):
    """The first successful response to a POST with an ``Idempotency-Key``, replayed for 24 hours.

    The row is inserted before the operation runs and committed with its effect and response, so a
    concurrent request with the same key waits on the unique index and then replays the response.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_records_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Keys are per user (the token's user), so two systems cannot collide.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    #: SHA-256 of method, path and the canonical JSON body: the same key with another request is a 422.
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    path: Mapped[str] = mapped_column(String(500), nullable=False)
    #: Null while the first request runs (visible only if it committed early).
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False, index=True)
