"""Each user's e-mail preferences, and the `flask outbox send` command."""

from __future__ import annotations

import click
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.core.forms import ActionForm
from marketplace.extensions import db
from marketplace.notifications.models import NotificationKind
from marketplace.notifications.operations import (
    OPTIONAL_KINDS,
    preferences_of,
    set_preferences,
)
from marketplace.notifications.sending import send_outbox

bp = Blueprint("notifications", __name__, cli_group="outbox")

KIND_LABELS = {
    NotificationKind.BOOKING_REQUESTED: _l("Neue Anfrage zu einer Leistung meiner Stelle (Anbieter)"),
    NotificationKind.BOOKING_DECIDED: _l("Entscheidung über eine Anfrage meiner Stelle"),
    NotificationKind.BOOKING_CANCELLED: _l("Kündigung einer Buchung"),
    NotificationKind.BOOKING_MESSAGE: _l("Neue Nachricht zu einer Buchung"),
    NotificationKind.USAGE_ENTERED: _l("Gemeldeter Verbrauch zur Prüfung"),
    NotificationKind.USAGE_DISPUTED: _l("Bestrittener Verbrauch"),
    NotificationKind.BILLING: _l("Monatliche Abrechnung (Finanzen)"),
}


@bp.cli.command("send")
@click.option("--limit", default=200, show_default=True, help="Höchstens so viele E-Mails senden.")
def send_command(limit: int) -> None:
    """Send queued e-mails over SMTP (printed to the console when SMTP_HOST is not set).

    Exits 1 when a message failed, naming each; the others are sent all the same."""
    report = send_outbox(limit, echo=click.echo)
    for failure in report.failures:
        outcome = "aufgegeben" if failure.final else "wird beim nächsten Lauf erneut versucht"
        click.echo(
            f"E-Mail {failure.message_id} an {failure.recipient} nicht gesendet ({outcome}): {failure.error}", err=True
        )
    click.echo(f"{report.sent} gesendet, {len(report.failures)} fehlgeschlagen")
    if report.failures:
        raise SystemExit(1)


@bp.route("/profile/notifications", methods=["GET", "POST"])
@login_required
def preferences() -> Response | str:
    from flask import request

    form = ActionForm()
    if form.validate_on_submit():
        chosen = set(request.form.getlist("kinds"))
        set_preferences(current_user, [kind for kind in OPTIONAL_KINDS if kind.value in chosen])
        db.session.commit()
        flash(_("Ihre Einstellungen sind gespeichert."), "success")
        return redirect(url_for("notifications.preferences"))
    return render_template(
        "notifications/preferences.html", form=form, preferences=preferences_of(current_user), labels_kind=KIND_LABELS
    )
