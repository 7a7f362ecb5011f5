"""Sending the outbox: ``flask webhooks send`` delivers what is due, signs each request and retries
failures with exponential backoff.

A delivery is ``POST <url>`` with a JSON body ``{id, type, created_at, data}`` and the headers

- ``Leistungsboerse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
- ``Leistungsboerse-Event-Id`` (the same for every retry: deduplicate on it) and ``Leistungsboerse-Event-Type``.

Receivers verify with :func:`verify_signature` (or its few lines in their language, see
`marketplace.core.signing`) and should reject timestamps older than five minutes.

This is an edge like a request: each delivery is a transaction of its own (claimed, sent, recorded,
committed), and the one place of outbound HTTP (timeout, no redirects, no internal addresses).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import select

from marketplace.core import signing
from marketplace.core.locking import locked
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.webhooks.models import DeliveryStatus, WebhookDelivery

SIGNATURE_HEADER = "Leistungsboerse-Signature"
EVENT_ID_HEADER = "Leistungsboerse-Event-Id"
EVENT_TYPE_HEADER = "Leistungsboerse-Event-Type"
TIMEOUT_SECONDS = 10
#: Attempts before a delivery is given up (the last retry is about 21 hours after the first attempt).
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
TOLERANCE_SECONDS = signing.TOLERANCE_SECONDS


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Leistungsboerse-Signature`` header value for `body` at `timestamp`."""
    return signing.sign(secret, body, timestamp)


def verify_signature(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,  # float: a Unix time, not money
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and its timestamp is at most five minutes off."""
    return signing.verify(secret, body, header, now=now)


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at 6 hours, after the given number of failed attempts."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY)


class DeliveryError(Exception):
    """The receiver could not be reached or did not answer 2xx."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def allow_private() -> bool:
    """``WEBHOOKS_ALLOW_PRIVATE`` (config or environment, for development and tests): also deliver over
    plain HTTP and to loopback or private addresses. Never in production."""
    configured = current_app.config.get("WEBHOOKS_ALLOW_PRIVATE")
    if configured is None:
        configured = os.environ.get("WEBHOOKS_ALLOW_PRIVATE", "") in ("1", "true", "yes")
    return bool(configured)


def check_destination(url: str) -> None:
    """Refuse loopback, private and link-local addresses (SSRF) unless the configuration allows them."""
    parts = urlsplit(url)
    private_ok = allow_private()
    if parts.scheme != "https" and not (private_ok and parts.scheme == "http"):
        raise DeliveryError("Nur HTTPS-Adressen werden beliefert.")
    if private_ok:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname or "", parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise DeliveryError(f"Adresse nicht auflösbar: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise DeliveryError("Die Adresse zeigt in ein internes Netz und wird nicht beliefert.")


def _request(delivery: WebhookDelivery) -> int:
    """POST one signed delivery; the one place that does outbound HTTP (timeout, typed errors)."""
    endpoint = delivery.endpoint
    check_destination(endpoint.url)
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Leistungsboerse-Webhooks/1",
        SIGNATURE_HEADER: signing.sign(endpoint.secret, body),
        EVENT_ID_HEADER: delivery.event_id,
        EVENT_TYPE_HEADER: delivery.event_type,
    }
    try:
        response = requests.post(
            endpoint.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:500]) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"Antwort {response.status_code}", response.status_code)
    return response.status_code


def _due(now: datetime, limit: int) -> list[WebhookDelivery]:
    statement = (
        select(WebhookDelivery)
        .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        statement = locked(statement, WebhookDelivery, skip_locked=True)
    return list(db.session.scalars(statement))


@dataclass
class SendResult:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def send_due(limit: int = 100, now: datetime | None = None) -> SendResult:
    """Deliver what is due, one transaction per delivery (two senders never send the same one)."""
    result = SendResult()
    for _ in range(limit):
        moment = now or utcnow()
        batch = _due(moment, 1)
        if not batch:
            break
        delivery = batch[0]
        delivery.attempts += 1
        delivery.last_attempt_at = moment
        try:
            delivery.response_status = _request(delivery)
        except DeliveryError as exc:
            delivery.response_status = exc.status
            delivery.last_error = str(exc)[:500]
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = DeliveryStatus.FAILED
                result.failed += 1
            else:
                delivery.next_attempt_at = moment + retry_delay(delivery.attempts)
                result.retrying += 1
        else:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = moment
            delivery.last_error = ""
            result.delivered += 1
        db.session.commit()
    return result
