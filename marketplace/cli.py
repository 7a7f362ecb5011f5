"""Command-line tasks: `flask seed-demo`, `flask tokens create`, `flask ledger verify`, `flask billing run`,
`flask billing worker`, `flask bookings advance`.

Each command commits once at its end, like a request.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack

import click
from flask import Flask
from flask.cli import AppGroup

from marketplace.core.errors import DomainError
from marketplace.core.money import format_eur
from marketplace.extensions import db

tokens_cli = AppGroup("tokens", help="API tokens.")
ledger_cli = AppGroup("ledger", help="The double-entry ledger.")
billing_cli = AppGroup("billing", help="Monthly billing runs.")
bookings_cli = AppGroup("bookings", help="Bookings.")


@click.command("seed-demo")
def seed_demo() -> None:
    """Create the demo members, users, services, bookings and ledger history (idempotent)."""
    from marketplace.seed import seed_demo_data

    created = seed_demo_data()
    db.session.commit()
    click.echo("Demo-Daten angelegt." if created else "Demo-Daten sind bereits vorhanden.")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="CLI", help="A label for the token.")
@click.option("--read-only", is_flag=True, help="The token may only read.")
def tokens_create(email: str, name: str, read_only: bool) -> None:
    """Print a new API token for EMAIL (the last line of the output)."""
    from marketplace.members.operations import create_api_token
    from marketplace.members.queries import user_by_email

    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"Kein Benutzer mit der E-Mail-Adresse {email}.")
    _token, plain = create_api_token(user, name, read_only=read_only)
    db.session.commit()
    click.echo(f"Neuer API-Token für {user.email} (nur jetzt sichtbar):")
    click.echo(plain)


@ledger_cli.command("verify")
def ledger_verify() -> None:
    """Recompute the hash chain, every transfer's zero sum and every balance; exit 1 on any fault."""
    from marketplace.ledger.queries import verify_ledger

    report = verify_ledger()
    if report.ok:
        click.echo(f"Hauptbuch in Ordnung: {report.transfers} Buchungen, {report.postings} Posten geprüft.")
        return
    if report.first_bad_transfer_id is not None:
        click.echo(f"Erste fehlerhafte Buchung: {report.first_bad_transfer_id}", err=True)
    else:
        click.echo("Die Buchungen sind in Ordnung, aber nicht die gespeicherten Salden:", err=True)
    for problem in report.problems[:50]:
        click.echo(f"  {problem}", err=True)
    sys.exit(1)


@billing_cli.command("run")
@click.argument("period")
@click.option("--as", "email", default=None, help="Operator finance user recorded as the actor.")
def billing_run(period: str, email: str | None) -> None:
    """Charge every billable booking of PERIOD (YYYY-MM) once."""
    from marketplace.members.queries import user_by_email
    from marketplace.monthend.billing import run_billing

    actor = user_by_email(email) if email else None
    if email and actor is None:
        raise click.ClickException(f"Kein Benutzer mit der E-Mail-Adresse {email}.")
    with ExitStack() as stack:
        bars: list = []

        def report(count: int, total: int) -> None:
            if not bars:  # the total is known once the charges are computed
                bars.append(stack.enter_context(click.progressbar(length=total, label=f"Abrechnung {period}")))
            bars[0].update(count)

        try:
            run = run_billing(period, actor, progress=report)
        except DomainError as error:
            raise click.ClickException(error.detail) from None
    db.session.commit()
    click.echo(f"{run.transfers_created} Buchungen erstellt, Summe {format_eur(run.total_cents)}")
    for item in run.skipped:
        click.echo(f"Buchung {item['booking_id']} nicht abgerechnet: {item['reason']}", err=True)


@billing_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty instead of waiting for more.")
def billing_worker(burst: bool) -> None:
    """Run the large billing runs queued in Redis (REDIS_URL), one after another."""
    from flask import current_app

    from marketplace.monthend.jobs import work

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException(
            "REDIS_URL ist nicht gesetzt; große Abrechnungsläufe laufen dann im Anwendungsprozess."
        )
    taken = work(burst=burst)
    click.echo(f"{taken} Abrechnungsläufe ausgeführt")


@bookings_cli.command("advance")
def bookings_advance() -> None:
    """Record the status changes the dates have made (accepted -> active -> ended); run daily."""
    from marketplace.bookings.operations import advance_booking_statuses
    from marketplace.core.timeutil import today

    moved = advance_booking_statuses(today())
    db.session.commit()
    click.echo(f"{moved} Statuswechsel")


# the job's former name, so that cron entries written for it keep working
bookings_cli.add_command(click.Command("refresh", callback=bookings_advance.callback, hidden=True))


def init_app(app: Flask) -> None:
    app.cli.add_command(seed_demo)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(billing_cli)
    app.cli.add_command(bookings_cli)
