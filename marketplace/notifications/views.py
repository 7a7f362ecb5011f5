"""Each user's e-mail preferences, and the `flask outbox send` command."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.core.edge import writes
from marketplace.core.forms import ActionForm
from marketplace.notifications.models import NotificationKind
from marketplace.notifications.operations import (
    OPTIONAL_KINDS,
    preferences_of,
    set_preferences,
)

bp = Blueprint("notifications", __name__)

KIND_LABELS = {
    NotificationKind.BOOKING_REQUESTED: _l("Neue Anfrage zu einer Leistung meiner Stelle (Anbieter)"),
    NotificationKind.BOOKING_DECIDED: _l("Entscheidung über eine Anfrage meiner Stelle"),
    NotificationKind.BOOKING_CANCELLED: _l("Kündigung einer Buchung"),
    NotificationKind.BOOKING_MESSAGE: _l("Neue Nachricht zu einer Buchung"),
    NotificationKind.USAGE_ENTERED: _l("Gemeldeter Verbrauch zur Prüfung"),
    NotificationKind.USAGE_DISPUTED: _l("Bestrittener Verbrauch"),
    NotificationKind.BILLING: _l("Abrechnungen, Rechnungen und Kostenteilungen"),
}


@bp.route("/profile/notifications", methods=["GET", "POST"])
@login_required
@writes
def preferences() -> Response | str:
    from flask import request

    form = ActionForm()
    if form.validate_on_submit():
        chosen = set(request.form.getlist("kinds"))
        set_preferences(current_user, [kind for kind in OPTIONAL_KINDS if kind.value in chosen])
        flash(_("Ihre Einstellungen sind gespeichert."), "success")
        return redirect(url_for("notifications.preferences"))
    return render_template(
        "notifications/preferences.html", form=form, preferences=preferences_of(current_user), labels_kind=KIND_LABELS
    )
