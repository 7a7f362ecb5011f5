"""The rendered search (page fragment and API answer) is cached per catalogue generation.

What users rely on: a write shows at once on every search, a cached page never carries another user's
header or buttons, and each language gets its own rendering.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from marketplace.catalogue.models import Category, Service
from marketplace.catalogue.queries import catalogue_generation, rendered_cache
from marketplace.extensions import db
from marketplace.members.models import Member
from tests.catalogue.conftest import BUYER, PROVIDER


def _header_user(page: str) -> str:
    found = re.search(r'<span class="lb-user">([^<]*)</span>', page)
    assert found, "no signed-in user in the page header"
    return found.group(1)


def test_cache_is_switched_on_in_the_suite(as_user):
    """Otherwise the other tests in this file would prove nothing about the cache."""
    client = as_user(BUYER)
    assert catalogue_generation() is not None
    client.get("/services?q=server")
    assert rendered_cache.size_now() >= 1


def test_a_cached_page_keeps_each_users_own_header_and_buttons(as_user):
    buyer, provider = as_user(BUYER), as_user(PROVIDER)
    first = buyer.get("/services?q=server")  # fills the cache
    second = provider.get("/services?q=server")  # the same search from another member
    assert first.status_code == second.status_code == 200
    assert "Virtueller Server (Standard)" in first.text and "Virtueller Server (Standard)" in second.text
    assert "Wiesbaden" in _header_user(first.text) and "KDZ Mainz" in _header_user(second.text)
    assert "Leistung anbieten" in second.text and "Leistung anbieten" not in first.text
    # the logout form's CSRF token belongs to each session, never to the one that filled the cache
    tokens = [re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1) for page in (first, second)]
    assert tokens[0] != tokens[1]


def test_each_language_gets_its_own_rendering(as_user):
    client = as_user(BUYER)
    german = client.get("/services?q=server").text
    client.get("/sprache/en")
    english = client.get("/services?q=server").text
    assert "Leistungen gefunden" in german or "Leistung gefunden" in german
    assert "found" in english and "gefunden" not in english


def _provider_of(api, title: str) -> str:
    items = api.get("/api/v1/services?q=virtueller").get_json()["items"]
    return next(item["provider"]["name"] for item in items if item["title"] == title)


def test_provider_and_category_renames_show_at_once(as_user, api_as):
    client, api = as_user(BUYER), api_as(BUYER)
    assert "KDZ Mainz" in client.get("/services?q=server").text
    assert _provider_of(api, "Virtueller Server (Standard)") == "KDZ Mainz"
    member = db.session.scalar(select(Member).where(Member.name == "KDZ Mainz"))
    member.name = "KDZ Mainz (Anstalt des öffentlichen Rechts)"
    service = db.session.scalar(select(Service).where(Service.title == "Virtueller Server (Standard)"))
    service.category.name_de = "Rechenzentrumsbetrieb"
    db.session.commit()
    page = client.get("/services?q=server").text
    assert "KDZ Mainz (Anstalt des öffentlichen Rechts)" in page
    assert "Rechenzentrumsbetrieb" in page  # on the result card and in the category facet
    assert _provider_of(api, "Virtueller Server (Standard)") == "KDZ Mainz (Anstalt des öffentlichen Rechts)"


def test_cached_api_answer_equals_the_uncached_one(app, as_user, api_as):
    api = api_as(BUYER)
    url = "/api/v1/services?per_page=2&page=2"
    cold = api.get(url)
    warm = api.get(url)
    app.config["CATALOGUE_CACHE_SIZE"] = 0
    try:
        uncached = api.get(url)
    finally:
        app.config["CATALOGUE_CACHE_SIZE"] = None
    assert cold.status_code == warm.status_code == uncached.status_code == 200
    assert cold.get_data() == warm.get_data() == uncached.get_data()
    assert cold.headers["Link"] == warm.headers["Link"] == uncached.headers["Link"]
    assert 'rel="next"' in warm.headers["Link"] and warm.mimetype == "application/json"
    assert warm.get_json()["page"] == 2 and len(warm.get_json()["items"]) == 2


def test_unknown_and_bad_parameters_are_answered_like_before(as_user, api_as):
    api = api_as(BUYER)
    response = api.get("/api/v1/services?per_page=0")
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    client = as_user(BUYER)
    page = client.get("/services?price_min=abc&q=server")
    assert page.status_code == 200 and "kein gültiger Betrag" in page.text
    assert "kein gültiger Betrag" not in client.get("/services?q=server").text
    # a category that does not exist (yet) is an empty result, not an error
    assert db.session.scalar(select(Category).where(Category.slug == "nirgends")) is None
    assert "Keine Leistung passt" in client.get("/services?category=nirgends").text


def test_price_band_links_count_and_filter(as_user):
    client = as_user(BUYER)
    page = client.get("/services?q=betrieb").text
    links = re.findall(r'<li><a class="kern-link" href="([^"]+)"[^>]*>\s*([^<]+?)\s*</a> <span[^>]*>\((\d+)\)', page)
    assert links, "no price band links"
    assert sum(int(count) for _url, _label, count in links) == int(re.search(r"(\d+) Leistung", page).group(1))
    url, label, count = next(link for link in links if link[1].startswith("bis"))
    assert label == "bis 99,99\xa0€" and "price_max=99,99" in url and "q=betrieb" in url
    narrowed = client.get(url.replace("&amp;", "&")).text
    assert f"{count} Leistung" in narrowed
    assert 'aria-current="true">' in narrowed
    english = as_user(BUYER)
    english.get("/sprache/en")
    assert "up to €99.99" in english.get("/services?q=betrieb").text
