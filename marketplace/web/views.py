"""Start page, language choice, the legal pages and the health check."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_login import current_user
from sqlalchemy import text
from werkzeug.wrappers import Response

from marketplace.core.urls import is_safe_next
from marketplace.extensions import db

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str:
    summary, todos, news = None, [], []
    if current_user.is_authenticated:
        from marketplace.web.dashboard import start_summary
        from marketplace.web.todos import news_for, todos_for

        summary = start_summary(current_user)
        todos, news = todos_for(current_user), news_for(current_user)
    return render_template("web/index.html", summary=summary, todos=todos, news=news)


@bp.get("/sprache/<lang>")
def set_language(lang: str) -> Response:
    if lang in ("de", "en"):
        session["lang"] = lang
    target = request.args.get("next")
    return redirect(target if is_safe_next(target) else url_for("web.index"))


@bp.get("/impressum")
def imprint() -> str:
    return render_template("legal/impressum.html")


@bp.get("/datenschutz")
def privacy() -> str:
    return render_template("legal/datenschutz.html")


@bp.get("/barrierefreiheit")
def accessibility() -> str:
    """The accessibility statement; `?seite=/path` names the page a reported barrier is on (footer link)."""
    page = request.args.get("seite")
    reported_page = request.host_url.rstrip("/") + page if is_safe_next(page) else None
    return render_template("legal/barrierefreiheit.html", reported_page=reported_page)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it at the root whatever the page says; the same icon as the page's link."""
    return send_from_directory(
        current_app.static_folder or "static", "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86400
    )


@bp.get("/healthz")
def health() -> Response:
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")
