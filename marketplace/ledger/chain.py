"""The tamper-evident hash chain over transfers: canonical content and its SHA-256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime


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
