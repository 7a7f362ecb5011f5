"""`flask seed-demo`: the demo exchange of the README (idempotent)."""

from __future__ import annotations

import click

from marketplace.extensions import db
from marketplace.seed import seed_demo_data


@click.command("seed-demo")
@click.option(
    "--core-only",
    is_flag=True,
    help="Nur die Kern-Demo (fünf Mitglieder, sechs Leistungen), ohne die weiteren Anbieter und Buchungen.",
)
def seed_demo(core_only: bool) -> None:
    """Create the demo members, users, services, bookings and ledger history (idempotent): by default the
    whole exchange with eight members, 33 services and bookings in every state."""
    created = seed_demo_data(exchange=not core_only)
    db.session.commit()
    click.echo("Demo-Daten angelegt." if created else "Demo-Daten sind bereits vorhanden.")


COMMANDS = [seed_demo]
