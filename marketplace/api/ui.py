"""The API's HTML side: tokens in the profile and the readable API reference rendered from the OpenAPI
document (the webhooks pages are `marketplace.webhooks.views`)."""

from __future__ import annotations

from typing import Any

import click
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from marketplace.api.forms import TokenCreateForm
from marketplace.api.tokens import own_token, revoke_token, tokens_of
from marketplace.core.forms import ActionForm
from marketplace.extensions import db
from marketplace.members.operations import create_api_token

bp = Blueprint("api_ui", __name__, cli_group=None)


@bp.app_template_global()
def api_tokens() -> list[Any]:
    """The signed-in user's tokens (for the profile page)."""
    return tokens_of(current_user) if current_user.is_authenticated else []


@bp.app_template_global()
def api_token_form() -> TokenCreateForm:
    return TokenCreateForm(formdata=None)


@bp.app_template_global()
def api_action_form() -> ActionForm:
    return ActionForm(formdata=None)


@bp.post("/profile/tokens")
@login_required
def create_token() -> Response | str | tuple[str, int]:
    form = TokenCreateForm()
    if not form.validate_on_submit():
        return render_template("api/token_new.html", form=form), 422
    _token, plain = create_api_token(current_user, form.name.data.strip(), read_only=form.scope.data == "read")
    db.session.commit()
    return render_template("api/token_created.html", token=_token, plain=plain)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    token = own_token(current_user, token_id)
    revoke_token(current_user, token)
    db.session.commit()
    flash(_("Der Token „%(name)s“ ist widerrufen.", name=token.name), "success")
    return redirect(url_for("members.profile") + "#tokens")


@bp.cli.group("idempotency", help="Gespeicherte Antworten idempotenter API-Anfragen.")
def idempotency_cli() -> None:
    pass


@idempotency_cli.command("purge")
def idempotency_purge() -> None:
    """Antworten löschen, die älter als 24 Stunden sind (sie werden ohnehin nicht mehr wiederholt)."""
    from marketplace.api.idempotency import purge_expired

    removed = purge_expired()
    db.session.commit()
    click.echo(f"gelöscht: {removed}")


# --- the API reference -----------------------------------------------------------------------------------


@bp.get("/api-docs")
def reference() -> str:
    """The API described for people, rendered on the server from the same OpenAPI document."""
    from marketplace.api.reference import reference_context

    return render_template("api/reference.html", **reference_context())
