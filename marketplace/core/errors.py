"""Domain errors: operations raise these; one handler turns them into problem+json or a flash message."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


class DomainError(Exception):
    """Base of every expected failure of an operation."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        extensions: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        """`detail` is a fixed German text, or a template with ``%(name)s`` placeholders filled from
        `params`: the template (not the filled text) is looked up in the catalogue, so it translates.
        `extensions` are further members of the API's problem (RFC 9457 extension members, e.g. the list of
        what keeps a month open)."""
        detail = _filled(detail, params)
        super().__init__(detail)
        self.detail = detail
        self.errors = {name: [_filled(m, params) for m in messages] for name, messages in (errors or {}).items()}
        self.extensions = dict(extensions or {})


def localised(template: str, **params: Any) -> str:
    """A German message template in the reader's language (German outside a request and in the API), filled:
    for texts that are not errors but travel with them (e.g. what keeps a month open)."""
    return _filled(template, params)


def _filled(template: str, params: dict[str, Any]) -> str:
    """The localised template with its ``%(name)s`` placeholders filled (a template without params as it is)."""
    text = _localised(template)
    return text % params if params else text


def _localised(message: str) -> str:
    """The message in the language of the person's session (German unless they chose English).

    The texts are German; marketplace/core/domain_messages.py marks them for the English catalogue. Outside a
    request (CLI, tests of operations) and for the API (no language in its session) they stay German.
    """
    from flask import has_request_context, session

    if not has_request_context() or session.get("lang") != "en":
        return message
    from flask_babel import gettext

    return gettext(message)


class NotFound(DomainError):
    """The object does not exist, or belongs to another member (its existence is not revealed)."""

    status = 404
    title = "Not found"


class PermissionDenied(DomainError):
    """The user may not do this (for objects of their own member)."""

    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    """The state of the object forbids the action (wrong status, capacity full, closed period)."""

    status = 409
    title = "Conflict"


class TooManyAttempts(DomainError):
    """Tried too often: refused until `retry_after` seconds have passed (e.g. a locked login)."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class InvalidInput(DomainError):
    """The input is malformed or out of range; `errors` names the fields."""

    status = 422
    title = "Unprocessable content"

    @classmethod
    def field(cls, name: str, message: str, /, **params: Any) -> InvalidInput:
        """The error of one field; `message` may be a template with ``%(name)s`` placeholders from `params`."""
        return cls(message, errors={name: [message]}, **params)


#: Renders an error (a DomainError, an HTTPException or any other exception) as a response.
ErrorRenderer = Callable[[Exception], Any]


def register_error_renderer(app: Flask, path_prefix: str, render: ErrorRenderer) -> None:
    """An edge that answers in a format of its own (the API: problem+json) renders the errors of its paths.

    The web shell's error handlers ask `error_renderer_for` first and render HTML only where no edge
    claimed the path, so the shell needs to know nothing about the edges."""
    app.extensions.setdefault("error_renderers", {})[path_prefix] = render


def error_renderer_for(app: Flask, path: str) -> ErrorRenderer | None:
    for prefix, render in app.extensions.get("error_renderers", {}).items():
        if path.startswith(prefix):
            return render
    return None
