"""`flask billing run PERIOD`: the month's billing run, with a progress bar; `flask billing worker`: the
large runs queued in Redis."""

from __future__ import annotations

from contextlib import ExitStack

import click
from flask import current_app
from flask.cli import AppGroup

from marketplace.core.errors import DomainError
from marketplace.core.money import format_eur
from marketplace.extensions import db
from marketplace.members.queries import user_by_email
from marketplace.monthend.billing import run_billing
from marketplace.monthend.jobs import work

billing_cli = AppGroup("billing", help="Monthly billing runs.")


@billing_cli.command("run")
@click.argument("period")
@click.option("--as", "email", default=None, help="Operator finance user recorded as the actor.")
def billing_run(period: str, email: str | None) -> None:
    """Charge every billable booking of PERIOD (YYYY-MM) once."""
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
            run = run_billing(actor, period, progress=report)
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
    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException(
            "REDIS_URL ist nicht gesetzt; große Abrechnungsläufe laufen dann im Anwendungsprozess."
        )
    taken = work(burst=burst)
    click.echo(f"{taken} Abrechnungsläufe ausgeführt")


COMMANDS = [billing_cli]
