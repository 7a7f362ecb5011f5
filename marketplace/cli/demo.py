"""`flask seed-demo`: the demo exchange of the README (idempotent)."""

from __future__ import annotations

import click

from marketplace.extensions import db
from marketplace.seed import seed_demo_data


@click.command("seed-demo")
def seed_demo() -> None:
    """Create the demo members, users, services, bookings and ledger history (idempotent)."""
    created = seed_demo_data()
    db.session.commit()
    click.echo("Demo-Daten angelegt." if created else "Demo-Daten sind bereits vorhanden.")


COMMANDS = [seed_demo]
