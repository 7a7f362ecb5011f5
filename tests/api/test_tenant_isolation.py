"""Tenant isolation: every path with an id, called by a user of another member, reveals nothing.

The caller belongs to a fresh member and holds every role a member can have (buyer, provider, member
finance, member admin) with a read-write token. For each operation with an id in its path (taken from
the OpenAPI document, so a new path cannot be forgotten) the answer for an existing object of other
members must be exactly the answer for an id that does not exist: 404, or the role gate's 403 of
operator-only operations, with the same body, so nothing tells the two apart.
"""

from __future__ import annotations

import re

import pytest

from marketplace.members.models import MemberKind, Role
from tests.conftest import release_invoices

OPERATOR = "betrieb@kopit.example"
BUYER = "einkauf@wiesbaden.example"
PROVIDER = "anbieter@kdz-mainz.example"
MISSING = 2_147_480_000

#: A valid body per operation, so that only ownership can make the request fail.
BODIES = {
    "patch_service": {"title": "Übernommen"},
    "accept": None,
    "decline": {"reason": "nein"},
    "withdraw": None,
    "cancel": {},
    "record_usage_api": {"period": "2026-11", "quantity": 1},
    "reverse_ledger_transfer": {"reason": "Versehen"},
    "approve_settlement_api": None,
    "collect_settlement_api": None,
    "get_billing_run": None,
    "booking_charges_api": None,
    "confirm_usage_api": None,
    "dispute_usage_api": {"reason": "zu viel"},
    "state_correction": {"statement": "Wir auch"},
    "resolve_correction": {"decision": "rejected", "note": "Fremd entschieden"},
    "dispute_billed_usage_api": {"reason": "Fremd"},
    "correct_usage_api": {"quantity": "1", "reason": "Fremd"},
    "release_invoice_api": None,
    "object_invoice_api": {"reason": "Fremd"},
    "patch_booking": {"order_reference": "B-1"},
    "put_invoice_profile": {},
    "get_invoice_profile": None,
}
#: Operations only the operator's finance staff may call: members meet the role gate (403) whatever the id.
OPERATOR_ONLY = {
    "reverse_ledger_transfer",
    "approve_settlement_api",
    "collect_settlement_api",
    "get_billing_run",
    "resolve_correction",
}


@pytest.fixture
def objects(api_as, demo, create_member, create_user):
    """Objects of other members, one per kind of id, and a stranger holding every member role."""
    operator, buyer, provider = api_as(OPERATOR), api_as(BUYER), api_as(PROVIDER)
    draft = provider.post(
        "/api/v1/services",
        json={
            "title": "Entwurf: Backup",
            "category": "hosting",
            "unit": "month",
            "unit_price": "10.00",
            "vat_category": "O",
            "status": "draft",
        },
    )
    assert draft.status_code == 201, draft.text
    booking = buyer.get("/api/v1/bookings?as=buyer").get_json()["items"][0]
    transfer = operator.get("/api/v1/ledger/transfers?per_page=1").get_json()["items"][0]
    invoices = operator.get("/api/v1/invoices").get_json()["items"]
    assert invoices, "the demo closes a month, which issues invoices"
    closed = sorted({invoice["period"] for invoice in invoices})[0]
    release_invoices(closed)  # the buyers' finance staff certified them: now they can be settled
    settlement = operator.post("/api/v1/settlements", json={"period": closed})
    assert settlement.status_code == 201, settlement.text

    stranger_member = create_member("Gemeinde Fremdhausen", MemberKind.MUNICIPALITY)
    create_user(
        stranger_member,
        "alles@fremdhausen.example",
        [Role.BUYER, Role.PROVIDER, Role.MEMBER_FINANCE, Role.MEMBER_ADMIN],
    )
    return {
        "ids": {
            "service_id": draft.get_json()["id"],
            "booking_id": booking["id"],
            "transfer_id": transfer["transfer_id"],
            "settlement_id": settlement.get_json()["id"],
            "invoice_id": invoices[0]["id"],
            "run_id": _billing_run_id(),
            "correction_id": operator.get("/api/v1/corrections").get_json()["items"][0]["id"],  # the demo's case
            "usage_id": _billed_usage_id(),
            "member_id": buyer.get("/api/v1/me").get_json()["member"]["id"],
        },
        "stranger": api_as("alles@fremdhausen.example"),
    }


