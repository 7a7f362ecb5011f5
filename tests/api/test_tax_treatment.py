"""The API carries the tax treatment of a service and holds publishing as O to the § 2b rule of the pages.

A not-taxable (O) service is published only with its § 2b reasons (`tax_reasons`); a draft may lack them.
An exempt (E) service needs its exemption code (`vatex_code`), one of those the service form offers.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from marketplace.catalogue.forms import VATEX_LABELS
from marketplace.catalogue.models import Service
from marketplace.extensions import db
from tests.taxdata import O_TAX

PROVIDER = "anbieter@kdz-mainz.example"
BUYER = "einkauf@wiesbaden.example"
SERVICE = {
    "title": "Gemeinsames Rechenzentrum",
    "category": "hosting",
    "unit": "month",
    "unit_price": "250.00",
    "vat_category": "O",
}


def _services() -> int:
    db.session.rollback()  # read what the requests committed, not this context's snapshot
    return db.session.scalar(select(func.count()).select_from(Service))


def _problem(response, status: int = 422) -> dict:
    assert response.status_code == status, response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    return response.get_json()


def test_publishing_o_without_reasons_is_a_422_naming_them_and_stores_nothing(api_as, demo):
    provider = api_as(PROVIDER)
    before = _services()
    problem = _problem(provider.post("/api/v1/services", json=SERVICE))
    assert "tax_reasons" in problem["errors"]
    assert "Entwurf" in problem["detail"]  # says how to save it anyway
    # status published said outright, and an empty list of reasons, are the same
    problem = _problem(provider.post("/api/v1/services", json={**SERVICE, "status": "published", "tax_reasons": []}))
    assert set(problem["errors"]) == {"tax_reasons"}
    assert _services() == before


def test_publishing_o_with_reasons_is_201_and_they_come_back(api_as, demo):
    provider, buyer = api_as(PROVIDER), api_as(BUYER)
    body = {**SERVICE, **O_TAX, "tax_reasoning": "Zweckvereinbarung nach KomZG"}
    created = provider.post("/api/v1/services", json=body)
    assert created.status_code == 201, created.get_json()
    service = created.get_json()
    assert service["status"] == "published"
    read = buyer.get(f"/api/v1/services/{service['id']}").get_json()
    assert read["tax_reasons"] == sorted(O_TAX["tax_reasons"])
    assert read["tax_legal_basis"] == "§ 2b Abs. 3 Nr. 2 UStG"
    assert read["tax_reasoning"] == "Zweckvereinbarung nach KomZG"
    assert read["vatex_code"] is None
    listed = buyer.get("/api/v1/services?q=Rechenzentrum").get_json()["items"]
    assert [item["tax_reasons"] for item in listed if item["id"] == service["id"]] == [read["tax_reasons"]]


def test_an_empty_legal_basis_takes_the_one_the_reasons_belong_to(api_as, demo):
    created = api_as(PROVIDER).post("/api/v1/services", json={**SERVICE, "tax_reasons": ["shared_public_task"]})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["tax_legal_basis"] == "§ 2b Abs. 3 Nr. 2 UStG"


def test_a_draft_may_lack_the_reasons_but_publishing_it_needs_them(api_as, demo):
    provider = api_as(PROVIDER)
    draft = provider.post("/api/v1/services", json={**SERVICE, "status": "draft"})
    assert draft.status_code == 201, draft.get_json()
    service_id = draft.get_json()["id"]
    assert draft.get_json()["tax_reasons"] == []
    # drafts may change without them
    assert provider.patch(f"/api/v1/services/{service_id}", json={"title": "Noch ein Entwurf"}).status_code == 200

    problem = _problem(provider.patch(f"/api/v1/services/{service_id}", json={"status": "published"}))
    assert "tax_reasons" in problem["errors"]
    assert provider.get(f"/api/v1/services/{service_id}").get_json()["status"] == "draft"  # nothing changed

    published = provider.patch(f"/api/v1/services/{service_id}", json={"status": "published", **O_TAX})
    assert published.status_code == 200, published.get_json()
    assert published.get_json()["status"] == "published"
    assert published.get_json()["tax_reasons"] == sorted(O_TAX["tax_reasons"])


def test_making_a_published_service_o_needs_the_reasons(api_as, demo):
    provider = api_as(PROVIDER)
    created = provider.post("/api/v1/services", json={**SERVICE, "vat_category": "S"})
    assert created.status_code == 201, created.get_json()
    service_id = created.get_json()["id"]

    problem = _problem(provider.patch(f"/api/v1/services/{service_id}", json={"vat_category": "O"}))
    assert "tax_reasons" in problem["errors"]
    unchanged = provider.get(f"/api/v1/services/{service_id}").get_json()
    assert (unchanged["vat_category"], unchanged["vat_rate"]) == ("S", "19.00")

    changed = provider.patch(f"/api/v1/services/{service_id}", json={"vat_category": "O", **O_TAX})
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["vat_category"], changed.get_json()["vat_rate"]) == ("O", "0.00")


def test_removing_the_reasons_of_a_published_o_service_is_a_422(api_as, demo):
    provider = api_as(PROVIDER)
    service_id = provider.post("/api/v1/services", json={**SERVICE, **O_TAX}).get_json()["id"]
    problem = _problem(provider.patch(f"/api/v1/services/{service_id}", json={"tax_reasons": []}))
    assert "tax_reasons" in problem["errors"]
    assert provider.get(f"/api/v1/services/{service_id}").get_json()["tax_reasons"] == sorted(O_TAX["tax_reasons"])
    # other changes of a complete service go through
    assert provider.patch(f"/api/v1/services/{service_id}", json={"unit_price": "260.00"}).status_code == 200


def test_exempt_needs_an_exemption_code_from_the_forms_list(api_as, demo):
    provider = api_as(PROVIDER)
    exempt = {**SERVICE, "category": "training", "vat_category": "E"}
    before = _services()
    problem = _problem(provider.post("/api/v1/services", json=exempt))
    assert set(problem["errors"]) == {"vatex_code"}
    problem = _problem(provider.post("/api/v1/services", json={**exempt, "vatex_code": "VATEX-EU-999"}))
    assert "vatex_code" in problem["errors"]
    assert _services() == before

    created = provider.post("/api/v1/services", json={**exempt, "vatex_code": "VATEX-EU-132-1I"})
    assert created.status_code == 201, created.get_json()
    assert (created.get_json()["vatex_code"], created.get_json()["vat_rate"]) == ("VATEX-EU-132-1I", "0.00")
    service_id = created.get_json()["id"]
    changed = provider.patch(f"/api/v1/services/{service_id}", json={"vatex_code": "VATEX-EU-132"})
    assert changed.get_json()["vatex_code"] == "VATEX-EU-132"


def test_changing_to_exempt_needs_the_code(api_as, demo):
    provider = api_as(PROVIDER)
    service_id = provider.post("/api/v1/services", json={**SERVICE, "vat_category": "S"}).get_json()["id"]
    problem = _problem(provider.patch(f"/api/v1/services/{service_id}", json={"vat_category": "E"}))
    assert set(problem["errors"]) == {"vatex_code"}
    changed = provider.patch(f"/api/v1/services/{service_id}", json={"vat_category": "E", "vatex_code": "VATEX-EU-132"})
    assert changed.status_code == 200, changed.get_json()
    # back to S: the exemption code no longer applies
    assert provider.patch(f"/api/v1/services/{service_id}", json={"vat_category": "S"}).get_json()["vatex_code"] is None


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"tax_reasons": ["because"]}, "tax_reasons.0"),
        ({"tax_reasons": "public_law_agreement"}, "tax_reasons"),
        ({"tax_legal_basis": "x" * 201}, "tax_legal_basis"),
        ({"tax_reasoning": "x" * 5001}, "tax_reasoning"),
    ],
)
def test_tax_fields_have_the_limits_of_the_form(api_as, demo, extra, field):
    problem = _problem(api_as(PROVIDER).post("/api/v1/services", json={**SERVICE, **O_TAX, **extra}))
    assert field in problem["errors"], problem


def test_the_document_describes_the_tax_fields(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    for name in ("ServiceCreate", "ServiceUpdate", "ServiceOut"):
        properties = schemas[name]["properties"]
        for field in ("tax_legal_basis", "tax_reasons", "tax_reasoning", "vatex_code"):
            assert properties[field].get("description"), (name, field)
    create = schemas["ServiceCreate"]["properties"]
    assert create["tax_legal_basis"]["maxLength"] == 200
    assert create["tax_reasoning"]["maxLength"] == 5000
    reason_ref = create["tax_reasons"]["items"]["$ref"].rsplit("/", 1)[-1]
    assert set(schemas[reason_ref]["enum"]) == {
        "public_law_agreement",
        "shared_public_task",
        "cost_reimbursement",
        "mainly_public_bodies",
    }
    codes = next(option for option in create["vatex_code"]["anyOf"] if option.get("type") == "string")
    assert set(codes["enum"]) == set(VATEX_LABELS)  # the codes the service form offers
    responses = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/services"]["post"]["responses"]
    assert "422" in responses
