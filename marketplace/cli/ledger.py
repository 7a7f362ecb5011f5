"""`flask ledger verify`: the hash chain, every transfer's zero sum and every cached balance."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from marketplace.ledger.queries import verify_ledger

ledger_cli = AppGroup("ledger", help="The double-entry ledger.")


@ledger_cli.command("verify")
def ledger_verify() -> None:
    """Recompute the hash chain, every transfer's zero sum and every balance; exit 1 on any fault."""
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


COMMANDS = [ledger_cli]
