"""Temporary lockout after repeated failed logins, per account and per client address.

The counters behind `members.operations.log_in`: a refused login (both fields filled) counts one failure
for the account (the e-mail typed) and for the address; while either has failed too often within its
window (`LOGIN_LOCKOUT_ACCOUNT`, `LOGIN_LOCKOUT_ADDRESS`), every login is refused with `LoginLocked`
(429 with `Retry-After`), whatever the password. Only a successful login of an account forgets that
account's failures (not the address's, so one valid account cannot be used to reset an attacker's address).

Counters live in the rate-limit storage of Flask-Limiter (`RATELIMIT_STORAGE_URI`: memory for one process,
Redis when several app servers run), keyed by a hash of the e-mail, never the address itself.
The plain throttle (`LOGIN_RATE_LIMIT` on the view) limits all login POSTs of an address on top of this.
"""

from __future__ import annotations

import hashlib
import math
import time

from flask import current_app
from limits import RateLimitItem, parse

from marketplace.extensions import limiter

_NAMESPACE = "login-failures"


def _account_key(email: str) -> str:
    return "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _limits(email: str, address: str) -> list[tuple[RateLimitItem, str]]:
    config = current_app.config
    keys = []
    if email.strip():
        keys.append((parse(config["LOGIN_LOCKOUT_ACCOUNT"]), _account_key(email)))
    keys.append((parse(config["LOGIN_LOCKOUT_ADDRESS"]), "address:" + (address or "unknown")))
    return keys


def locked_for(email: str, address: str) -> int:
    """Seconds until a login for `email` from `address` may be tried again (0: not locked)."""
    wait = 0
    for item, key in _limits(email, address):
        if not limiter.limiter.test(item, _NAMESPACE, key):
            reset_at, _remaining = limiter.limiter.get_window_stats(item, _NAMESPACE, key)
            wait = max(wait, math.ceil(reset_at - time.time()), 1)
    return wait


def attempts_left(email: str, address: str) -> int:
    """How many more failed logins for `email` from `address` the lockout allows (the tighter of both)."""
    return min(limiter.limiter.get_window_stats(item, _NAMESPACE, key)[1] for item, key in _limits(email, address))


def record_failure(email: str, address: str) -> None:
    for item, key in _limits(email, address):
        limiter.limiter.hit(item, _NAMESPACE, key)


def forget_failures(email: str) -> None:
    """The account logged in: its failures are forgiven (the address's stay)."""
    limiter.limiter.clear(parse(current_app.config["LOGIN_LOCKOUT_ACCOUNT"]), _NAMESPACE, _account_key(email))
