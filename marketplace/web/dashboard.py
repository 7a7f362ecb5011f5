"""The start page's figures for a logged-in user: what needs their attention."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from marketplace.bookings.models import Booking, BookingStatus
from marketplace.catalogue.models import Service, ServiceStatus
from marketplace.extensions import db
from marketplace.ledger.queries import member_balances
from marketplace.members.models import Role, User
from marketplace.settlement.receivables import open_receivables_cents


def start_summary(user: User) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    if user.has_role(Role.PROVIDER):
        summary["open_requests"] = db.session.scalar(
            select(func.count())
            .select_from(Booking)
            .join(Service, Service.id == Booking.service_id)
            .where(Service.provider_id == user.member_id, Booking.status == BookingStatus.REQUESTED)
        )
        summary["published_services"] = db.session.scalar(
            select(func.count())
            .select_from(Service)
            .where(Service.provider_id == user.member_id, Service.status == ServiceStatus.PUBLISHED)
        )
    if user.has_role(Role.BUYER):
        summary["my_requests"] = db.session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.buyer_id == user.member_id, Booking.status == BookingStatus.REQUESTED)
        )
    if user.has_role(Role.PROVIDER):
        # what the buyers were charged and the member has not been paid yet (receivables page)
        summary["receivable_cents"] = open_receivables_cents(user.member_id)
    if user.is_finance and not user.member.is_operator:  # the operator's accounts always sum to zero
        own = member_balances(user.member_id)
        summary["balance_cents"] = own[0].balance_cents if own else 0
    return summary
