"""The API walk of DESIGN.md that other systems rely on: publish, request, accept, bill; errors as problem+json."""

from decimal import Decimal

import pytest

from marketplace.extensions import db
from marketplace.ledger.models import Transfer

SERVICE = {
    "title": "Backup as a Service",
    "description": "Tägliche Sicherung mit 30 Tagen Aufbewahrung.",
    "category": "hosting",
    "unit": "month",
    "unit_price": "123.45",
    "vat_category": "S",
    "vat_rate": "19.00",
    "capacity": 10,
}


def _balances(api):
    body = api.get("/api/v1/ledger/balances").get_json()
    return {item["member_name"]: Decimal(item["balance"]) for item in body["items"]}, body["total"]


def test_publish_request_accept_bill_moves_exactly_the_pro_rata_charge(api_as, demo):
    provider, buyer = api_as("anbieter@kdz-mainz.example"), api_as("einkauf@wiesbaden.example")
    operator, other = api_as("betrieb@kopit.example"), api_as("einkauf@ladadi.example")

    me = buyer.get("/api/v1/me").get_json()
    assert me["user"]["email"] == "einkauf@wiesbaden.example"
    assert me["user"]["roles"] == ["buyer"]
    assert me["member"]["name"] == "Stadt Wiesbaden"

    created = provider.post("/api/v1/services", json=SERVICE)
    assert created.status_code == 201, created.get_json()
    service = created.get_json()
    assert service["unit_price"] == "123.45"
    assert service["provider"]["name"] == "KDZ Mainz"
    assert service["status"] == "published"

    listed = buyer.get("/api/v1/services?q=Backup").get_json()
    assert [s["id"] for s in listed["items"]] == [service["id"]]
    assert listed["total"] == 1

    requested = buyer.post(
        "/api/v1/bookings",
        json={"service_id": service["id"], "quantity": 3, "starts_on": "2026-11-17", "note": "Rathaus"},
    )
    assert requested.status_code == 201, requested.get_json()
    booking = requested.get_json()
    assert booking["status"] == "requested"
    assert booking["buyer"]["name"] == "Stadt Wiesbaden"

    assert other.get(f"/api/v1/bookings/{booking['id']}").status_code == 404
    assert other.post(f"/api/v1/bookings/{booking['id']}/accept").status_code == 404

    accepted = provider.post(f"/api/v1/bookings/{booking['id']}/accept")
    assert accepted.status_code == 200
    assert accepted.get_json()["status"] == "accepted"
    assert accepted.get_json()["unit_price"] == "123.45"
    assert provider.post(f"/api/v1/bookings/{booking['id']}/accept").status_code == 409

    before, _total = _balances(operator)
    run = operator.post("/api/v1/billing-runs", json={"period": "2026-11"})
    assert run.status_code == 201, run.get_json()
    after, total = _balances(operator)
    # 123.45 € × 3 × 14/30 days (17 to 30 November) = 172.83 €
    charge = Decimal("172.83")
    charges = db.session.query(Transfer).filter_by(booking_id=booking["id"]).all()
    assert [t.amount_cents for t in charges] == [17283]
    postings = sorted((p.account.member.name, p.amount_cents) for p in charges[0].postings)
    assert postings == [("KDZ Mainz", 17283), ("Stadt Wiesbaden", -17283)]
    november = db.session.query(Transfer).filter_by(period="2026-11").all()
    owed_in_november = sum(
        p.amount_cents for t in november for p in t.postings if p.account.member.name == "Stadt Wiesbaden"
    )
    assert (after["Stadt Wiesbaden"] - before["Stadt Wiesbaden"]) * 100 == owed_in_november
    assert total == "0.00"
    assert Decimal(run.get_json()["total"]) >= charge

    rerun = operator.post("/api/v1/billing-runs", json={"period": "2026-11"})
    assert rerun.get_json() == {"period": "2026-11", "transfers_created": 0, "total": "0.00", "skipped": []}
    assert _balances(operator)[0] == after


def test_member_finance_sees_only_its_own_balance(api_as, demo):
    body = api_as("kasse@wiesbaden.example").get("/api/v1/ledger/balances").get_json()
    assert [item["member_name"] for item in body["items"]] == ["Stadt Wiesbaden"]
    assert api_as("einkauf@wiesbaden.example").get("/api/v1/ledger/balances").status_code == 403


def test_billing_runs_are_for_operator_finance_only(api_as, demo):
    response = api_as("kasse@wiesbaden.example").post("/api/v1/billing-runs", json={"period": "2026-11"})
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SERVICE, "unit_price": "-1.00"}, "unit_price"),
        ({**SERVICE, "unit_price": "1.234"}, "unit_price"),
        ({**SERVICE, "unit_price": 12.5}, "unit_price"),
        ({**SERVICE, "title": "x" * 201}, "title"),
        ({**SERVICE, "category": "astrology"}, "category"),
        ({**SERVICE, "unit": "day"}, "unit"),
        ({**SERVICE, "capacity": 0}, "capacity"),
        ({**SERVICE, "vat_category": "S", "vat_rate": "0.00"}, "vat_rate"),
        ({k: v for k, v in SERVICE.items() if k != "title"}, "title"),
    ],
)
def test_bad_service_input_is_a_422_naming_the_field(api_as, demo, body, field):
    provider = api_as("anbieter@kdz-mainz.example")
    response = provider.post("/api/v1/services", json=body)
    assert response.status_code == 422, response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422
    assert field in problem["errors"], problem


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service_id": 1, "quantity": 0, "starts_on": "2026-12-01"}, "quantity"),
        ({"service_id": 1, "quantity": -3, "starts_on": "2026-12-01"}, "quantity"),
        ({"service_id": 1, "quantity": "zwei", "starts_on": "2026-12-01"}, "quantity"),
        ({"service_id": 1, "quantity": 1, "starts_on": "2026-02-30"}, "starts_on"),
        ({"service_id": 1, "quantity": 1, "starts_on": "2026-01-01"}, "starts_on"),
        ({"service_id": 1, "quantity": 1, "starts_on": "2026-12-10", "ends_on": "2026-12-01"}, "ends_on"),
        ({"service_id": 1, "quantity": 1, "starts_on": "2026-12-10", "note": "x" * 2001}, "note"),
    ],
)
def test_bad_booking_input_is_a_422_naming_the_field(api_as, demo, body, field):
    response = api_as("einkauf@wiesbaden.example").post("/api/v1/bookings", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_broken_json_unknown_service_and_missing_token(client, api_as, demo):
    buyer = api_as("einkauf@wiesbaden.example")
    broken = buyer.client.post(
        "/api/v1/bookings", data='{"service_id": 1,', headers={**buyer.headers, "Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.headers["Content-Type"] == "application/problem+json"
    unknown = buyer.post("/api/v1/bookings", json={"service_id": 99999, "quantity": 1, "starts_on": "2026-12-01"})
    assert unknown.status_code == 404
    anonymous = client.get("/api/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["Content-Type"] == "application/problem+json"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer lb_not-a-token"}).status_code == 401


def test_billing_run_input(api_as, demo):
    operator = api_as("betrieb@kopit.example")
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-13"}).status_code == 422
    assert operator.post("/api/v1/billing-runs", json={"period": "2027-01"}).status_code == 409
    closed = operator.post("/api/v1/billing-runs", json={"period": "2026-08"})  # the demo closed it
    assert closed.status_code == 409
    assert "abgeschlossen" in closed.get_json()["detail"]
