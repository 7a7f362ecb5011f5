"""Catalogue search through the page and the API: full text, facets, sorting, pagination, empty state."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from marketplace.catalogue.models import Service
from marketplace.catalogue.queries import CatalogueFilters, catalogue_facets, catalogue_statement
from marketplace.extensions import db
from marketplace.members.models import Member
from tests.catalogue.conftest import BUYER


def _titles(statement) -> list[str]:
    return [s.title for s in db.session.scalars(statement)]


@pytest.fixture
def sla(demo):
    """Give two demo services an SLA."""
    for title, value in (("Virtueller Server (Standard)", "99.9"), ("Objektspeicher (S3-kompatibel)", "99.5")):
        db.session.scalar(select(Service).where(Service.title == title)).sla_availability = Decimal(value)
    db.session.commit()


def test_full_text_matches_title_description_and_provider_with_prefixes(demo):
    assert _titles(catalogue_statement(q="virtuelle")) == ["Virtueller Server (Standard)"]
    assert _titles(catalogue_statement(q="Rechenzentr")) != []  # prefix of a description word
    by_provider = _titles(catalogue_statement(q="ekom21"))
    assert set(by_provider) == {
        "Objektspeicher (S3-kompatibel)",
        "IT-Sicherheitsberatung",
        "Service-Desk (Second Level)",
    }
    assert _titles(catalogue_statement(q="KDZ server")) == ["Virtueller Server (Standard)"]  # all words must match
    assert _titles(catalogue_statement(q="ekom21 virtuell")) == []
    assert _titles(catalogue_statement(q='"; DROP TABLE services; --')) == []


def test_index_follows_renames_and_new_services(demo):
    service = db.session.scalar(select(Service).where(Service.title == "IT-Sicherheitsberatung"))
    service.title = "Informationssicherheit Beratung"
    db.session.scalar(select(Member).where(Member.name == "ekom21")).name = "ekom21 GmbH-frei"
    db.session.commit()
    assert _titles(catalogue_statement(q="Informationssicherheit")) == ["Informationssicherheit Beratung"]
    assert _titles(catalogue_statement(q="IT-Sicherheitsberatung")) == []
    assert len(_titles(catalogue_statement(q="frei"))) == 3


def test_facets_count_each_dimension_without_its_own_filter(demo, sla):
    facets = catalogue_facets(CatalogueFilters(category="hosting"))
    assert {f.value: f.count for f in facets["category"]}["hosting"] == 2
    assert sum(f.count for f in facets["category"]) == 6  # the category facet ignores the category filter
    assert {f.label: f.count for f in facets["provider"]} == {"KDZ Mainz": 1, "ekom21": 1}
    assert {f.value: f.count for f in facets["sla"]} == {"99.9": 1, "99.5": 2, "99": 2, "95": 2}


def test_filters_and_sorting(demo, sla):
    assert _titles(catalogue_statement(sla_min=Decimal("99.9"))) == ["Virtueller Server (Standard)"]
    prices = [s.unit_price_cents for s in db.session.scalars(catalogue_statement(sort="price_asc"))]
    assert prices == sorted(prices)
    assert _titles(catalogue_statement(price_min_cents=10000, price_max_cents=150000, sort="price_desc")) == [
        "Service-Desk (Second Level)",
        "IT-Sicherheitsberatung",
    ]
    from marketplace.catalogue.models import Unit

    assert set(_titles(catalogue_statement(unit=Unit.HOUR))) == {"Betrieb von Fachverfahren", "IT-Sicherheitsberatung"}


def test_catalogue_page_with_facets_pagination_and_empty_state(as_user, sla):
    client = as_user(BUYER)
    page = client.get("/services?q=virtuell")
    assert page.status_code == 200
    assert "1 Leistung gefunden" in page.text and "Virtueller Server" in page.text
    page = client.get("/services?category=hosting&sort=price_asc")
    assert page.text.index("Objektspeicher") < page.text.index("Virtueller Server")
    assert "Hosting (2)" in page.text
    page = client.get("/services?per_page=2&page=2&sort=title")
    assert "Seite 2 von 3" in page.text
    empty = client.get("/services?q=Quantencomputer")
    assert "0 Leistungen gefunden" in empty.text and "Keine Leistung passt zu Ihrer Suche" in empty.text
    assert "Alle Filter zurücksetzen" in empty.text
    bad = client.get("/services?price_min=viel&sla=150")
    assert bad.status_code == 200
    assert "kein gültiger Betrag" in bad.text and "zwischen 0 und 100" in bad.text
    assert "6 Leistungen gefunden" in bad.text


def test_api_search_uses_the_same_statement(demo, api_as):
    api = api_as(BUYER)
    body = api.get("/api/v1/services?q=georedundant").get_json()
    assert [item["title"] for item in body["items"]] == ["Objektspeicher (S3-kompatibel)"]
    assert body["total"] == 1


def test_cached_results_follow_every_write(as_user, api_as):
    """Results are cached by the catalogue's generation, which triggers bump on each write: never stale."""
    from marketplace.catalogue.queries import catalogue_generation

    client = as_user(BUYER)
    api = api_as(BUYER)
    assert "1 Leistung gefunden" in client.get("/services?q=virtuell").text
    assert api.get("/api/v1/services?q=virtuell").get_json()["total"] == 1
    before = catalogue_generation()
    service = db.session.scalar(select(Service).where(Service.title == "Virtueller Server (Standard)"))
    service.status = "paused"
    db.session.commit()
    if before is not None:
        assert catalogue_generation(fresh=True) > before
    assert "0 Leistungen gefunden" in client.get("/services?q=virtuell").text
    assert api.get("/api/v1/services?q=virtuell").get_json()["total"] == 0
    service.status = "published"
    service.title = "Virtuelle Maschine (Standard)"
    db.session.commit()
    page = client.get("/services?q=virtuell").text
    assert "Virtuelle Maschine (Standard)" in page and "Virtueller Server" not in page
    assert [i["title"] for i in api.get("/api/v1/services?q=virtuell").get_json()["items"]] == [
        "Virtuelle Maschine (Standard)"
    ]
