"""Providers maintain service data through the pages: terms, SLA, contact, tax treatment, statuses, prices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace.bookings.models import Booking
from marketplace.catalogue.models import PriceVersion, Service, ServiceStatus, VatCategory
from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from tests.catalogue.conftest import BUYER, PROVIDER, SERVICE_FORM
from tests.conftest import csrf_token


def _create(client, **changes):
    page = client.get("/services/new")
    data = {**SERVICE_FORM, **changes, "csrf_token": csrf_token(page.text)}
    return client.post("/services/new", data=data)


def _service(title=SERVICE_FORM["title"]) -> Service | None:
    db.session.expire_all()
    return db.session.scalar(select(Service).where(Service.title == title))


def test_provider_publishes_a_service_with_terms_sla_contact_and_tax_reasoning(as_user):
    client = as_user(PROVIDER)
    response = _create(client)
    assert response.status_code == 302
    service = _service()
    assert service.unit_price_cents == 123450
    assert (service.minimum_term_months, service.notice_period_days) == (12, 90)
    assert str(service.sla_availability) == "99.50" and service.sla_response_hours == 4
    assert service.sla_support_hours == "Mo–Fr 7–18 Uhr"
    assert service.contact_email == "service@kdz-mainz.example"
    assert service.vat_category is VatCategory.NOT_TAXABLE
    assert service.tax_reasons == "cost_reimbursement,public_law_agreement"
    page = as_user(BUYER).get(response.headers["Location"])
    for text in (
        "99,50 %",
        "Mo–Fr 7–18 Uhr",
        "4 Stunden",
        "12 Monate",
        "90 Tage",
        "§ 2b Abs. 3 Nr. 2 UStG",
        "Ausschließlich Kostenerstattung",
        "service@kdz-mainz.example",
    ):
        assert text in page.text, text
    audit = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "service.created", AuditEvent.object_id == service.id)
    )
    assert Decimal(audit.data["after"]["sla_availability"]) == Decimal("99.5")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"sla_availability": "100,5"}, "sla_availability", "zwischen 0 und 100"),
        ({"sla_availability": "viel"}, "sla_availability", "Bitte eine Zahl"),
        ({"unit_price": "-5"}, "unit_price", "zwischen 0 und 10.000.000"),
        ({"unit_price": "20000000"}, "unit_price", "zwischen 0 und 10.000.000"),
        ({"unit_price": "1,234"}, "unit_price", "höchstens zwei Nachkommastellen"),
        ({"minimum_term_months": "121"}, "minimum_term_months", "0 bis 120"),
        ({"notice_period_days": "-1"}, "notice_period_days", "0 bis 730"),
        ({"sla_response_hours": "0"}, "sla_response_hours", "1 bis 8760"),
        ({"capacity": "0"}, "capacity", "ab 1"),
        ({"vat_category": "E", "vatex_code": ""}, "vatex_code", "VATEX"),
    ],
)
def test_bad_service_data_gets_a_german_message_and_changes_nothing(as_user, changes, field, message):
    client = as_user(PROVIDER)
    before = db.session.scalar(select(func.count(Service.id)))
    response = _create(client, **changes)
    assert response.status_code == 422
    assert message in response.text
    assert f'id="{field}-error"' in response.text or f'id="{field}"' in response.text
    assert db.session.scalar(select(func.count(Service.id))) == before


def test_not_taxable_needs_a_provider_under_public_law(as_user, create_user):
    from marketplace.members.models import Member, Role

    operator = db.session.scalar(select(Member).where(Member.is_operator.is_(True)))
    create_user(operator, "leistung@kopit.example", [Role.PROVIDER])
    client = as_user("leistung@kopit.example")
    response = _create(client)
    assert response.status_code == 422
    assert "juristische Personen des öffentlichen Rechts" in response.text
    assert _service() is None
    assert _create(client, vat_category="E", vatex_code="VATEX-EU-132", tax_reasons=[]).status_code == 302
    assert _service().vatex_code == "VATEX-EU-132"


def test_status_changes_from_the_service_page(as_user):
    client = as_user(PROVIDER)
    _create(client)
    service = _service()
    url = f"/services/{service.id}"
    for status in ("paused", "retired", "draft", "published"):
        page = client.get(url)
        response = client.post(f"{url}/status", data={"status": status, "csrf_token": csrf_token(page.text)})
        assert response.status_code == 302
        assert _service().status is ServiceStatus(status)
    buyer = as_user(BUYER)
    client.post(f"{url}/status", data={"status": "draft", "csrf_token": csrf_token(client.get(url).text)})
    assert buyer.get(url).status_code == 404  # drafts of others are not revealed
    assert buyer.post(f"{url}/status", data={"status": "published"}).status_code in (400, 403)


def test_price_change_makes_a_version_and_bookings_keep_their_snapshot(as_user, make_accepted_booking):
    client = as_user(PROVIDER)
    service = db.session.scalar(select(Service).where(Service.title == "Virtueller Server (Standard)"))
    booking = make_accepted_booking(service)
    page = client.get(f"/services/{service.id}/edit")
    form = {
        **SERVICE_FORM,
        "title": service.title,
        "unit_price": "99,00",
        "csrf_token": csrf_token(page.text),
    }
    assert client.post(f"/services/{service.id}/edit", data=form).status_code == 302
    db.session.expire_all()
    assert service.unit_price_cents == 9900
    assert db.session.get(Booking, booking.id).unit_price_cents == 8900
    versions = db.session.scalars(
        select(PriceVersion).where(PriceVersion.service_id == service.id).order_by(PriceVersion.id)
    ).all()
    assert [v.unit_price_cents for v in versions] == [8900, 9900]
    assert versions[0].valid_until == versions[1].valid_from and versions[1].valid_until is None
    shown = client.get(f"/services/{service.id}").text
    assert "Preisverlauf" in shown and "89,00" in shown and "99,00" in shown


def test_a_price_from_a_later_day_is_scheduled(as_user):
    client = as_user(PROVIDER)
    service = db.session.scalar(select(Service).where(Service.title == "Virtueller Server (Standard)"))
    page = client.get(f"/services/{service.id}/edit")
    form = {
        **SERVICE_FORM,
        "title": service.title,
        "unit_price": "95,00",
        "price_valid_from": "2027-01-01",
        "csrf_token": csrf_token(page.text),
    }
    assert client.post(f"/services/{service.id}/edit", data=form).status_code == 302
    db.session.expire_all()
    assert service.unit_price_cents == 8900  # still the price in force
    scheduled = db.session.scalar(
        select(PriceVersion).where(PriceVersion.service_id == service.id, PriceVersion.unit_price_cents == 9500)
    )
    assert scheduled.valid_from.date() in (date(2026, 12, 31), date(2027, 1, 1))  # midnight in Berlin


def test_not_taxable_draft_without_reasons_is_saved_with_a_reminder(as_user):
    client = as_user(PROVIDER)
    response = _create(client, tax_reasons=[], tax_legal_basis="", status="draft")  # publishing needs them
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert "Bitte ergänzen Sie die Begründung" in page.text
    assert _service().tax_legal_basis == "§ 2b Abs. 3 Nr. 2 UStG"
