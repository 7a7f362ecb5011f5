"""The API's HTML side: members' webhook endpoints with their delivery log, and the
readable API reference rendered from the OpenAPI document."""

from __future__ import annotations

from typing import Any

import click
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.api.forms import WebhookForm
from marketplace.api.models import WebhookDelivery
from marketplace.api.webhooks import (
    EVENT_TYPES,
    can_manage_webhooks,
    create_endpoint,
    deactivate_endpoint,
    deliveries_of,
    endpoint_for,
    endpoints_of,
    retry_delivery,
    send_due,
    send_ping,
)
from marketplace.core.forms import ActionForm
from marketplace.extensions import db

bp = Blueprint("api_ui", __name__, cli_group=None)


# --- webhooks of the member (member admins) -------------------------------------------------------------


@bp.app_template_global("can_manage_webhooks")
def _can_manage_webhooks(user: Any) -> bool:
    return bool(user.is_authenticated and can_manage_webhooks(user))


def _require_webhook_admin() -> None:
    if not can_manage_webhooks(current_user):
        abort(403)


@bp.route("/webhooks", methods=["GET", "POST"])
@login_required
def webhooks() -> Response | str | tuple[str, int]:
    _require_webhook_admin()
    form = WebhookForm()
    if form.validate_on_submit():
        endpoint = create_endpoint(current_user, form.url.data, form.description.data or "")
        db.session.commit()
        return render_template("api/webhook_created.html", endpoint=endpoint)
    status = 422 if form.errors else 200
    return render_template(
        "api/webhooks.html",
        form=form,
        endpoints=endpoints_of(current_user.member_id),
        event_types=EVENT_TYPES,
        action=ActionForm(formdata=None),
    ), status


@bp.get("/webhooks/<int:endpoint_id>")
@login_required
def webhook(endpoint_id: int) -> str:
    endpoint = endpoint_for(current_user, endpoint_id)
    return render_template(
        "api/webhook.html", endpoint=endpoint, deliveries=deliveries_of(endpoint), action=ActionForm(formdata=None)
    )


@bp.post("/webhooks/<int:endpoint_id>/ping")
@login_required
def webhook_ping(endpoint_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    endpoint = endpoint_for(current_user, endpoint_id)
    send_ping(current_user, endpoint)
    db.session.commit()
    flash(_("Ein Test-Ereignis („ping“) wird beim nächsten Versand zugestellt."), "success")
    return redirect(url_for("api_ui.webhook", endpoint_id=endpoint.id))


@bp.post("/webhooks/<int:endpoint_id>/deactivate")
@login_required
def webhook_deactivate(endpoint_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    endpoint = endpoint_for(current_user, endpoint_id)
    deactivate_endpoint(current_user, endpoint)
    db.session.commit()
    flash(_("Der Webhook ist abgeschaltet."), "success")
    return redirect(url_for("api_ui.webhooks"))


@bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/retry")
@login_required
def webhook_retry(endpoint_id: int, delivery_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    endpoint = endpoint_for(current_user, endpoint_id)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        abort(404)
    retry_delivery(current_user, delivery)
    db.session.commit()
    flash(_("Die Zustellung wird beim nächsten Versand wiederholt."), "success")
    return redirect(url_for("api_ui.webhook", endpoint_id=endpoint.id))


@bp.cli.group("webhooks", help="Webhooks an Mitglieder zustellen.")
def webhooks_cli() -> None:
    pass


@webhooks_cli.command("send")
@click.option("--limit", default=500, show_default=True, help="Höchstens so viele Zustellungen in diesem Lauf.")
def webhooks_send(limit: int) -> None:
    """Fällige Webhooks signiert zustellen; Fehlschläge werden mit wachsendem Abstand wiederholt."""
    result = send_due(limit=limit)
    click.echo(f"zugestellt: {result.delivered}, später erneut: {result.retrying}, aufgegeben: {result.failed}")


# --- the API reference -----------------------------------------------------------------------------------


@bp.get("/api-docs")
def reference() -> str:
    """The API described for people, rendered on the server from the same OpenAPI document."""
    from marketplace.api.reference import reference_context

    return render_template("api/reference.html", **reference_context())
