"""Services and bookings through the API: shapes, money strings, pagination links, filters, errors."""

from __future__ import annotations

from datetime import date

BUYER = "einkauf@wiesbaden.example"
PROVIDER = "anbieter@kdz-mainz.example"


def test_services_page_with_links_and_money(api_as, demo):
    api = api_as(BUYER)
    response = api.get("/api/v1/services?per_page=2")
    assert response.status_code == 200
    body = response.get_json()
    assert body["page"] == 1 and body["per_page"] == 2 and body["total"] >= 3
    assert len(body["items"]) == 2
    assert body["links"]["prev"] is None
    assert "page=2" in body["links"]["next"] and "per_page=2" in body["links"]["next"]
    assert 'rel="next"' in response.headers["Link"]
    second = api.get(body["links"]["next"]).get_json()
    assert {s["id"] for s in second["items"]}.isdisjoint({s["id"] for s in body["items"]})
    for item in body["items"]:
        assert item["unit_price"].count(".") == 1 and len(item["unit_price"].split(".")[1]) == 2
        assert set(item["provider"]) == {"id", "name"}


def test_service_filters(api_as, demo):
    api = api_as(BUYER)
    hosting = api.get("/api/v1/services?category=hosting&per_page=100").get_json()
    assert hosting["items"] and all(s["category"] == "hosting" for s in hosting["items"])
    provider_id = hosting["items"][0]["provider"]["id"]
    mine = api.get(f"/api/v1/services?provider_id={provider_id}&per_page=100").get_json()
    assert mine["items"] and all(s["provider"]["id"] == provider_id for s in mine["items"])
    bad = api.get("/api/v1/services?per_page=0")
    assert bad.status_code == 422
    assert bad.mimetype == "application/problem+json"
    assert "per_page" in bad.get_json()["errors"]
    assert api.get("/api/v1/services?provider_id=abc").get_json()["errors"].keys() == {"provider_id"}


def test_bad_bodies_are_422_naming_the_field(api_as, demo):
    api = api_as(BUYER)
    service_id = api.get("/api/v1/services").get_json()["items"][0]["id"]
    cases = [
        ({"service_id": service_id, "quantity": 0, "starts_on": "2026-12-01"}, "quantity"),
        ({"service_id": service_id, "quantity": -3, "starts_on": "2026-12-01"}, "quantity"),
        ({"service_id": service_id, "quantity": "2", "starts_on": "2026-12-01"}, "quantity"),
        ({"service_id": service_id, "quantity": 1, "starts_on": "2026-02-30"}, "starts_on"),
        ({"service_id": service_id, "quantity": 1, "starts_on": "2026-12-01", "note": "x" * 2001}, "note"),
        ({"service_id": service_id, "quantity": 1}, "starts_on"),
    ]
    for body, field in cases:
        response = api.post("/api/v1/bookings", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.mimetype == "application/problem+json"
        assert field in response.get_json()["errors"], (body, response.get_json())
    broken = api.client.post(
        "/api/v1/bookings", data="{not json", headers={**api.headers, "Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and "body" in broken.get_json()["errors"]
    array = api.post("/api/v1/bookings", json=[1, 2])
    assert array.status_code == 422 and "body" in array.get_json()["errors"]


def test_booking_flow(api_as, demo):
    buyer, provider = api_as(BUYER), api_as(PROVIDER)
    services = provider.get("/api/v1/me").get_json()
    mine = buyer.get(f"/api/v1/services?provider_id={services['member']['id']}").get_json()["items"]
    created = buyer.post(
        "/api/v1/bookings", json={"service_id": mine[0]["id"], "quantity": 1, "starts_on": "2026-12-01"}
    )
    assert created.status_code == 201, created.text
    booking = created.get_json()
    assert booking["status"] == "requested" and booking["unit_price"] is None
    accepted = provider.post(f"/api/v1/bookings/{booking['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.get_json()["unit_price"] == mine[0]["unit_price"]
    again = provider.post(f"/api/v1/bookings/{booking['id']}/accept")
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    listed = provider.get("/api/v1/bookings?as=provider&status=accepted").get_json()
    assert booking["id"] in [b["id"] for b in listed["items"]]


def _booking_of(api, title_part: str, side: str = "buyer") -> dict:
    services = {s["id"]: s for s in api.get("/api/v1/services?per_page=100").get_json()["items"]}
    for booking in api.get(f"/api/v1/bookings?as={side}&per_page=100").get_json()["items"]:
        if title_part in services[booking["service_id"]]["title"]:
            return booking
    raise AssertionError(title_part)


def test_usage_for_metered_bookings(api_as, demo):
    buyer, provider = api_as(BUYER), api_as(PROVIDER)
    booking = _booking_of(buyer, "Lizenzmanagement")
    url = f"/api/v1/bookings/{booking['id']}/usage"
    created = provider.post(url, json={"period": "2026-11", "quantity": "360.5"})
    assert created.status_code == 201, created.text
    body = created.get_json()
    assert date.fromisoformat(body.pop("review_until")) >= date(2026, 11, 30)  # 14 days from the entry
    assert body == {
        "id": body["id"],
        "booking_id": booking["id"],
        "period": "2026-11",
        "quantity": "360.500",
        "status": "recorded",  # in review: confirmed, disputed or, after 14 days, deemed accepted
        "amount": "1622.25",  # 360.5 user-months at 4.50
        "dispute_reason": "",
        "charges": [],
    }
    assert buyer.post(url, json={"period": "2026-11", "quantity": 1}).status_code == 403
    for body, field in [
        ({"period": "2026-13", "quantity": 1}, "period"),
        ({"period": "2026-11", "quantity": -1}, "quantity"),
        ({"period": "2026-11", "quantity": "1.2345"}, "quantity"),
        ({"period": "2026-11", "quantity": "viel"}, "quantity"),
        ({"period": "2027-01", "quantity": 1}, "period"),
    ]:
        response = provider.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.get_json()["errors"], (body, response.get_json())
    recurring = _booking_of(buyer, "Virtueller Server")
    assert (
        provider.post(
            f"/api/v1/bookings/{recurring['id']}/usage", json={"period": "2026-11", "quantity": 1}
        ).status_code
        == 409
    )


def test_cancel_by_either_party(api_as, demo):
    buyer, provider = api_as(BUYER), api_as(PROVIDER)
    booking = _booking_of(buyer, "Virtueller Server")
    cancelled = buyer.post(f"/api/v1/bookings/{booking['id']}/cancel", json={"reason": "Umzug in die Cloud"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.get_json()["status"] == "cancelled"
    assert cancelled.get_json()["ends_on"] is not None
    again = provider.post(f"/api/v1/bookings/{booking['id']}/cancel", json={})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    bad_date = provider.post(
        f"/api/v1/bookings/{_booking_of(buyer, 'Lizenzmanagement')['id']}/cancel", json={"ends_on": "2026-11-31"}
    )
    assert bad_date.status_code == 422 and "ends_on" in bad_date.get_json()["errors"]
