"""Delivering the outbox: `flask outbox send` over SMTP, or to the console in development.

This is an edge like a request, and each message is a transaction of its own: it is claimed (locked),
sent and recorded as sent or failed, then committed before the next one, so a crash halfway never sends
a message twice and one message that cannot be sent never holds up the others. SMTP is configured by the
environment (`SMTP_HOST`, `SMTP_PORT`, `SMTP_USER`, `SMTP_PASSWORD`, `SMTP_STARTTLS`, `MAIL_FROM`); without
`SMTP_HOST` messages are printed instead.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.errors import MessageError
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.notifications.models import MAX_ATTEMPTS, OutboxMessage

__all__ = ["MAX_ATTEMPTS", "Failure", "SendReport", "send_outbox"]

#: Errors that lie in the message itself (e.g. a line break in a header): another try cannot help.
_MALFORMED = (ValueError, UnicodeError, MessageError)


@dataclass(frozen=True)
class Failure:
    message_id: int
    recipient: str
    error: str
    #: True: given up (malformed, or the last allowed try); False: tried again by the next run.
    final: bool


@dataclass
class SendReport:
    sent: int = 0
    failures: list[Failure] = field(default_factory=list)


def _smtp_sender() -> Callable[[EmailMessage], None] | None:
    host = os.environ.get("SMTP_HOST")
    if not host:
        return None
    port = int(os.environ.get("SMTP_PORT", "587"))
    user, password = os.environ.get("SMTP_USER"), os.environ.get("SMTP_PASSWORD")
    starttls = os.environ.get("SMTP_STARTTLS", "1") not in ("0", "false", "no")

    def send(message: EmailMessage) -> None:
        with smtplib.SMTP(host, port, timeout=20) as smtp:
            if starttls:
                smtp.starttls()
            if user:
                smtp.login(user, password or "")
            smtp.send_message(message)

    return send


def _due() -> Any:
    return select(OutboxMessage).where(OutboxMessage.sent_at.is_(None), OutboxMessage.attempts < MAX_ATTEMPTS)


def _claim(message_id: int) -> OutboxMessage | None:
    """The message, locked and read fresh, if it is still due (another run may have sent it meanwhile)."""
    statement = _due().where(OutboxMessage.id == message_id).execution_options(populate_existing=True)
    if db.session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)  # SQLite: BEGIN IMMEDIATE locks already
    return db.session.scalar(statement)


def _email(message: OutboxMessage, mail_from: str) -> EmailMessage:
    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = mail_from, message.recipient, message.subject
    email.set_content(message.body)
    return email


def send_outbox(limit: int = 200, echo: Callable[[str], Any] = print) -> SendReport:
    """Send up to `limit` due messages, oldest first, each committed on its own; says what was sent and
    what failed. A malformed message is given up at once, a failed delivery after MAX_ATTEMPTS tries."""
    sender = _smtp_sender()
    mail_from = os.environ.get("MAIL_FROM", "Leistungsbörse <noreply@leistungsboerse.example>")
    due = list(db.session.scalars(_due().with_only_columns(OutboxMessage.id).order_by(OutboxMessage.id).limit(limit)))
    db.session.commit()
    report = SendReport()
    for message_id in due:
        message = _claim(message_id)
        if message is None:
            db.session.rollback()
            continue
        message.attempts += 1
        try:
            email = _email(message, mail_from)
            if sender is None:
                echo(f"--- E-Mail an {message.recipient} ---\nBetreff: {message.subject}\n\n{message.body}\n")
            else:
                sender(email)
        except (*_MALFORMED, OSError, smtplib.SMTPException) as error:
            if isinstance(error, _MALFORMED):
                message.attempts = MAX_ATTEMPTS
            message.last_error = f"{type(error).__name__}: {error}"[:500]
            report.failures.append(
                Failure(message.id, message.recipient, message.last_error, final=message.attempts >= MAX_ATTEMPTS)
            )
        else:
            message.sent_at = utcnow()
            message.last_error = ""
            report.sent += 1
        db.session.commit()
    return report
