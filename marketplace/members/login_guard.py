"""Temporary lockout after repeated failed logins, per account and per client address.

The login form's view stays as it is; this guard wraps the endpoint from outside:
- before a login POST: if the account (the e-mail typed) or the address has failed too often within the
  window, answer 429 with `Retry-After` and a German message, whatever the password;
- after it: a refused login with both fields filled (422) counts one failure for the account and the
  address; a successful login clears the counter of the account that logged in (not the address's, so one
  valid account cannot be used to reset an attacker's address). Only a login that really happened counts
  as a success (Flask-Login's `user_logged_in` signal), not any redirect: a user who is signed in already
  is redirected whatever address it posts, and must not reset another account's counter that way.

Counters live in the rate-limit storage of Flask-Limiter (`RATELIMIT_STORAGE_URI`: memory for one process,
Redis when several app servers run), keyed by a hash of the e-mail, never the address itself.
The plain throttle (`LOGIN_RATE_LIMIT` on the view) limits all login POSTs of an address on top of this.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from flask import Flask, current_app, g, render_template, request
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import user_logged_in
from limits import RateLimitItem, parse
from werkzeug.wrappers import Response

from marketplace.extensions import limiter

LOGIN_ENDPOINT = "members.login"


def _account_key(email: str) -> str:
    return "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _address_key() -> str:
    return "address:" + (get_remote_address() or "unknown")


def _limits() -> list[tuple[RateLimitItem, str]]:
    config = current_app.config
    keys = []
    email = (request.form.get("email") or "").strip()
    if email:
        keys.append((parse(config["LOGIN_LOCKOUT_ACCOUNT"]), _account_key(email)))
    keys.append((parse(config["LOGIN_LOCKOUT_ADDRESS"]), _address_key()))
    return keys


def _locked_for() -> int:
    """Seconds until the login may be tried again (0: not locked)."""
    wait = 0
    for item, key in _limits():
        if not limiter.limiter.test(item, "login-failures", key):
            reset_at, _remaining = limiter.limiter.get_window_stats(item, "login-failures", key)
            wait = max(wait, math.ceil(reset_at - time.time()), 1)
    return wait


def _note_login(_app: Flask, user: Any, **_extra: Any) -> None:
    """Flask-Login announced a login in this request: its account's failures may be forgotten."""
    g.login_guard_logged_in = user.email


def init_app(app: Flask) -> None:
    user_logged_in.connect(_note_login, app)

    @app.before_request
    def refuse_locked_login() -> Response | None:
        if request.method != "POST" or request.endpoint != LOGIN_ENDPOINT:
            return None
        wait = _locked_for()
        if not wait:
            return None
        minutes = max(1, math.ceil(wait / 60))
        message = _(
            "Zu viele fehlgeschlagene Anmeldeversuche. Die Anmeldung ist vorübergehend gesperrt; "
            "bitte versuchen Sie es in %(minutes)d Minuten erneut.",
            minutes=minutes,
        )
        response = app.make_response((render_template("errors/error.html", status=429, message=message), 429))
        response.headers["Retry-After"] = str(wait)
        app.logger.warning("login locked", extra={"event": "login_locked", "retry_after": wait})
        return response

    @app.after_request
    def count_login_failures(response: Response) -> Response:
        if request.method != "POST" or request.endpoint != LOGIN_ENDPOINT:
            return response
        email = (request.form.get("email") or "").strip()
        logged_in = g.pop("login_guard_logged_in", None)
        if response.status_code == 422 and email and request.form.get("password"):
            for item, key in _limits():
                limiter.limiter.hit(item, "login-failures", key)
            app.logger.info("login failed", extra={"event": "login_failed"})
        elif logged_in is not None:
            item = parse(app.config["LOGIN_LOCKOUT_ACCOUNT"])
            limiter.limiter.clear(item, "login-failures", _account_key(logged_in))
        return response
