"""Search finds services by the names of their category and unit too ("Hosting", "Schulung", "Stunde"),
on the page and in the API; the demo is a believable exchange to search in."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from marketplace.bookings.models import Booking, BookingStatus, effective_status
from marketplace.catalogue.models import Category, Service, ServiceStatus, Unit
from marketplace.core.timeutil import today
from marketplace.extensions import db
from tests.conftest import login


@pytest.fixture
def exchange(app):
    """The demo as `flask seed-demo` creates it: with the wider exchange of marketplace.seed_exchange."""
    from marketplace.seed import seed_demo_data

    seed_demo_data(exchange=True)
    db.session.commit()


def _published(where) -> set[str]:
    statement = select(Service.title).join(Category).where(Service.status == ServiceStatus.PUBLISHED, where)
    return set(db.session.scalars(statement))


def _api_titles(api, q: str) -> set[str]:
    body = api.get(f"/api/v1/services?q={q}&per_page=100").get_json()
    assert body["total"] == len(body["items"])
    return {item["title"] for item in body["items"]}


def test_a_category_name_finds_every_service_of_that_category(app, exchange, api_as):
    api = api_as("einkauf@wiesbaden.example")
    hosting = _published(Category.slug == "hosting")
    assert len(hosting) >= 5
    assert _api_titles(api, "Hosting") >= hosting
    assert _api_titles(api, "hosting") >= hosting
    # the English name and the German one of the same category
    training = _published(Category.slug == "training")
    assert training and _api_titles(api, "Schulung") >= training and _api_titles(api, "Training") >= training
    consulting = _published(Category.slug == "consulting")
    assert _api_titles(api, "Beratung") >= consulting


def test_a_unit_name_finds_the_services_sold_by_it_and_words_still_narrow(app, exchange, api_as):
    api = api_as("einkauf@wiesbaden.example")
    hourly = _published(Service.unit == Unit.HOUR)
    assert hourly and _api_titles(api, "Stunde") >= hourly
    # every word must still match: category name and a word of the text
    both = _api_titles(api, "Hosting PostgreSQL")
    assert both == {"Datenbank-Hosting PostgreSQL"}
    assert _api_titles(api, "Schulung Gigabyte") == set()


def test_the_page_finds_hosting_and_counts_it(app, exchange):
    client = app.test_client()
    login(client, "einkauf@wiesbaden.example")
    page = client.get("/services?q=Hosting").text
    hosting = _published(Category.slug == "hosting")
    for title in hosting:
        assert title.replace("(", "(") in page, title
    count = int(re.search(r"(\d+) Leistung", page).group(1))
    assert count >= len(hosting)


def test_the_demo_is_a_believable_exchange(app, exchange):
    services = db.session.scalars(select(Service).where(Service.status == ServiceStatus.PUBLISHED)).all()
    assert len(services) >= 30
    assert {s.provider_id for s in services}.__len__() >= 5
    categories = set(db.session.scalars(select(Category.slug).where(Category.retired_at.is_(None))))
    assert {s.category.slug for s in services} == categories
    with_sla = [s for s in services if s.sla_availability is not None]
    assert len(with_sla) >= 25
    day = today()
    shown = {effective_status(b, day) for b in db.session.scalars(select(Booking))}
    assert shown == set(BookingStatus), set(BookingStatus) - shown
    assert db.session.scalar(select(func.count(Booking.id))) >= 20


def test_every_availability_option_counts_services(app, exchange):
    client = app.test_client()
    login(client, "einkauf@wiesbaden.example")
    page = client.get("/services").text
    counts = re.findall(r"mindestens [\d,]+\s*%[^<]*\((\d+)\)", page)
    assert counts and all(int(count) > 0 for count in counts), counts
