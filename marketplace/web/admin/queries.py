"""Reads for administration: members, a member's users, the audit trail."""

from __future__ import annotations

from sqlalchemy import Select, select

from marketplace.core.models import AuditEvent
from marketplace.members.models import Member, User


def members_statement() -> Select:
    return select(Member).order_by(Member.is_operator.desc(), Member.name)


def users_statement(member_id: int) -> Select:
    return select(User).where(User.member_id == member_id).order_by(User.name, User.id)


def audit_statement(member_id: int | None, action: str | None = None) -> Select:
    """Audit events, newest first; `member_id` None is the whole trail (operator only)."""
    statement = select(AuditEvent, User).outerjoin(User, User.id == AuditEvent.actor_id)
    if member_id is not None:
        statement = statement.where(AuditEvent.member_id == member_id)
    if action:
        statement = statement.where(AuditEvent.action.startswith(action[:60]))
    return statement.order_by(AuditEvent.id.desc())
