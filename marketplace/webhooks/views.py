"""The webhooks pages of a member's admins (endpoints, delivery log, ping, retry) and ``flask webhooks send``.

Thin: parse, load or 404, call one operation, commit once.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.core.forms import ActionForm
from marketplace.extensions import db
from marketplace.webhooks.forms import WebhookForm
from marketplace.webhooks.models import can_manage_webhooks
from marketplace.webhooks.operations import create_endpoint, deactivate_endpoint, retry_delivery, send_ping
from marketplace.webhooks.queries import deliveries_of, delivery_of, endpoint_for, endpoints_of
from marketplace.webhooks.subscribers import EVENT_TYPES

bp = Blueprint("webhooks", __name__)


@bp.app_template_global("can_manage_webhooks")
def _can_manage_webhooks(user: Any) -> bool:
    return bool(user.is_authenticated and can_manage_webhooks(user))


def _require_webhook_admin() -> None:
    if not can_manage_webhooks(current_user):
        abort(403)


@bp.route("/webhooks", methods=["GET", "POST"])
@login_required
def index() -> Response | str | tuple[str, int]:
    _require_webhook_admin()
    form = WebhookForm()
    if form.validate_on_submit():
        endpoint = create_endpoint(current_user, form.url.data, form.description.data or "")
        db.session.commit()
        return render_template("webhooks/created.html", endpoint=endpoint)
    status = 422 if form.errors else 200
    return render_template(
        "webhooks/index.html",
        form=form,
        endpoints=endpoints_of(current_user.member_id),
        event_types=EVENT_TYPES,
        action=ActionForm(formdata=None),
    ), status


@bp.get("/webhooks/<int:endpoint_id>")
@login_required
def endpoint(endpoint_id: int) -> str:
    found = endpoint_for(current_user, endpoint_id)
    return render_template(
        "webhooks/endpoint.html", endpoint=found, deliveries=deliveries_of(found), action=ActionForm(formdata=None)
    )


@bp.post("/webhooks/<int:endpoint_id>/ping")
@login_required
def ping(endpoint_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    found = endpoint_for(current_user, endpoint_id)
    send_ping(current_user, found)
    db.session.commit()
    flash(_("Ein Test-Ereignis („ping“) wird beim nächsten Versand zugestellt."), "success")
    return redirect(url_for("webhooks.endpoint", endpoint_id=found.id))


@bp.post("/webhooks/<int:endpoint_id>/deactivate")
@login_required
def deactivate(endpoint_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    found = endpoint_for(current_user, endpoint_id)
    deactivate_endpoint(current_user, found)
    db.session.commit()
    flash(_("Der Webhook ist abgeschaltet."), "success")
    return redirect(url_for("webhooks.index"))


@bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/retry")
@login_required
def retry(endpoint_id: int, delivery_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    found = endpoint_for(current_user, endpoint_id)
    retry_delivery(current_user, delivery_of(found, delivery_id))
    db.session.commit()
    flash(_("Die Zustellung wird beim nächsten Versand wiederholt."), "success")
    return redirect(url_for("webhooks.endpoint", endpoint_id=found.id))
