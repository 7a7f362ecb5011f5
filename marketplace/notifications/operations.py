"""Writing e-mails into the outbox, in the same transaction as their cause (delivery: `sending.py`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from babel.numbers import format_decimal
from flask import current_app, has_request_context, request
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from marketplace.core.events import AdvanceCharged
from marketplace.core.money import format_eur
from marketplace.extensions import db
from marketplace.members.models import Role, User, UserRole
from marketplace.notifications.models import NotificationKind, NotificationPreference, OutboxMessage

#: Kinds a user may switch off; account e-mails (invitation, password reset) are always sent.
OPTIONAL_KINDS = tuple(kind for kind in NotificationKind if kind is not NotificationKind.ACCOUNT)
SIGNATURE = "\n\n-- \nLeistungsbörse – IT-Leistungen öffentlicher Stellen\nDiese Nachricht wurde automatisch versandt."


def base_url() -> str:
    """The site's address for absolute links in e-mails: the setting ``PUBLIC_BASE_URL``; without it the
    address of the request being answered; outside a request the development server's."""
    configured = current_app.config.get("PUBLIC_BASE_URL") or current_app.config.get("BASE_URL")
    if configured:
        return str(configured).rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://127.0.0.1:5000"


def german_number(value: Decimal | int) -> str:
    """A quantity as a German reader writes it: ``5.120``, ``12,5`` (e-mails are German whatever the UI)."""
    return format_decimal(Decimal(value).normalize(), format="#,##0.###", locale="de_DE")


def german_eur(cents: int) -> str:
    """An amount in euros, German: ``1.234,50 €``."""
    return format_eur(cents, locale="de_DE").replace("\xa0", " ")


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


def _advance_lines(advances: Iterable[AdvanceCharged]) -> str:
    lines = [
        f"– {a.service_title} (Kostenteilung {a.year}): {german_eur(a.amount_cents)} netto"
        + (f", Abschlagsrechnung: {base_url()}/invoices/{a.invoice_id}" if a.invoice_id is not None else "")
        for a in advances
    ]
    return "\n\nAbschläge aus Kostenteilungen:\n" + "\n".join(lines) if lines else ""


def notify_billed(
    period: str, member_ids: Iterable[int], advances: Iterable[AdvanceCharged] = ()
) -> list[OutboxMessage]:
    """Queue the billing e-mail to the finance staff of each member billed in `period`.

    Called with the members a billing run charged anything (bookings, usage, adjustments, cost-sharing
    advances; `BillingRunCompleted`); each member's e-mail lists the `advances` it was charged, with plan and
    amount. Two queries however many members were billed: their finance staff (with the member, joined) and
    those who switched billing e-mails off.
    """
    by_member: dict[int, list[AdvanceCharged]] = defaultdict(list)
    for advance in advances:
        by_member[advance.member_id].append(advance)
    wanted = sorted(set(member_ids) | by_member.keys())
    if not wanted:
        return []
    staff: dict[int, list[User]] = defaultdict(list)
    for user in db.session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.member_id.in_(wanted), User.active.is_(True), UserRole.role == Role.MEMBER_FINANCE)
        .distinct()
        .order_by(User.id)
        .options(lazyload(User.role_rows))  # the roles were the filter; loading them would be a third query
    ):
        staff[user.member_id].append(user)
    off = _disabled([user.id for users in staff.values() for user in users], NotificationKind.BILLING)
    messages: list[OutboxMessage] = []
    for member_id in sorted(staff):
        messages += notify(
            staff[member_id],
            NotificationKind.BILLING,
            f"Abrechnung {period}",
            f"für {staff[member_id][0].member.name} wurden die Leistungen des Monats {period} "
            f"abgerechnet.{_advance_lines(by_member[member_id])}\n\n"
            f"Die Buchungen sehen Sie hier:\n{base_url()}/ledger",
            switched_off=off,
        )
    return messages
