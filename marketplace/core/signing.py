"""HMAC-SHA256 signatures in the header format ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]``.

The MAC covers ``"<t>." + body``. One format for both directions: the outbound webhooks sign with it
(``Leistungsboerse-Signature``) and the Stripe webhook is checked with it (``Stripe-Signature``; Stripe
sends two ``v1`` values while a secret is rolled, and one matching is enough).

Checking compares in constant time (`hmac.compare_digest`) and refuses a timestamp more than
`TOLERANCE_SECONDS` away from now in either direction (a replay later, or a clock far ahead).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import time

#: Seconds a signature's timestamp may differ from now, in either direction.
TOLERANCE_SECONDS = 300


class Refusal(enum.Enum):
    """Why a signature was refused (callers word their own message; none contains the secret)."""

    UNREADABLE = "unreadable"  # no timestamp or no v1 value
    STALE = "stale"  # timestamp outside the tolerance
    MISMATCH = "mismatch"  # no v1 value matches


class SignatureRefused(ValueError):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


def mac(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` under `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value ``t=<timestamp>,v1=<mac>`` (timestamp: now unless given)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={mac(secret, body, timestamp)}"


def parse(header: str | None) -> tuple[int | None, list[str]]:
    """The timestamp (None if missing or not an integer) and the non-empty v1 values of a header."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif key == "v1" and value:
            signatures.append(value)
    return timestamp, signatures


def check(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: float | None = None,  # float: a Unix time, not money
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise `SignatureRefused` unless `header` signs `body` with `secret` within the tolerance."""
    timestamp, signatures = parse(header)
    if timestamp is None or not signatures:
        raise SignatureRefused(Refusal.UNREADABLE)
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureRefused(Refusal.STALE)
    expected = mac(secret, body, timestamp).encode()
    # every candidate is compared (no early exit), each in constant time; as bytes, so that a non-ASCII
    # value in the header is a mismatch and not a TypeError
    if not [candidate for candidate in signatures if hmac.compare_digest(expected, candidate.encode())]:
        raise SignatureRefused(Refusal.MISMATCH)


def verify(secret: str, body: bytes, header: str | None, *, now: float | None = None) -> bool:  # float: Unix time
    """True if `header` signs `body` with `secret` within the tolerance."""
    try:
        check(secret, body, header, now=now)
    except SignatureRefused:
        return False
    return True
