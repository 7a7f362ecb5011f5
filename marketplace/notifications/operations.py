"""Writing e-mails into the outbox, in the same transaction as their cause (delivery: `sending.py`)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from marketplace.extensions import db
from marketplace.members.models import Member, Role, User, UserRole
from marketplace.notifications.models import NotificationKind, NotificationPreference, OutboxMessage

#: Kinds a user may switch off; account e-mails (invitation, password reset) are always sent.
OPTIONAL_KINDS = tuple(kind for kind in NotificationKind if kind is not NotificationKind.ACCOUNT)
SIGNATURE = "\n\n-- \nLeistungsbörse – IT-Leistungen öffentlicher Stellen\nDiese Nachricht wurde automatisch versandt."


def base_url() -> str:
    return (current_app.config.get("BASE_URL") or os.environ.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/")


def _disabled(user_ids: list[int], kind: NotificationKind) -> set[int]:
    if kind is NotificationKind.ACCOUNT or not user_ids:
        return set()
    return set(
        db.session.scalars(
            select(NotificationPreference.user_id).where(
                NotificationPreference.user_id.in_(user_ids),
                NotificationPreference.kind == kind,
                NotificationPreference.enabled.is_(False),
            )
        )
    )


def notify(
    users: Iterable[User], kind: NotificationKind, subject: str, body: str, *, switched_off: set[int] | None = None
) -> list[OutboxMessage]:
    """Queue one e-mail per active user who has not switched this kind off.

    `switched_off` lets a caller that notifies many groups look the preferences up once for all of them.
    """
    recipients = {user.id: user for user in users if user.active}
    off = switched_off if switched_off is not None else _disabled(list(recipients), kind)
    messages = []
    for user_id, user in sorted(recipients.items()):
        if user_id in off:
            continue
        message = OutboxMessage(
            kind=kind, recipient=user.email, subject=subject[:300], body=f"Guten Tag {user.name},\n\n{body}{SIGNATURE}"
        )
        db.session.add(message)
        messages.append(message)
    return messages


def member_staff(member_id: int, *roles: Role) -> list[User]:
    """Active users of a member holding one of the roles."""
    return list(
        db.session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(User.member_id == member_id, User.active.is_(True), UserRole.role.in_(roles))
            .distinct()
            .order_by(User.id)
        )
    )


def set_preferences(user: User, enabled: Iterable[NotificationKind]) -> None:
    """Store the user's choice for every optional kind."""
    wanted = set(enabled)
    existing = {
        row.kind: row
        for row in db.session.scalars(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
    }
    for kind in OPTIONAL_KINDS:
        row = existing.get(kind)
        if row is None:
            db.session.add(NotificationPreference(user_id=user.id, kind=kind, enabled=kind in wanted))
        else:
            row.enabled = kind in wanted
    db.session.flush()


def preferences_of(user: User) -> dict[NotificationKind, bool]:
    rows = db.session.scalars(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
    stored = {row.kind: row.enabled for row in rows}
    return {kind: stored.get(kind, True) for kind in OPTIONAL_KINDS}


# --- billing e-mails: written when a billing run is recorded (ledger code stays untouched) ----------------


def _billing_messages(session: Session, _context: Any, _instances: Any) -> None:
    from marketplace.bookings.models import Booking
    from marketplace.ledger.models import BillingRun, Transfer, TransferKind

    runs = [obj for obj in session.new if isinstance(obj, BillingRun)]
    if not runs:
        return
    with session.no_autoflush:
        for run in runs:
            if not run.transfers_created:
                continue
            member_ids = list(
                session.execute(
                    select(Booking.buyer_id)
                    .join(Transfer, Transfer.booking_id == Booking.id)
                    .where(Transfer.period == run.period, Transfer.kind == TransferKind.CHARGE)
                    .distinct()
                ).scalars()
            )
            if not member_ids:
                continue
            # Three queries for the whole run, however many members were billed.
            names = dict(session.execute(select(Member.id, Member.name).where(Member.id.in_(member_ids))).all())
            staff: dict[int, list[User]] = defaultdict(list)
            for user in session.scalars(
                select(User)
                .join(UserRole, UserRole.user_id == User.id)
                .where(User.member_id.in_(member_ids), User.active.is_(True), UserRole.role == Role.MEMBER_FINANCE)
                .distinct()
                .order_by(User.id)
            ):
                staff[user.member_id].append(user)
            off = _disabled([user.id for users in staff.values() for user in users], NotificationKind.BILLING)
            for member_id in sorted(staff):
                notify(
                    staff[member_id],
                    NotificationKind.BILLING,
                    f"Abrechnung {run.period}",
                    f"für {names.get(member_id, 'Ihre Stelle')} wurden die Leistungen des Monats {run.period} "
                    f"abgerechnet. Die Buchungen sehen Sie unter {base_url()}/ledger.",
                    switched_off=off,
                )


def init_billing_notifications() -> None:
    if not event.contains(Session, "before_flush", _billing_messages):
        event.listen(Session, "before_flush", _billing_messages)
