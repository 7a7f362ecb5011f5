"""Reads of the webhooks area: a member's endpoints, an endpoint for its admin, the delivery log."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.core.errors import NotFound, PermissionDenied
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.webhooks.models import WebhookDelivery, WebhookEndpoint, can_manage_webhooks


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


def delivery_of(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    """One delivery of the endpoint; NotFound for another endpoint's."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound("Diese Zustellung gibt es nicht.")
    return delivery


def deliveries_of(endpoint: WebhookEndpoint, limit: int = 100) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
