"""Fixtures for catalogue tests: a logged-in client for a demo user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import login

PROVIDER = "anbieter@kdz-mainz.example"
BUYER = "einkauf@wiesbaden.example"


@pytest.fixture
def as_user(app: Any, demo: None) -> Callable[[str], FlaskClient]:
    """A fresh client logged in through the login form as the demo user with this e-mail."""

    def make(email: str) -> FlaskClient:
        client = app.test_client()
        login(client, email)
        return client

    return make


#: A complete, valid service form as a provider fills it in.
SERVICE_FORM: dict[str, Any] = {
    "title": "Videokonferenz für Ratssitzungen",
    "description": "Hybride Sitzungen mit Abstimmungsfunktion, betrieben im kommunalen Rechenzentrum.",
    "category": "hosting",
    "unit": "month",
    "unit_price": "1.234,50",
    "vat_category": "O",
    "tax_legal_basis": "§ 2b Abs. 3 Nr. 2 UStG",
    "tax_reasons": ["public_law_agreement", "cost_reimbursement"],
    "tax_reasoning": "Zweckvereinbarung nach KomZG",
    "vatex_code": "",
    "capacity": "10",
    "status": "published",
    "minimum_term_months": "12",
    "notice_period_days": "90",
    "sla_availability": "99,5",
    "sla_support_hours": "Mo–Fr 7–18 Uhr",
    "sla_response_hours": "4",
    "contact_name": "Karl Anbieter",
    "contact_email": "service@kdz-mainz.example",
    "contact_phone": "+49 6131 000200",
}


@pytest.fixture
def make_accepted_booking(demo: None) -> Callable[..., Any]:
    from datetime import date

    from marketplace.bookings.operations import BookingRequest, accept_booking, request_booking
    from marketplace.extensions import db
    from marketplace.members.queries import user_by_email

    def make(service: Any, buyer: str = BUYER) -> Any:
        booking = request_booking(
            user_by_email(buyer), BookingRequest(service_id=service.id, quantity=1, starts_on=date(2026, 12, 1))
        )
        accept_booking(user_by_email(PROVIDER), booking)
        db.session.commit()
        return booking

    return make
