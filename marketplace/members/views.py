"""Login, logout and the user's profile (with API tokens)."""

from __future__ import annotations

import math

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_limiter.util import get_remote_address as remote_address
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from marketplace.core.edge import errors_on, writes
from marketplace.core.errors import InvalidInput, TooManyAttempts
from marketplace.core.forms import ActionForm
from marketplace.core.urls import is_safe_next
from marketplace.extensions import db, limiter
from marketplace.members.forms import (
    ForgotPasswordForm,
    InvoiceProfileForm,
    LoginForm,
    SetPasswordForm,
    TokenCreateForm,
)
from marketplace.members.invoice_profiles import ProfileInput, invoice_profile_of, update_invoice_profile
from marketplace.members.login_guard import attempts_left, locked_for
from marketplace.members.models import InvoiceReference, Member, PaymentWay
from marketplace.members.operations import (
    create_api_token,
    end_sessions,
    log_in,
    request_password_reset,
    revoke_token,
    set_password_with_token,
    token_user,
)
from marketplace.members.queries import own_token, tokens_of

bp = Blueprint("members", __name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    form = LoginForm()
    if request.method == "POST" and (wait := locked_for(request.form.get("email") or "", remote_address())):
        return _locked(wait)  # whatever else was sent, also a form the validators refuse
    if form.validate_on_submit():
        try:
            user = log_in(form.email.data, form.password.data, remote_address())
        except TooManyAttempts as locked:  # the failure limit was reached by a parallel request just now
            return _locked(locked.retry_after)
        except InvalidInput:
            form.form_errors.append(_("E-Mail-Adresse oder Passwort sind falsch."))
            left = attempts_left(form.email.data or "", remote_address())
            if 0 < left <= LOCKOUT_WARNING_AT:
                form.form_errors.append(
                    ngettext(
                        "Noch %(num)d Versuch, dann wird die Anmeldung für einige Minuten gesperrt. "
                        "Haben Sie Ihr Passwort vergessen? Dann setzen Sie es besser jetzt neu.",
                        "Noch %(num)d Versuche, dann wird die Anmeldung für einige Minuten gesperrt. "
                        "Haben Sie Ihr Passwort vergessen? Dann setzen Sie es besser jetzt neu.",
                        left,
                    )
                )
            user = None
        if user is not None:
            lang = session.get("lang")
            session.clear()  # a fresh session on login (no fixation)
            if lang:
                session["lang"] = lang
            login_user(user)
            flash(_("Willkommen, %(name)s.", name=user.name), "success")
            target = request.args.get("next")
            return redirect(target if is_safe_next(target) else url_for("web.index"))
    return render_template("members/login.html", form=form), 200 if not form.errors and not form.form_errors else 422


#: From how many attempts left on a login warns that the account will be locked.
LOCKOUT_WARNING_AT = 2


def _locked(wait: int) -> Response:
    """The page of a locked login: 429 with `Retry-After`, in whole minutes for the person."""
    message = _(
        "Zu viele fehlgeschlagene Anmeldeversuche. Die Anmeldung ist vorübergehend gesperrt; "
        "bitte versuchen Sie es in %(minutes)d Minuten erneut.",
        minutes=max(1, math.ceil(wait / 60)),
    )
    response = current_app.make_response((render_template("members/locked.html", message=message), 429))
    response.headers["Retry-After"] = str(wait)
    return response


@bp.route("/logout", methods=["GET", "POST"])
@writes
def logout() -> Response | str:
    if request.method == "GET":  # logging out changes state: confirm with a CSRF-protected button
        if not current_user.is_authenticated:
            return redirect(url_for("web.index"))
        return render_template("members/logout.html", form=ActionForm())
    if not ActionForm().validate_on_submit():
        return redirect(url_for("members.logout"))
    if current_user.is_authenticated:
        # Server-side: a copy of the session cookie (another tab, a saved cookie) stops working too.
        end_sessions(current_user._get_current_object())
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("Sie sind abgemeldet."), "info")
    return redirect(url_for("web.index"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
@writes
def profile() -> Response | str:
    form = TokenCreateForm(formdata=None)
    new_token = None
    if request.method == "POST":
        form = TokenCreateForm()
        if form.validate_on_submit():
            _token, new_token = create_api_token(
                current_user, form.name.data.strip(), read_only=form.scope.data == "read"
            )
            flash(_("Der Token wird nur jetzt angezeigt. Bitte kopieren Sie ihn."), "warning")
    return render_template(
        "members/profile.html",
        token_form=form,
        new_token=new_token,
        tokens=tokens_of(current_user),
        action_form=ActionForm(formdata=None),
    )


@bp.post("/profile/tokens")
@login_required
@writes
def create_token() -> Response | str | tuple[str, int]:
    form = TokenCreateForm()
    if not form.validate_on_submit():
        return render_template("members/token_new.html", token_form=form), 422
    token, plain = create_api_token(current_user, form.name.data.strip(), read_only=form.scope.data == "read")
    return render_template("members/token_created.html", token=token, plain=plain)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
@writes
def revoke_token_view(token_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    token = own_token(current_user, token_id)
    revoke_token(current_user, token)
    flash(_("Der Token „%(name)s“ ist widerrufen.", name=token.name), "success")
    return redirect(url_for("members.profile") + "#tokens")


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@writes
def forgot_password() -> Response | str:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        request_password_reset(form.email.data)
        # the same answer whether or not the address exists (no account enumeration)
        flash(_("Wenn die Adresse bei uns bekannt ist, erhalten Sie in Kürze eine E-Mail mit einem Link."), "info")
        return redirect(url_for("members.login"))
    return render_template("members/forgot.html", form=form)


@bp.route("/password/set/<token>", methods=["GET", "POST"])
@writes
def set_password(token: str) -> Response | tuple[str, int]:
    if token_user(token) is None:
        return render_template(
            "errors/error.html",
            status=404,
            message=_("Dieser Link ist ungültig, abgelaufen oder wurde schon verwendet."),
        ), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        with errors_on(form, InvalidInput):
            set_password_with_token(token, form.password.data)
            flash(_("Ihr Passwort ist gesetzt. Bitte melden Sie sich an."), "success")
            return redirect(url_for("members.login"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("members/set_password.html", form=form), status


@bp.route("/members/<int:member_id>/invoice-profile", methods=["GET", "POST"])
@login_required
@writes
def invoice_profile(member_id: int) -> Response | tuple[str, int]:
    """The member's invoice profile and payment way: its finance staff and the operator's keep it."""
    member = db.session.get(Member, member_id)
    if member is None or not current_user.can_manage_invoice_profile(member_id):
        abort(404)
    profile = invoice_profile_of(member.id)
    if request.method == "GET":
        form = InvoiceProfileForm(
            data={
                "required": [reference.value for reference in profile.required_references],
                **{reference.value: profile.default(reference) for reference in InvoiceReference},
                "payment_way": profile.payment_way.value,
                "mandate_reference": profile.mandate_reference or "",
                "mandate_iban": profile.mandate_iban or "",
                "sepa_creditor_id": member.sepa_creditor_id or "",
            }
        )
    else:
        form = InvoiceProfileForm()
    if form.validate_on_submit():
        with errors_on(form, InvalidInput):
            update_invoice_profile(
                current_user,
                member,
                ProfileInput(
                    required=list(form.required.data or []),
                    defaults={reference.value: form[reference.value].data or "" for reference in InvoiceReference},
                    payment_way=PaymentWay(form.payment_way.data),
                    mandate_reference=form.mandate_reference.data,
                    mandate_iban=form.mandate_iban.data,
                    sepa_creditor_id=form.sepa_creditor_id.data if member.is_operator else None,
                ),
            )
            flash(_("Rechnungsprofil und Zahlungsweg von %(member)s sind gespeichert.", member=member.name), "success")
            return redirect(url_for("members.invoice_profile", member_id=member.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("members/invoice_profile.html", form=form, member=member, profile=profile), status
