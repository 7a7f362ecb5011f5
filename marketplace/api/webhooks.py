"""Outbound webhooks: booking and settlement events for members that registered a URL.

Events are noticed where the data changes (SQLAlchemy flushes of booking events, usage records,
settlements, payment instructions and debits) and written to the outbox (`webhook_deliveries`) in the
same transaction, so an event exists exactly when its change was committed. ``flask webhooks send``
delivers what is due, signs each request and retries failures with exponential backoff.

A delivery is ``POST <url>`` with a JSON body ``{id, type, created_at, data}`` and the headers

- ``Leistungsboerse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
- ``Leistungsboerse-Event-Id`` (the same for every retry: deduplicate on it) and ``Leistungsboerse-Event-Type``.

Receivers verify with :func:`verify_signature` (or its few lines in their language) and should reject
timestamps older than five minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import event, inspect, or_, select
from sqlalchemy.orm import Session

from marketplace.api.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from marketplace.bookings.operations import ADVANCED_KEY, Advanced
from marketplace.core.errors import Conflict, NotFound, PermissionDenied
from marketplace.core.locking import locked
from marketplace.core.models import record_audit
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import User

SIGNATURE_HEADER = "Leistungsboerse-Signature"
EVENT_ID_HEADER = "Leistungsboerse-Event-Id"
EVENT_TYPE_HEADER = "Leistungsboerse-Event-Type"
TIMEOUT_SECONDS = 10
#: Attempts before a delivery is given up (the last retry is about 21 hours after the first attempt).
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
TOLERANCE_SECONDS = 300

EVENT_TYPES = (
    "booking.requested",
    "booking.accepted",
    "booking.declined",
    "booking.withdrawn",
    "booking.active",
    "booking.ended",
    "booking.cancelled",
    "usage.entered",
    "usage.confirmed",
    "usage.disputed",
    "settlement.created",
    "settlement.approved",
    "settlement.collecting",
    "settlement.paid",
    "settlement.failed",
    "payment.succeeded",
    "payment.failed",
    "ping",
)


# --- signing -------------------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,  # float: a Unix time, not money
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and its timestamp is at most five minutes old."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at 6 hours, after the given number of failed attempts."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY)


# --- endpoints (member admins) -------------------------------------------------------------------------


def can_manage_webhooks(user: User) -> bool:
    from marketplace.api.models import can_manage_webhooks as rule

    return rule(user)


def endpoints_of(member_id: int) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.member_id == member_id)
            .order_by(WebhookEndpoint.active.desc(), WebhookEndpoint.id.desc())
        )
    )


def endpoint_for(user: User, endpoint_id: int) -> WebhookEndpoint:
    """The endpoint if it belongs to the user's member and the user manages webhooks; NotFound otherwise."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.member_id != user.member_id:
        raise NotFound("Diesen Webhook gibt es nicht.")
    if not can_manage_webhooks(user):
        raise PermissionDenied("Webhooks verwalten die Administratoren des Mitglieds.")
    return endpoint


def create_endpoint(actor: User, url: str, description: str = "") -> WebhookEndpoint:
    """Register a URL for the actor's member; the secret is generated here. Raises PermissionDenied."""
    if not can_manage_webhooks(actor):
        raise PermissionDenied("Webhooks verwalten die Administratoren des Mitglieds.")
    endpoint = WebhookEndpoint(
        member_id=actor.member_id,
        url=url.strip(),
        secret="whsec_" + secrets.token_urlsafe(32),
        description=(description or "").strip()[:200],
        created_by_id=actor.id,
    )
    db.session.add(endpoint)
    db.session.flush()
    record_audit(actor, "webhook.created", endpoint, member_id=actor.member_id, data={"url": endpoint.url})
    return endpoint


