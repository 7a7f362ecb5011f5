"""Limits: requests per token (429 problem with Retry-After), body size (413 problem), login per address."""

from __future__ import annotations

from tests.conftest import csrf_token

BUYER = "einkauf@wiesbaden.example"


def test_rate_limit_per_token(app, api_as, demo):
    app.config["API_RATE_LIMIT"] = "5 per minute"
    first, second = api_as(BUYER), api_as(BUYER)
    statuses = [first.get("/api/v1/me").status_code for _ in range(5)]
    assert statuses == [200] * 5
    limited = first.get("/api/v1/me")
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["status"] == 429
    # Another token (even of the same user) has its own budget.
    assert second.get("/api/v1/me").status_code == 200


def test_body_size_limit(app, api_as, demo):
    app.config["API_MAX_BODY_BYTES"] = 1024
    api = api_as(BUYER)
    response = api.post(
        "/api/v1/bookings", json={"service_id": 1, "quantity": 1, "starts_on": "2026-12-01", "note": "x" * 2000}
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_login_is_limited_per_address(app, client, demo):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    page = client.get("/login")
    token = csrf_token(page.text)
    statuses = [
        client.post(
            "/login", data={"email": f"x{i}@example.org", "password": "falsch-falsch", "csrf_token": token}
        ).status_code
        for i in range(4)
    ]
    assert statuses[-1] == 429, statuses
    last = client.post("/login", data={"email": "y@example.org", "password": "falsch-falsch", "csrf_token": token})
    assert last.status_code == 429 and int(last.headers["Retry-After"]) > 0


def test_wrong_method_is_a_405_problem_naming_the_allowed_ones(client):
    response = client.delete("/api/v1/me")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert "GET" in response.headers["Allow"]
