"""The OpenAPI document is generated from the registered operations and describes them exactly."""

from __future__ import annotations


def test_document_is_public_and_openapi_31(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["paths"]["/api/v1/openapi.json"]["get"]["security"] == []


def test_every_operation_documents_its_errors_as_problems(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op.get("security") == []:
                continue
            statuses = ["401", "403", "429"]
            if "{" in path or op.get("parameters") or "requestBody" in op:
                statuses.append("422")
            for status in statuses:
                content = op["responses"][status]["content"]
                assert content == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}, (
                    path,
                    method,
                    status,
                )
            if "{" in path:
                assert "404" in op["responses"], (path, method)
            if method == "post":
                assert any(p["name"] == "Idempotency-Key" for p in op["parameters"]), path


def test_paths_of_the_foundation(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert ("GET", "/api/v1/services/{service_id}") in ops
    assert ("PATCH", "/api/v1/services/{service_id}") in ops
    assert ("POST", "/api/v1/bookings/{booking_id}/accept") in ops
    money = doc["components"]["schemas"]["ServiceOut"]["properties"]["unit_price"]
    assert money["pattern"] == r"^-?\d+\.\d{2}$"


def test_reference_page_renders_every_operation_from_the_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    page = client.get("/api-docs")
    assert page.status_code == 200
    for path, item in doc["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in page.text, (method, path)
    assert 'id="schema-BookingOut"' in page.text
    assert "cdn" not in page.text.lower() and "<script" not in page.text


#: The contract table of the design brief: other systems rely on exactly these paths.
CONTRACT = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/services"),
    ("POST", "/api/v1/services"),
    ("GET", "/api/v1/services/{service_id}"),
    ("PATCH", "/api/v1/services/{service_id}"),
    ("POST", "/api/v1/bookings"),
    ("GET", "/api/v1/bookings"),
    ("GET", "/api/v1/bookings/{booking_id}"),
    ("POST", "/api/v1/bookings/{booking_id}/accept"),
    ("POST", "/api/v1/bookings/{booking_id}/decline"),
    ("POST", "/api/v1/bookings/{booking_id}/withdraw"),
    ("POST", "/api/v1/bookings/{booking_id}/cancel"),
    ("POST", "/api/v1/bookings/{booking_id}/usage"),
    ("POST", "/api/v1/billing-runs"),
    ("GET", "/api/v1/ledger/balances"),
    ("GET", "/api/v1/ledger/transfers"),
    ("POST", "/api/v1/ledger/transfers/{transfer_id}/reverse"),
    ("POST", "/api/v1/periods/{period}/close"),
    ("POST", "/api/v1/settlements"),
    ("GET", "/api/v1/settlements/{settlement_id}"),
    ("POST", "/api/v1/settlements/{settlement_id}/approve"),
    ("POST", "/api/v1/settlements/{settlement_id}/collect"),
    ("GET", "/api/v1/settlements/{settlement_id}/advices/{member_id}"),
    ("POST", "/api/v1/payments/stripe/webhook"),
    ("GET", "/api/v1/invoices"),
    ("GET", "/api/v1/invoices/{invoice_id}/xrechnung"),
    ("GET", "/api/v1/openapi.json"),
    # the Additions for the month cycle
    ("GET", "/api/v1/periods"),
    ("GET", "/api/v1/usage"),
    ("POST", "/api/v1/usage/{usage_id}/confirm"),
    ("POST", "/api/v1/usage/{usage_id}/dispute"),
    # the Additions for the month cycle: correction cases and the buyer's release
    ("GET", "/api/v1/corrections"),
    ("POST", "/api/v1/corrections/{correction_id}/resolve"),
    ("POST", "/api/v1/invoices/{invoice_id}/release"),
    ("POST", "/api/v1/invoices/{invoice_id}/object"),
]

#: Query parameters the contract names.
CONTRACT_QUERIES = {
    ("GET", "/api/v1/services"): {"q", "category", "provider_id", "page", "per_page"},
    ("GET", "/api/v1/bookings"): {"as", "status", "provider_id", "buyer_id", "service_id"},
    ("GET", "/api/v1/ledger/transfers"): {"member_id", "period", "page"},
    ("GET", "/api/v1/invoices"): {"period"},
    ("GET", "/api/v1/usage"): {"booking_id", "period", "status"},
}


def test_every_contract_path_exists_and_is_routed(client, app):
    doc = client.get("/api/v1/openapi.json").get_json()
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    missing = [entry for entry in CONTRACT if entry not in documented]
    assert not missing, missing
    for (method, path), names in CONTRACT_QUERIES.items():
        op = doc["paths"][path][method.lower()]
        assert names <= {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}, (method, path)
    # The document is generated from the routes, so each documented operation is served.
    adapter = app.url_map.bind("localhost")
    for method, path in documented:
        concrete = path.replace("{period}", "2026-10")
        for name in (
            "service_id",
            "booking_id",
            "transfer_id",
            "settlement_id",
            "invoice_id",
            "run_id",
            "correction_id",
            "usage_id",
            "member_id",
        ):
            concrete = concrete.replace("{" + name + "}", "1")
        endpoint, _args = adapter.match(concrete, method=method)
        assert endpoint.startswith("api."), (method, path, endpoint)


def test_document_is_a_valid_openapi_31_document(client):
    import schemathesis

    doc = client.get("/api/v1/openapi.json").get_json()
    schemathesis.openapi.from_dict(doc).validate()  # the official 3.1 meta-schema (raises when invalid)
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for item in doc["paths"].values():
        for op in item.values():
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in operation_ids