def _billing_run_id() -> int:
    from sqlalchemy import select

    from marketplace.extensions import db
    from marketplace.monthend.models import BillingRun

    return db.session.scalar(select(BillingRun.id).limit(1))  # the demo's history has billing runs


def _billed_usage_id() -> int:
    from sqlalchemy import select

    from marketplace.bookings.models import UsageRecord
    from marketplace.extensions import db

    return db.session.scalar(select(UsageRecord.id).order_by(UsageRecord.id).limit(1))  # billed in the demo


def _call(api, method: str, path: str, body):
    if method == "get":
        return api.get(path)
    if method == "patch":
        return api.patch(path, json=body)
    if method == "put":
        return api.put(path, json=body)
    return api.post(path, json=body)


def test_every_path_with_an_id_reveals_nothing_to_other_members(client, objects):
    doc = client.get("/api/v1/openapi.json").get_json()
    stranger, ids = objects["stranger"], objects["ids"]
    checked = []
    for template, item in doc["paths"].items():
        names = re.findall(r"{(\w+)}", template)
        if not any(name.endswith("_id") for name in names):
            continue
        for method, op in item.items():
            op_id = op["operationId"]
            body = BODIES.get(op_id)
            existing = template
            missing = template
            for name in names:
                existing = existing.replace("{" + name + "}", str(ids[name]))
                missing = missing.replace("{" + name + "}", str(MISSING))
            foreign = _call(stranger, method, existing, body)
            absent = _call(stranger, method, missing, body)
            expected = 403 if op_id in OPERATOR_ONLY else 404
            assert foreign.status_code == expected, (method, existing, foreign.status_code, foreign.text)
            assert foreign.mimetype == "application/problem+json", (method, existing)
            assert foreign.get_json() == absent.get_json(), (method, existing, foreign.text, absent.text)
            checked.append(f"{method.upper()} {template}")
    assert len(checked) >= 13, checked
    assert {op for op in BODIES} | {
        "get_service",
        "get_booking",
        "get_settlement",
        "invoice_xrechnung",
        "get_advice",
        "get_correction",
    } >= {
        item[method]["operationId"]
        for template, item in doc["paths"].items()
        if re.search(r"{\w+_id}", template)
        for method in item
    }, "a new path with an id needs a body here"


def test_published_services_of_others_are_readable_but_not_changeable(objects, api_as):
    stranger = objects["stranger"]
    published = api_as(BUYER).get("/api/v1/services?q=Virtueller").get_json()["items"][0]
    assert stranger.get(f"/api/v1/services/{published['id']}").status_code == 200
    response = stranger.patch(f"/api/v1/services/{published['id']}", json={"unit_price": "0.01"})
    assert response.status_code == 404
    assert stranger.get(f"/api/v1/services/{published['id']}").get_json()["unit_price"] == published["unit_price"]


def test_foreign_objects_do_not_appear_in_lists(client, objects):
    stranger = objects["stranger"]
    for side in ("buyer", "provider"):
        assert stranger.get(f"/api/v1/bookings?as={side}").get_json()["items"] == []
    assert stranger.get("/api/v1/invoices").get_json()["items"] == []
    titles = [s["title"] for s in stranger.get("/api/v1/services?per_page=100").get_json()["items"]]
    assert "Entwurf: Backup" not in titles
    balances = stranger.get("/api/v1/ledger/balances").get_json()
    assert [row["member_name"] for row in balances["items"]] == ["Gemeinde Fremdhausen"]
    journal = stranger.get("/api/v1/ledger/transfers?per_page=100").get_json()
    assert journal["items"] == []
