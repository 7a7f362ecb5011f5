"""The tamper-evident hash chain over transfers: canonical content and its SHA-256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from json.encoder import encode_basestring  # the C encoder json.dumps uses for str with ensure_ascii=False


def canonical_time(moment: datetime) -> str:
    """UTC, microseconds, no offset: the same text whatever the database returns (naive or aware)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def canonical_content(
    *,
    transfer_id: int,
    idempotency_key: str,
    kind: str,
    period: str,
    description: str,
    amount_cents: int,
    booking_id: int | None,
    reverses_id: int | None,
    created_at: datetime,
    created_by_id: int | None,
    postings: Iterable[tuple[int, int]],
) -> bytes:
    """The bytes a transfer's hash covers: every field that carries meaning, postings sorted."""
    document = {
        "id": transfer_id,
        "key": idempotency_key,
        "kind": str(kind),
        "period": period,
        "description": description,
        "amount": amount_cents,
        "booking": booking_id,
        "reverses": reverses_id,
        "created_at": canonical_time(created_at),
        "created_by": created_by_id,
        "postings": sorted([int(account), int(amount)] for account, amount in postings),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + content).hexdigest()


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def canonical_content_fast(
    transfer_id: int,
    idempotency_key: str,
    kind: str,
    period: str,
    description: str,
    amount_cents: int,
    booking_id: int | None,
    reverses_id: int | None,
    created_at: str,
    created_by_id: int | None,
    postings: Iterable[tuple[int, int]],
) -> bytes:
    """Byte for byte what `canonical_content` makes (a test holds them equal), without building a dict and
    running the generic encoder: billing hashes 100,000 transfers per run. `created_at` is already
    `canonical_time()` text."""
    pairs = ",".join(f"[{int(a)},{int(m)}]" for a, m in sorted((int(a), int(m)) for a, m in postings))
    return (
        f'{{"amount":{int(amount_cents)},"booking":{_json_int(booking_id)},'
        f'"created_at":{encode_basestring(created_at)},"created_by":{_json_int(created_by_id)},'
        f'"description":{encode_basestring(description)},"id":{int(transfer_id)},'
        f'"key":{encode_basestring(idempotency_key)},"kind":{encode_basestring(str(kind))},'
        f'"period":{encode_basestring(period)},"postings":[{pairs}],"reverses":{_json_int(reverses_id)}}}'
    ).encode()
