"""`flask outbox send` against a real SMTP server (aiosmtpd on a free local port).

One message that cannot be sent must not hold up the others, and a message once sent is never sent again,
even when the run stops halfway.
"""

from __future__ import annotations

import email
import smtplib
import socket
from collections.abc import Iterator
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from marketplace.extensions import db
from marketplace.notifications.models import MAX_ATTEMPTS, NotificationKind, OutboxMessage


class Sink:
    """Keeps every e-mail the SMTP server accepted."""

    def __init__(self) -> None:
        self.received: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [message["Subject"] for message in self.received]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(controller.port), "SMTP_STARTTLS": "0"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SMTP_USER", raising=False)
    try:
        yield sink
    finally:
        controller.stop()


def _queue(*subjects: str) -> list[int]:
    messages = [
        OutboxMessage(kind=NotificationKind.BOOKING_MESSAGE, recipient=f"person{n}@example.org", subject=s, body="Text")
        for n, s in enumerate(subjects)
    ]
    db.session.add_all(messages)
    db.session.commit()
    return [message.id for message in messages]


def _fresh(message_id: int) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id)


def test_one_malformed_message_is_marked_failed_and_the_rest_is_sent(app, smtp_sink):
    ids = _queue("Eins", "Zwei", "Neue Anfrage: Server\r\nBcc: alle@example.org", "Vier", "Fünf")
    bad = ids[2]

    result = app.test_cli_runner().invoke(args=["outbox", "send"])

    assert result.exit_code == 1, result.output
    assert "4 gesendet, 1 fehlgeschlagen" in result.output
    assert f"E-Mail {bad} an person2@example.org nicht gesendet (aufgegeben)" in result.output
    assert smtp_sink.subjects() == ["Eins", "Zwei", "Vier", "Fünf"]
    failed = _fresh(bad)
    assert failed.sent_at is None and failed.failed
    assert "carriage return" in failed.last_error  # the reason, for whoever looks into the outbox
    assert all(_fresh(i).sent_at is not None for i in ids if i != bad)

    # The next run has nothing left to do: nothing is sent twice, the bad message does not jam it.
    again = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert again.exit_code == 0, again.output
    assert "0 gesendet, 0 fehlgeschlagen" in again.output
    assert len(smtp_sink.received) == 4


class Crash(BaseException):
    """The process dies (killed, power cut): nothing in the command gets to handle it."""


def test_each_message_is_recorded_as_sent_right_after_it_is_sent(app, smtp_sink, monkeypatch):
    ids = _queue("Eins", "Zwei", "Drei", "Vier")
    real_send = smtplib.SMTP.send_message
    calls = []

    def send_then_crash(self, message, *args, **kwargs):
        calls.append(message["Subject"])
        if len(calls) == 3:
            raise Crash  # the process dies while the third e-mail goes out
        return real_send(self, message, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "send_message", send_then_crash)
    with pytest.raises(Crash):
        app.test_cli_runner().invoke(args=["outbox", "send"])
    db.session.rollback()
    assert [_fresh(i).sent_at is not None for i in ids] == [True, True, False, False]

    monkeypatch.setattr(smtplib.SMTP, "send_message", real_send)
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "2 gesendet, 0 fehlgeschlagen" in result.output
    assert smtp_sink.subjects() == ["Eins", "Zwei", "Drei", "Vier"]  # each once


def test_a_refused_delivery_is_retried_and_given_up_after_the_last_try(app, smtp_sink, monkeypatch):
    (message_id,) = _queue("Eins")

    def refuse(self, message, *args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({message["To"]: (450, b"mailbox busy")})

    monkeypatch.setattr(smtplib.SMTP, "send_message", refuse)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = app.test_cli_runner().invoke(args=["outbox", "send"])
        assert result.exit_code == 1
        expected = "aufgegeben" if attempt == MAX_ATTEMPTS else "wird beim nächsten Lauf erneut versucht"
        assert f"E-Mail {message_id} an person0@example.org nicht gesendet ({expected})" in result.output
        assert _fresh(message_id).attempts == attempt
    assert _fresh(message_id).failed
    assert app.test_cli_runner().invoke(args=["outbox", "send"]).exit_code == 0
