"""Limits of the API: requests per token and minute, and the size of a request body.

- Rate: ``API_RATE_LIMIT`` (config or environment; default ``1000 per minute``) per bearer token (by a
  hash of the ``Authorization`` header; requests without one count per client address). Exceeding it
  is a 429 problem with ``Retry-After``. Counters live in Flask-Limiter's storage
  (``RATELIMIT_STORAGE_URI``: memory per process by default, Redis for several servers).
- Size: ``API_MAX_BODY_BYTES`` (default 64 KiB); a larger body is a 413 problem before it is read.
- Time: gunicorn aborts a request after ``--timeout`` seconds (30 by default); outbound webhook calls
  time out after 10 seconds.
"""

from __future__ import annotations

import hashlib
import os

from flask import current_app, request
from flask_limiter.util import get_remote_address

from marketplace.api.blueprint import api_bp
from marketplace.extensions import limiter

DEFAULT_RATE = "1000 per minute"
DEFAULT_MAX_BODY = 64 * 1024


def rate_key() -> str:
    header = request.headers.get("Authorization", "")
    if header:
        return "api-token:" + hashlib.sha256(header.encode()).hexdigest()[:32]
    return "api-address:" + (get_remote_address() or "unknown")


def rate_limit() -> str:
    return str(current_app.config.get("API_RATE_LIMIT") or os.environ.get("API_RATE_LIMIT") or DEFAULT_RATE)


limiter.limit(rate_limit, key_func=rate_key, per_method=False)(api_bp)


@api_bp.before_request
def limit_body_size() -> None:
    request.max_content_length = int(current_app.config.get("API_MAX_BODY_BYTES") or DEFAULT_MAX_BODY)
