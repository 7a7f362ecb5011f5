"""Shared tables: the audit trail of every write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.core.timeutil import utcnow
from marketplace.extensions import db


class AuditEvent(db.Model):
    """Who did what to which object, and when (append-only by convention)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: When the write happened (UTC).
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: The acting user; null for system actions (CLI without a user, migrations).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: The member whose data changed, so that member admins can read their own trail.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    action: Mapped[str] = mapped_column(String(60), nullable=False)
    object_type: Mapped[str] = mapped_column(String(40), nullable=False)
    object_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


def record_audit(
    actor: Any,
    action: str,
    obj: Any,
    *,
    member_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event for `obj` (flushed with the rest of the operation)."""
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        member_id=member_id,
        action=action,
        object_type=type(obj).__name__,
        object_id=getattr(obj, "id", None),
        data=data,
    )
    db.session.add(event)
    return event
