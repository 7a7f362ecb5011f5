"""Structured logs for production: one JSON object per line on stderr, without personal data or secrets.

`LOG_FORMAT=json` (the production default) turns it on. Every line has `ts` (UTC, ISO 8601), `level`,
`logger`, `message`, and inside a request `request_id` (from the reverse proxy's `X-Request-ID` when it is a
plain token, otherwise a fresh one), `method` and `path`. One line per request (`event: "request"`) adds
`status` and `duration_ms`.

Left out on purpose: query strings (search terms, `next`), IP addresses (the reverse proxy keeps those for a
short time, see the Datenschutzerklärung), e-mail addresses, user names, cookies and headers. Only the keys in
`ALLOWED_EXTRA` pass from `logger.info(..., extra={...})`, so a password or token handed to `extra` by
mistake never reaches the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context, request
from werkzeug.wrappers import Response

ALLOWED_EXTRA = frozenset(
    {"event", "status", "duration_ms", "retry_after", "period", "count", "booking_id", "transfer_id", "member_id"}
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = getattr(g, "request_id", None)
            entry["method"] = request.method
            entry["path"] = request.path
        entry.update({key: value for key, value in vars(record).items() if key in ALLOWED_EXTRA})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def init_app(app: Flask) -> None:
    if app.config.get("LOG_FORMAT") != "json":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    app.logger.handlers = [handler]
    app.logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    app.logger.propagate = False

    @app.before_request
    def start_request_log() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def request_log(response: Response) -> Response:
        started = getattr(g, "request_started", None)
        duration = round((time.perf_counter() - started) * 1000, 1) if started else None
        app.logger.info("request", extra={"event": "request", "status": response.status_code, "duration_ms": duration})
        response.headers.setdefault("X-Request-ID", getattr(g, "request_id", ""))
        return response
