"""RFC 9457 problem details: the one error shape of the API."""

from __future__ import annotations

from flask import Response, json

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


def problem(status: int, title: str, detail: str, *, errors: dict[str, list[str]] | None = None) -> Response:
    body: dict[str, object] = {
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