def deactivate_endpoint(actor: User, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Stop sending to the endpoint (pending deliveries are given up). Raises Conflict if inactive."""
    if not endpoint.active:
        raise Conflict("Dieser Webhook ist bereits abgeschaltet.")
    endpoint.active = False
    for delivery in db.session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == DeliveryStatus.PENDING
        )
    ):
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = "Webhook abgeschaltet"
    db.session.flush()
    record_audit(actor, "webhook.deactivated", endpoint, member_id=actor.member_id, data={"url": endpoint.url})
    return endpoint


def deliveries_of(endpoint: WebhookEndpoint, limit: int = 100) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def send_ping(actor: User, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a ``ping`` event to test the endpoint."""
    if not endpoint.active:
        raise Conflict("Dieser Webhook ist abgeschaltet.")
    delivery = _delivery(endpoint, "ping", {"member_id": endpoint.member_id, "by": actor.email})
    db.session.add(delivery)
    db.session.flush()
    return delivery


def retry_delivery(actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivered or failed event again at the next run."""
    if not delivery.endpoint.active:
        raise Conflict("Dieser Webhook ist abgeschaltet.")
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = utcnow()
    delivery.attempts = 0
    db.session.flush()
    return delivery


# --- noticing events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingEvent:
    type: str
    member_ids: tuple[int, ...]
    data: dict[str, Any]


def _delivery(endpoint: WebhookEndpoint, event_type: str, data: dict[str, Any], event_id: str = "") -> WebhookDelivery:
    event_id = event_id or str(uuid.uuid4())
    payload = {"id": event_id, "type": event_type, "created_at": utcnow().isoformat(), "data": data}
    return WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
        last_error="",
    )


def _booking_data(booking: Any) -> dict[str, Any]:
    service = booking.service
    return {
        "booking": {
            "id": booking.id,
            "service_id": booking.service_id,
            "service_title": service.title if service is not None else None,
            "status": booking.status.value,
            "buyer": {"id": booking.buyer_id},
            "provider": {"id": service.provider_id if service is not None else None},
            "quantity": booking.quantity,
            "starts_on": booking.starts_on.isoformat(),
            "ends_on": booking.ends_on.isoformat() if booking.ends_on else None,
            "unit_price": f"{booking.unit_price_cents / 100:.2f}" if booking.unit_price_cents is not None else None,
        }
    }


def _status_changed(obj: Any) -> bool:
    history = inspect(obj).attrs.status.history
    return bool(history.added) and history.added[0] not in (history.deleted or [None])


@dataclass(frozen=True)
class Noticed:
    """A change seen in a flush: what happened to which row (resolved into an event before the commit)."""

    type: str
    table: str
    row_id: int


def _notice(objects: Iterable[Any], new: bool) -> list[Noticed]:
    noticed: list[Noticed] = []
    for obj in objects:
        table = getattr(obj, "__tablename__", "")
        if table == "booking_events" and new:
            noticed.append(Noticed(f"booking.{obj.to_status.value}", "bookings", obj.booking_id))
        elif table == "usage_records" and (new or _status_changed(obj)):
            noticed.append(Noticed(f"usage.{obj.status.value}", table, obj.id))
        elif table == "settlements" and (new or _status_changed(obj)):
            noticed.append(Noticed(f"settlement.{'created' if new else obj.status.value}", table, obj.id))
        elif table == "debits" and not new and _status_changed(obj) and obj.status.value in ("succeeded", "failed"):
            noticed.append(Noticed(f"payment.{obj.status.value}", table, obj.id))
    return noticed


def _resolve(session: Session, item: Noticed) -> PendingEvent | None:
    """The event's recipients (member ids) and data, read after the transaction's last flush."""
    if item.table == "bookings":
        from marketplace.bookings.models import Booking

        booking = session.get(Booking, item.row_id)
        if booking is None:
            return None
        return PendingEvent(item.type, (booking.buyer_id, booking.service.provider_id), _booking_data(booking))
    if item.table == "usage_records":
        from marketplace.bookings.models import UsageRecord

        record = session.get(UsageRecord, item.row_id)
        if record is None:
            return None
        booking = record.booking
        data = {
            "usage": {
                "id": record.id,
                "booking_id": record.booking_id,
                "period": record.period,
                "quantity": f"{record.quantity:.3f}",
                "status": record.status.value,
            }
        }
        return PendingEvent(item.type, (booking.buyer_id, booking.service.provider_id), data)
    if item.table == "settlements":
        from marketplace.settlement.models import Settlement

        settlement = session.get(Settlement, item.row_id)
        if settlement is None:
            return None
        member_ids = tuple(sorted({position.member_id for position in settlement.positions}))
        data = {"settlement": {"id": settlement.id, "period": settlement.period, "status": settlement.status.value}}
        return PendingEvent(item.type, member_ids, data)
    if item.table == "debits":
        from marketplace.payments.models import Debit

        debit = session.get(Debit, item.row_id)
        if debit is None:
            return None
        data = {
            "payment": {
                "settlement_id": debit.settlement_id,
                "amount": f"{debit.amount_cents / 100:.2f}",
                "status": debit.status.value,
            }
        }
        return PendingEvent(item.type, (debit.debtor_member_id,), data)
    return None  # pragma: no cover - _notice makes only the kinds above


def _settlement_data_for(member_id: int, session: Session, base: dict[str, Any]) -> dict[str, Any]:
    from marketplace.settlement.models import Settlement

    settlement = session.get(Settlement, base["settlement"]["id"])
    if settlement is None:  # pragma: no cover - it was just flushed
        return base
    position = next((p for p in settlement.positions if p.member_id == member_id), None)
    instructions = [
        {
            "debtor_member_id": i.debtor_member_id,
            "creditor_member_id": i.creditor_member_id,
            "amount": f"{i.amount_cents / 100:.2f}",
            "status": i.status.value,
        }
        for i in settlement.instructions
        if member_id in (i.debtor_member_id, i.creditor_member_id)
    ]
    own = {"position": f"{position.amount_cents / 100:.2f}" if position else "0.00", "instructions": instructions}
    return {"settlement": {**base["settlement"], **own}}


def _after_flush(session: Session, _context: Any) -> None:
    events = _notice(list(session.new), new=True) + _notice(list(session.dirty), new=False)
    if events:
        session.info.setdefault("webhook_events", []).extend(events)


def _advanced(session: Session) -> list[PendingEvent]:
    """The transitions by date that `bookings.operations.advance_bookings` made set-based and announced in
    batches: a ``booking.<status>`` event per moved booking whose buyer or provider has an active endpoint,
    each with the status of its own transition. One query finds the subscribers (none: done), then one
    per 900 moved bookings."""
    batches: list[Advanced] = session.info.pop(ADVANCED_KEY, [])
    if not batches:
        return []
    subscribed = set(session.scalars(select(WebhookEndpoint.member_id).where(WebhookEndpoint.active.is_(True))))
    if not subscribed:
        return []
    from marketplace.bookings.models import Booking
    from marketplace.catalogue.models import Service

    pending: list[PendingEvent] = []
    for batch in batches:
        ids = batch.booking_ids
        for start in range(0, len(ids), 900):
            bookings = session.scalars(
                select(Booking)
                .join(Service, Service.id == Booking.service_id)
                .where(
                    Booking.id.in_(ids[start : start + 900]),
                    or_(Booking.buyer_id.in_(subscribed), Service.provider_id.in_(subscribed)),
                )
                .order_by(Booking.id)
            )
            for booking in bookings:
                data = _booking_data(booking)
                data["booking"]["status"] = batch.to_status.value
                pending.append(
                    PendingEvent(
                        f"booking.{batch.to_status.value}", (booking.buyer_id, booking.service.provider_id), data
                    )
                )
    return pending


def _before_commit(session: Session) -> None:
    """Turn the events noticed in this transaction into outbox rows (committed with the change)."""
    if not session.info.get("webhook_events") and not session.info.get(ADVANCED_KEY):
        return
    session.flush()
    noticed: list[Noticed] = list(dict.fromkeys(session.info.pop("webhook_events", [])))
    pending = [event for event in (_resolve(session, item) for item in noticed) if event is not None]
    pending += _advanced(session)
    member_ids = {member_id for item in pending for member_id in item.member_ids}
    if not member_ids:
        return
    endpoints = list(
        session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True), WebhookEndpoint.member_id.in_(member_ids))
        )
    )
    by_member: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in endpoints:
        by_member.setdefault(endpoint.member_id, []).append(endpoint)
    seen: set[tuple[str, str]] = set()
    for item in pending:
        fingerprint = (item.type, json.dumps(item.data, sort_keys=True, default=str))
        if fingerprint in seen:  # the same change noticed by two flushes
            continue
        seen.add(fingerprint)
        event_id = str(uuid.uuid4())
        for member_id in dict.fromkeys(item.member_ids):
            data = item.data
            if item.type.startswith("settlement.") and "settlement" in data:
                data = _settlement_data_for(member_id, session, data)
            for endpoint in by_member.get(member_id, []):
                session.add(_delivery(endpoint, item.type, data, event_id))


def _after_rollback(session: Session) -> None:
    session.info.pop("webhook_events", None)
    session.info.pop(ADVANCED_KEY, None)


def install(session_class: type[Session]) -> None:
    """Listen on the application's session class (called once when the API package is imported)."""
    if getattr(session_class, "_webhooks_installed", False):
        return
    event.listen(session_class, "after_flush", _after_flush)
    event.listen(session_class, "before_commit", _before_commit)
    event.listen(session_class, "after_soft_rollback", lambda session, _previous: _after_rollback(session))
    session_class._webhooks_installed = True  # type: ignore[attr-defined]


# --- sending -------------------------------------------------------------------------------------------


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


def _check_destination(url: str) -> None:
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
    _check_destination(endpoint.url)
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Leistungsboerse-Webhooks/1",
        SIGNATURE_HEADER: sign(endpoint.secret, body, int(time.time())),
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


def utc_from_timestamp(value: float) -> datetime:  # float: a Unix time, not money
    return datetime.fromtimestamp(value, UTC)
