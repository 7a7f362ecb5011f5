"""The search's fewer, larger queries must answer exactly as the plain ones.

On PostgreSQL the four facets come from one GROUPING SETS query; on both databases a page of results and
the total come from one query with a window count.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from sqlalchemy import select

from marketplace.catalogue.models import Service, Unit
from marketplace.catalogue.queries import (
    FACETS,
    PRICE_BANDS,
    CatalogueFilters,
    _facet_groups,
    _facet_rows,
    _facet_rows_at_once,
    _facets,
    catalogue_page,
    catalogue_statement,
)
from marketplace.extensions import db
from marketplace.members.models import Member
from tests.conftest import requires_postgres


@pytest.fixture
def varied(demo):
    """Give the demo services SLAs (one without) so that every facet has several groups."""
    values = [Decimal("99.9"), Decimal("99.5"), None, Decimal("95"), Decimal("99"), Decimal("99.5")]
    for service, value in zip(
        db.session.scalars(select(Service).order_by(Service.id)), itertools.cycle(values), strict=False
    ):
        service.sla_availability = value
    db.session.commit()


def _filter_combinations() -> list[CatalogueFilters]:
    provider = db.session.scalar(select(Member.id).where(Member.name == "KDZ Mainz"))
    options = {
        "q": [None, "server", "betrieb"],
        "category": [None, "hosting"],
        "provider_id": [None, provider],
        "unit": [None, Unit.MONTH],
        "price_min_cents": [None, 10000],
        "sla_min": [None, Decimal("99")],
    }
    names = list(options)
    return [
        CatalogueFilters(**dict(zip(names, values, strict=True))) for values in itertools.product(*options.values())
    ]


@requires_postgres
def test_one_grouping_sets_query_counts_like_four(varied):
    compared = seen_groups = 0
    groups = _facet_groups("de")
    for filters in _filter_combinations():
        at_once = _facet_rows_at_once(filters, groups)
        seen_groups += sum(len(rows) for rows in at_once.values())
        for facet in FACETS:
            separately = _facet_rows(filters, facet, groups[facet])
            assert sorted(at_once[facet], key=repr) == sorted(separately, key=repr), (filters, facet)
            compared += 1
    assert compared == len(FACETS) * 96
    assert seen_groups > 300  # the comparison saw groups, not only empty answers


def test_facets_are_complete_on_every_database(varied):
    facets = _facets(CatalogueFilters(), "de")
    published = db.session.scalars(select(Service).where(Service.status == "published")).all()
    assert sum(f.count for f in facets["category"]) == len(published)
    assert sum(f.count for f in facets["provider"]) == len(published)
    assert sum(f.count for f in facets["unit"]) == len(published)
    with_sla = [s for s in published if s.sla_availability is not None and s.sla_availability >= Decimal("95")]
    assert {f.value: f.count for f in facets["sla"]}["95"] == len(with_sla)


@pytest.mark.parametrize("sort", ["relevance", "newest", "price_asc", "title"])
def test_page_and_total_in_one_query_equal_the_plain_count_and_slice(varied, sort):
    from marketplace.core.pagination import paginate

    for q in (None, "betrieb", "server"):
        statement = catalogue_statement(q=q, sort=sort)
        plain_total = len(db.session.scalars(statement).all())
        for page in (1, 2, 3, 50):
            expected = paginate(statement, page, 2)
            found = catalogue_page(statement, page, 2)
            assert (found.total, [s.id for s in found.items]) == (expected.total, [s.id for s in expected.items])
            assert found.total == plain_total  # also past the last page, where no row carries the total


def test_price_bands_count_every_published_service_once(varied):
    facets = _facets(CatalogueFilters(q="betrieb"), "de")
    published = [s for s in db.session.scalars(catalogue_statement(q="betrieb"))]
    bands = {int(f.value): f.count for f in facets["price"]}
    assert sum(bands.values()) == len(published)
    for index, count in bands.items():
        lower, upper = PRICE_BANDS[index]
        inside = [
            s for s in published if s.unit_price_cents >= lower and (upper is None or s.unit_price_cents <= upper)
        ]
        assert len(inside) == count
    # the band facet ignores its own filter; the other facets respect it
    narrowed = _facets(CatalogueFilters(q="betrieb", price_max_cents=9_999), "de")
    assert {int(f.value): f.count for f in narrowed["price"]} == bands
    assert sum(f.count for f in narrowed["unit"]) == bands.get(0, 0)
