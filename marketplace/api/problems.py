"""RFC 9457 problem details: the one error shape of the API."""

from __future__ import annotations

from flask import Response, json
from werkzeug.exceptions import HTTPException

from marketplace.core.errors import DomainError

PROBLEM_TYPE_BASE = "https://leistungsboerse.example/problems/"
_TYPES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "too-many-requests",
    500: "internal",
}


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: dict[str, list[str]] | None = None,
    extensions: dict[str, object] | None = None,
) -> Response:
    body: dict[str, object] = {
        **(extensions or {}),
        "type": PROBLEM_TYPE_BASE + _TYPES.get(status, "error"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="leistungsboerse"'
    return response


def render_error(error: Exception) -> Response:
    """Any error under /api/ as problem+json: domain errors with their fields, HTTP errors with the headers
    their status needs (``Allow`` on 405, ``Retry-After`` on 429), anything else as a 500 without details."""
    if isinstance(error, DomainError):
        return problem(error.status, error.title, error.detail, errors=error.errors, extensions=error.extensions)
    if isinstance(error, HTTPException):
        response = problem(error.code or 500, error.name, error.description or error.name)
        if error.code == 405 and error.valid_methods:  # RFC 9110: a 405 names the allowed methods
            response.headers["Allow"] = ", ".join(error.valid_methods)
        if error.code == 429 and error.response is not None:
            retry = error.response.headers.get("Retry-After")
            if retry:
                response.headers["Retry-After"] = retry
        return response
    return problem(500, "Internal server error", "Ein unerwarteter Fehler ist aufgetreten.")
