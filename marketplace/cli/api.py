"""`flask idempotency purge`: stored answers of idempotent API requests older than a day."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from marketplace.api.idempotency import purge_expired
from marketplace.extensions import db

idempotency_cli = AppGroup("idempotency", help="Gespeicherte Antworten idempotenter API-Anfragen.")


@idempotency_cli.command("purge")
def idempotency_purge() -> None:
    """Antworten löschen, die älter als 24 Stunden sind (sie werden ohnehin nicht mehr wiederholt)."""
    removed = purge_expired()
    db.session.commit()
    click.echo(f"gelöscht: {removed}")


COMMANDS = [idempotency_cli]
