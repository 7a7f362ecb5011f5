"""`flask bookings advance`: the daily job that records what the dates did to bookings."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from marketplace.bookings.operations import advance_booking_statuses
from marketplace.core.timeutil import today
from marketplace.extensions import db

bookings_cli = AppGroup("bookings", help="Bookings.")


@bookings_cli.command("advance")
def bookings_advance() -> None:
    """Record the status changes the dates have made (accepted -> active -> ended); run daily."""
    moved = advance_booking_statuses(today())
    db.session.commit()
    click.echo(f"{moved} Statuswechsel")


# the job's former name, so that cron entries written for it keep working
bookings_cli.add_command(click.Command("refresh", callback=bookings_advance.callback, hidden=True))

COMMANDS = [bookings_cli]
