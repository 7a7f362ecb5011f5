"""`flask outbox send`: the queued e-mails over SMTP."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from marketplace.notifications.sending import send_outbox

outbox_cli = AppGroup("outbox", help="Queued e-mails.")


@outbox_cli.command("send")
@click.option("--limit", default=200, show_default=True, help="Höchstens so viele E-Mails senden.")
def send_command(limit: int) -> None:
    """Send queued e-mails over SMTP (printed to the console when SMTP_HOST is not set).

    Exits 1 when a message failed, naming each; the others are sent all the same."""
    report = send_outbox(limit, echo=click.echo)
    for failure in report.failures:
        outcome = "aufgegeben" if failure.final else "wird beim nächsten Lauf erneut versucht"
        click.echo(
            f"E-Mail {failure.message_id} an {failure.recipient} nicht gesendet ({outcome}): {failure.error}", err=True
        )
    click.echo(f"{report.sent} gesendet, {len(report.failures)} fehlgeschlagen")
    if report.failures:
        raise SystemExit(1)


COMMANDS = [outbox_cli]
