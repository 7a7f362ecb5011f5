"""Delivering the outbox: `flask outbox send` over SMTP, or to the console in development.

This is an edge like a request: it commits after each message, so that a crash halfway never sends a
message twice. SMTP is configured by the environment (`SMTP_HOST`, `SMTP_PORT`, `SMTP_USER`,
`SMTP_PASSWORD`, `SMTP_STARTTLS`, `MAIL_FROM`); without `SMTP_HOST` messages are printed instead.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.notifications.models import OutboxMessage

MAX_ATTEMPTS = 5


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


def send_outbox(limit: int = 200, echo: Callable[[str], Any] = print) -> tuple[int, int]:
    """Send up to `limit` unsent messages; returns (sent, failed). Each message is committed on its own."""
    sender = _smtp_sender()
    mail_from = os.environ.get("MAIL_FROM", "Leistungsbörse <noreply@leistungsboerse.example>")
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.attempts < MAX_ATTEMPTS)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    sent = failed = 0
    for message in db.session.scalars(statement).all():
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = mail_from, message.recipient, message.subject
        email.set_content(message.body)
        message.attempts += 1
        try:
            if sender is None:
                echo(f"--- E-Mail an {message.recipient} ---\nBetreff: {message.subject}\n\n{message.body}\n")
            else:
                sender(email)
        except (OSError, smtplib.SMTPException) as error:
            message.last_error = str(error)[:500]
            failed += 1
        else:
            message.sent_at = utcnow()
            message.last_error = ""
            sent += 1
    db.session.commit()
    return sent, failed
