"""Writes of the webhooks area: register and switch off endpoints, queue deliveries, ping, retry.

Every function flushes and never commits; the request or CLI command commits. Deliveries for domain
events are queued by `subscribers` inside the transaction of the change; sending is `delivery`.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import select

from marketplace.core.errors import Conflict, PermissionDenied
from marketplace.core.models import record_audit
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, can_manage_webhooks

#: Where `active_endpoints` keeps its answer for the rest of the transaction (see there).
_ENDPOINTS_CACHE = "webhooks.active_endpoints"


def active_endpoints() -> dict[int, list[int]]:
    """The ids of the active endpoints by member, read once per transaction.

    A billing run that advances 100,000 bookings announces 100,000 events; they all ask here, and one
    query answers them. The endpoint operations below forget the answer when they change an endpoint.
    """
    session = db.session()  # the session itself: the scoped proxy has no get_transaction
    transaction = session.get_transaction()
    cached = session.info.get(_ENDPOINTS_CACHE)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    by_member: dict[int, list[int]] = {}
    for endpoint_id, member_id in session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.member_id)
        .where(WebhookEndpoint.active.is_(True))
        .order_by(WebhookEndpoint.id)
    ):
        by_member.setdefault(member_id, []).append(endpoint_id)
    session.info[_ENDPOINTS_CACHE] = (session.get_transaction(), by_member)
    return by_member


def _forget_endpoints() -> None:
    db.session().info.pop(_ENDPOINTS_CACHE, None)


def queue_delivery(endpoint_id: int, event_type: str, data: dict[str, Any], event_id: str = "") -> WebhookDelivery:
    """Write one delivery of an event to an endpoint into the outbox (sent by `flask webhooks send`)."""
    event_id = event_id or str(uuid.uuid4())
    now = utcnow()
    delivery = WebhookDelivery(
        endpoint_id=endpoint_id,
        event_id=event_id,
        event_type=event_type,
        payload={"id": event_id, "type": event_type, "created_at": now.isoformat(), "data": data},
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        last_error="",
    )
    db.session.add(delivery)
    return delivery


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
    _forget_endpoints()
    record_audit(actor, "webhook.created", endpoint, member_id=actor.member_id, data={"url": endpoint.url})
    return endpoint


def deactivate_endpoint(actor: User, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Stop sending to the endpoint (pending deliveries are given up).

    Raises PermissionDenied (not the member's admin) or Conflict (already inactive)."""
    if not endpoint.can_manage(actor):
        raise PermissionDenied("Webhooks verwalten die Administratoren des Mitglieds.")
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
    _forget_endpoints()
    record_audit(actor, "webhook.deactivated", endpoint, member_id=actor.member_id, data={"url": endpoint.url})
    return endpoint


def send_ping(actor: User, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a ``ping`` event to test the endpoint. Raises PermissionDenied or Conflict (inactive)."""
    if not endpoint.can_manage(actor):
        raise PermissionDenied("Webhooks verwalten die Administratoren des Mitglieds.")
    if not endpoint.active:
        raise Conflict("Dieser Webhook ist abgeschaltet.")
    delivery = queue_delivery(endpoint.id, "ping", {"member_id": endpoint.member_id, "by": actor.email})
    db.session.flush()
    return delivery


def retry_delivery(actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivered or failed event again at the next run. Raises PermissionDenied or Conflict."""
    if not delivery.endpoint.can_manage(actor):
        raise PermissionDenied("Webhooks verwalten die Administratoren des Mitglieds.")
    if not delivery.endpoint.active:
        raise Conflict("Dieser Webhook ist abgeschaltet.")
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = utcnow()
    delivery.attempts = 0
    db.session.flush()
    return delivery
