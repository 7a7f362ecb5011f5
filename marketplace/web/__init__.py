"""Request plumbing for the HTML side: errors, security headers, template helpers, the user loader."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from flask import Flask, flash, g, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from marketplace.core import readonly
from marketplace.core.errors import DomainError, error_renderer_for
from marketplace.core.money import format_eur
from marketplace.core.timeutil import month_label
from marketplace.core.validators import check_request_input
from marketplace.extensions import db, login_manager
from marketplace.members.models import Role
from marketplace.members.queries import user_for_session
from marketplace.web import logs

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'none'; object-src 'none'"
)


#: Pages and downloads with members' money are never kept by a browser or proxy cache: on a shared office
#: computer the back button or the cache would show them to the next person. The finance areas by
#: blueprint (every page, statement and export in it); the API marks its own money answers.
NO_STORE_BLUEPRINTS = frozenset({"ledger", "settlement", "costsharing", "corrections"})


def init_app(app: Flask) -> None:
    login_manager.login_view = "members.login"
    login_manager.login_message = "Bitte melden Sie sich an, um diese Seite zu sehen."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> Any:
        return user_for_session(user_id)

    proxies = int(app.config.get("TRUSTED_PROXIES", 0) or 0)
    if proxies:  # behind a reverse proxy: the client's address and scheme come from its X-Forwarded-* headers
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    app.before_request(check_request_input)  # first: the views may put text into SQL

    logs.init_app(app)
    readonly.init_app(app)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.blueprint in NO_STORE_BLUEPRINTS:
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Any:
        db.session.rollback()
        if render := error_renderer_for(app, request.path):
            return render(error)
        if error.status in (403, 404):
            return render_template("errors/error.html", status=error.status, message=error.detail), error.status
        flash(error.detail, "danger")
        return redirect(request.referrer if _same_site(request.referrer) else url_for("web.index"))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        db.session.rollback()
        if render := error_renderer_for(app, request.path):
            return render(error)
        messages = {
            400: _("Die Anfrage war fehlerhaft. Bitte laden Sie die Seite neu und versuchen Sie es erneut."),
            403: _("Dafür fehlt Ihnen die Berechtigung."),
            404: _("Diese Seite gibt es nicht."),
            405: _("Diese Aktion ist hier nicht möglich."),
            413: _("Die gesendeten Daten sind zu groß."),
            429: _("Zu viele Versuche. Bitte warten Sie einen Moment und versuchen Sie es dann erneut."),
        }
        code = error.code or 500
        message = messages.get(code, error.description)
        response = app.make_response((render_template("errors/error.html", status=code, message=message), code))
        if code == 429 and error.response is not None and error.response.headers.get("Retry-After"):
            response.headers["Retry-After"] = error.response.headers["Retry-After"]
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if render := error_renderer_for(app, request.path):
            return render(error)
        return render_template(
            "errors/error.html", status=500, message=_("Ein unerwarteter Fehler ist aufgetreten.")
        ), 500

    @app.template_filter("eur")
    def eur_filter(cents: int | None) -> str:
        if cents is None:
            return "–"
        return format_eur(int(cents), locale="de_DE" if str(get_locale()) == "de" else "en_GB")

    @app.template_filter("menge")
    def quantity_filter(value: Any) -> str:
        """A quantity as the language writes it (``12,5`` / ``12.5``), without trailing zeros."""
        locale = "de_DE" if str(get_locale()) == "de" else "en_GB"
        return format_decimal(Decimal(value).normalize(), format="#,##0.###", locale=locale)

    @app.template_filter("datum")
    def date_filter(value: Any) -> str:
        return format_date(value, "medium") if value else "–"

    @app.template_filter("monat")
    def month_filter(period: str | None) -> str:
        return month_label(period) if period else "–"

    @app.context_processor
    def template_globals() -> dict[str, Any]:
        from marketplace.web.labels import LABELS

        return {"current_lang": str(get_locale()), "nav_items": _nav_items(), "labels": LABELS}

    @app.before_request
    def remember_path() -> None:
        g.request_path = request.path


def _same_site(url: str | None) -> bool:
    if not url:
        return False
    return url.startswith(request.host_url)


def _nav_items() -> list[tuple[str, str, str]]:
    """(endpoint, label, path) for the navigation, by the user's roles."""
    items = [("catalogue.index", _("Leistungen"), "/services")]
    if not current_user.is_authenticated:
        return items
    if current_user.has_role(Role.PROVIDER):
        items.append(("catalogue.mine", _("Meine Angebote"), "/services/mine"))
    if current_user.has_role(Role.BUYER, Role.PROVIDER) or current_user.is_operator_staff:
        items.append(("bookings.index", _("Buchungen"), "/bookings"))
    if current_user.is_finance:
        items.append(("ledger.index", _("Konten"), "/ledger"))
        items.append(("settlement.settlements", _("Verrechnung"), "/settlements"))
        items.append(("corrections.releases", _("Freigaben"), "/releases"))
    elif current_user.has_role(Role.BUYER, Role.PROVIDER):  # read-only: what the member owes or is owed
        items.append(("settlement.invoices", _("Rechnungen"), "/invoices"))
    if current_user.has_role(Role.BUYER, Role.PROVIDER) or current_user.is_finance:
        items.append(("corrections.index", _("Korrekturen"), "/corrections"))
    if current_user.has_role(Role.BUYER, Role.PROVIDER) or current_user.is_finance:
        items.append(("costsharing.index", _("Kostenteilung"), "/cost-sharing/"))
    if current_user.is_operator_admin or current_user.has_role(Role.MEMBER_ADMIN):
        items.append(("admin.index", _("Verwaltung"), "/admin"))
    return items
