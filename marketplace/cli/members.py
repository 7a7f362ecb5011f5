"""`flask tokens create EMAIL`: an API token for a user, printed as the last line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from marketplace.extensions import db
from marketplace.members.operations import create_api_token
from marketplace.members.queries import user_by_email

tokens_cli = AppGroup("tokens", help="API tokens.")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="CLI", help="A label for the token.")
@click.option("--read-only", is_flag=True, help="The token may only read.")
def tokens_create(email: str, name: str, read_only: bool) -> None:
    """Print a new API token for EMAIL (the last line of the output)."""
    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"Kein Benutzer mit der E-Mail-Adresse {email}.")
    _token, plain = create_api_token(user, name, read_only=read_only)
    db.session.commit()
    click.echo(f"Neuer API-Token für {user.email} (nur jetzt sichtbar):")
    click.echo(plain)


COMMANDS = [tokens_cli]
