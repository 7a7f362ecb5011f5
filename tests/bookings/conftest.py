"""Fixtures for booking tests: demo users and bookings in a chosen state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from marketplace.extensions import db


@pytest.fixture
def user(app: Any) -> Callable[[str], Any]:
    from marketplace.members.queries import user_by_email

    return user_by_email


@pytest.fixture
def make_booking(demo: None, user: Callable[[str], Any]) -> Callable[..., Any]:
    """A booking of a demo service by Stadt Wiesbaden, accepted unless `accept=False`."""
    from marketplace.bookings.models import Booking, BookingEvent, BookingStatus
    from marketplace.bookings.operations import BookingRequest, accept_booking, request_booking
    from marketplace.catalogue.models import Service

    def make(
        title: str = "Virtueller Server (Standard)",
        starts_on: date = date(2026, 11, 16),
        ends_on: date | None = None,
        quantity: int = 1,
        accept: bool = True,
        minimum_term_months: int | None = None,
        notice_period_days: int | None = None,
        buyer: str = "einkauf@wiesbaden.example",
    ) -> Any:
        service = db.session.scalar(select(Service).where(Service.title == title))
        if minimum_term_months is not None:
            service.minimum_term_months = minimum_term_months
        if notice_period_days is not None:
            service.notice_period_days = notice_period_days
        who = user(buyer)
        if starts_on >= date(2026, 11, 16):  # today in tests: the real request path (with its e-mail)
            booking = request_booking(
                who, BookingRequest(service_id=service.id, quantity=quantity, starts_on=starts_on, ends_on=ends_on)
            )
        else:
            booking = Booking(
                service_id=service.id,
                buyer_id=who.member_id,
                requested_by_id=who.id,
                quantity=quantity,
                starts_on=starts_on,
                ends_on=ends_on,
                status=BookingStatus.REQUESTED,
            )
            db.session.add(booking)
            db.session.flush()
            db.session.add(BookingEvent(booking=booking, to_status=BookingStatus.REQUESTED, actor_id=who.id))
        if accept:
            provider = next(u for u in service.provider.users if u.has_role("provider"))
            accept_booking(provider, booking)
        db.session.commit()
        return booking

    return make


@pytest.fixture
def decimal() -> type[Decimal]:
    return Decimal
