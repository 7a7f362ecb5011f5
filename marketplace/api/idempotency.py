"""Idempotency-Key on POST requests: one effect per key, the first successful response replayed for 24 h.

How it holds under concurrency: the record (unique per user and key) is inserted *before* the operation
runs and committed in the same transaction as the operation's effect and the stored response. A second
request with the same key blocks on the unique index (PostgreSQL) or on the write lock (SQLite's
``BEGIN IMMEDIATE``) until the first commits, then finds the stored response and replays it. If the first
fails, its transaction (and the record) is rolled back and the retry runs afresh: errors are not stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta

from flask import Response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from marketplace.api.models import IdempotencyRecord
from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
LIFETIME = timedelta(hours=24)
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
#: Response headers worth replaying (the rest is recomputed per response).
_KEPT_HEADERS = ("Location", "Link")


def _fingerprint() -> str:
    raw = request.get_data()
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode() if raw else b""
    except ValueError:
        canonical = raw
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body or "", status=record.status_code, mimetype=record.content_type)
    for name, value in (record.response_headers or {}).items():
        response.headers[name] = value
    response.headers[REPLAY_HEADER] = "true"
    return response


def _existing(user_id: int, key: str) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    )


def _answer_from(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_hash != fingerprint:
        raise InvalidInput.field(
            HEADER, "Dieser Idempotency-Key wurde schon für eine andere Anfrage (anderer Inhalt) verwendet."
        )
    if record.status_code is None:
        raise Conflict("Eine Anfrage mit diesem Idempotency-Key läuft noch. Bitte gleich erneut versuchen.")
    return _replay(record)


def idempotent(run: Callable[[], Response]) -> Response:
    """Run the operation once per (user, Idempotency-Key); replay its stored response afterwards."""
    from flask import g

    key = request.headers.get(HEADER)
    if key is None or getattr(g, "api_user", None) is None:  # public operations (Stripe) have no user
        return run()
    if not _KEY_RE.match(key):
        raise InvalidInput.field(HEADER, "Der Idempotency-Key hat 1 bis 255 sichtbare ASCII-Zeichen.")
    from marketplace.api.auth import api_user

    user_id = api_user().id
    fingerprint = _fingerprint()
    db.session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at < utcnow() - LIFETIME,
        )
    )
    record = _existing(user_id, key)
    if record is not None:
        return _answer_from(record, fingerprint)
    record = IdempotencyRecord(
        user_id=user_id, key=key, request_hash=fingerprint, method=request.method, path=request.path[:500]
    )
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError:
        # Another request with this key committed first (we waited for it on the unique index).
        existing = _existing(user_id, key)
        if existing is None:  # pragma: no cover - it committed, so it is there
            raise
        return _answer_from(existing, fingerprint)
    response = run()
    if 200 <= response.status_code < 300:
        record.status_code = response.status_code
        record.content_type = response.mimetype
        record.response_body = response.get_data(as_text=True)
        record.response_headers = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
        db.session.flush()
    else:
        db.session.delete(record)
        db.session.flush()
    return response


def purge_expired() -> int:
    """Delete records older than 24 hours; returns how many (called by ``flask api purge-idempotency``)."""
    result = db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - LIFETIME))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
