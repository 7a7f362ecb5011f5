"""Domain errors: operations raise these; one handler turns them into problem+json or a flash message."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every expected failure of an operation."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None) -> None:
        detail = _localised(detail)
        super().__init__(detail)
        self.detail = detail
        self.errors = {name: [_localised(m) for m in messages] for name, messages in (errors or {}).items()}


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


class InvalidInput(DomainError):
    """The input is malformed or out of range; `errors` names the fields."""

    status = 422
    title = "Unprocessable content"

    @classmethod
    def field(cls, name: str, message: str) -> InvalidInput:
        return cls(message, errors={name: [message]})
