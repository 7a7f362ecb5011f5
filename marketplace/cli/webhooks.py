"""`flask webhooks send`: due webhook deliveries, signed, with retries and backoff."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from marketplace.webhooks.delivery import send_due

webhooks_cli = AppGroup("webhooks", help="Webhooks an Mitglieder zustellen.")


@webhooks_cli.command("send")
@click.option("--limit", default=500, show_default=True, help="Höchstens so viele Zustellungen in diesem Lauf.")
def webhooks_send(limit: int) -> None:
    """Fällige Webhooks signiert zustellen; Fehlschläge werden mit wachsendem Abstand wiederholt."""
    result = send_due(limit=limit)
    click.echo(f"zugestellt: {result.delivered}, später erneut: {result.retrying}, aufgegeben: {result.failed}")


COMMANDS = [webhooks_cli]
