"""`flask invoices remind-releases`: remind the buyers' finance staff of invoices still waiting for their release
after the deadline (run it daily, e.g. from cron)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from marketplace.core.errors import DomainError
from marketplace.extensions import db
from marketplace.settlement.release import remind_overdue_releases

invoices_cli = AppGroup("invoices", help="Invoices: the buyers' release.")


@invoices_cli.command("remind-releases")
def remind_releases() -> None:
    """E-mail the buyer's finance staff about each invoice pending after its release deadline (once per
    invoice and run; each reminder is in the audit trail)."""
    try:
        reminded = remind_overdue_releases(None)
    except DomainError as error:
        raise click.ClickException(error.detail) from None
    db.session.commit()
    for invoice in reminded:
        click.echo(f"{invoice.number} ({invoice.buyer.name}): Freigabe war bis {invoice.release_due:%d.%m.%Y} fällig")
    click.echo(f"{len(reminded)} Erinnerungen verschickt")


COMMANDS = [invoices_cli]
