"""CSRF: every state-changing HTML request without a valid token is refused (the API uses bearer tokens)."""

from __future__ import annotations

import pytest

from marketplace.extensions import csrf
from tests.conftest import login

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _sample(converter) -> object:
    """A value the converter accepts: a number for ids, one of the choices for `any(...)`, a month otherwise."""
    name = type(converter).__name__
    if name in ("IntegerConverter", "NumberConverter", "FloatConverter"):
        return 1
    if name == "AnyConverter":
        return sorted(converter.items)[0]
    if name == "UUIDConverter":
        return "00000000-0000-0000-0000-000000000001"
    return "2026-10"


def _state_changing_html_routes(app) -> list[tuple[str, str, str]]:
    app.url_map.update()
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") or rule.rule.startswith("/api/"):
            continue
        for method in sorted((rule.methods or set()) & STATE_CHANGING):
            values = {name: _sample(rule._converters[name]) for name in rule.arguments}
            routes.append((method, rule.build(values)[1], rule.endpoint))
    return routes


def test_there_are_state_changing_routes_to_check(app):
    endpoints = {endpoint for _method, _url, endpoint in _state_changing_html_routes(app)}
    assert {"members.login", "members.logout", "catalogue.new", "bookings.create", "ledger.billing"} <= endpoints


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_every_state_changing_html_route_refuses_a_missing_or_forged_token(app, client, demo, token):
    login(client, "betrieb@kopit.example")
    data = {"csrf_token": token} if token else {}
    accepted = []
    for method, url, endpoint in _state_changing_html_routes(app):
        response = client.open(url, method=method, data=data)
        if response.status_code != 400 or "Die Anfrage war fehlerhaft" not in response.text:
            accepted.append(f"{method} {url} ({endpoint}): {response.status_code}")
    assert not accepted, "accepted without a valid CSRF token:\n" + "\n".join(accepted)


def test_only_the_api_is_exempt(app):
    assert {getattr(bp, "name", bp) for bp in csrf._exempt_blueprints} <= {"api"}
    assert all(view.startswith("marketplace.api") for view in csrf._exempt_views), csrf._exempt_views
