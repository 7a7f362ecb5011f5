"""Bearer-token authentication for the API (tokens are stored hashed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import g, request
from werkzeug.wrappers import Response

from marketplace.api.blueprint import api_bp
from marketplace.api.problems import problem
from marketplace.api.spec import public_endpoints
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.operations import touch_token
from marketplace.members.queries import user_by_token


@api_bp.before_request
def authenticate_bearer() -> Response | None:
    if request.endpoint in public_endpoints() or request.endpoint is None:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, plain = header.partition(" ")
    if scheme.lower() != "bearer" or not plain.strip():
        return problem(401, "Unauthorized", "Bitte mit „Authorization: Bearer <Token>“ anmelden.")
    found = user_by_token(plain.strip())
    if found is None:
        return problem(401, "Unauthorized", "Der Token ist ungültig oder widerrufen.")
    user, token = found
    if token.read_only and request.method not in ("GET", "HEAD", "OPTIONS"):
        return problem(403, "Forbidden", "Dieser Token darf nur lesen.")
    if _stale(token.last_used_at):
        touch_token(token)
        db.session.commit()
    g.api_user = user
    return None


#: "Last used" is recorded at most once a minute per token, so reads do not write on every request.
TOUCH_INTERVAL = timedelta(minutes=1)


def _stale(last_used: datetime | None) -> bool:
    if last_used is None:
        return True
    if last_used.tzinfo is None:  # SQLite returns naive UTC
        last_used = last_used.replace(tzinfo=UTC)
    return utcnow() - last_used >= TOUCH_INTERVAL


def api_user() -> User:
    return g.api_user
