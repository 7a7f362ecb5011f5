"""`flask catalogue apply-prices`: scheduled price versions become current on their day."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from marketplace.catalogue.operations import apply_due_prices
from marketplace.extensions import db

catalogue_cli = AppGroup("catalogue", help="The service catalogue.")


@catalogue_cli.command("apply-prices")
def apply_prices_command() -> None:
    """Make scheduled price versions that have begun the services' current prices."""
    changed = apply_due_prices()
    db.session.commit()
    click.echo(f"{changed} Preise aktualisiert")


COMMANDS = [catalogue_cli]
