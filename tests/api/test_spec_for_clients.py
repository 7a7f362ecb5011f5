"""The OpenAPI document says exactly what the server does, so that generated clients work: an ASCII title,
downloads described as files, optional bodies optional, the same patterns and types as the validation,
and the RFC 8288 `Link` header on every page of a list."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from marketplace.api.schemas import parse_body
from marketplace.api.spec import REGISTRY, QueryModel, parse_query
from marketplace.core.errors import InvalidInput
from marketplace.core.timeutil import PERIOD_PATTERN, parse_period, period_of
from tests.conftest import make_app


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = make_app("sqlite://")
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_title_is_ascii_and_the_description_names_the_leistungsboerse(document):
    info = document["info"]
    assert info["title"].isascii() and info["title"] == "Leistungsboerse API"
    assert "Leistungsbörse" in info["description"]


def test_bodies_are_required_exactly_when_a_field_is(document):
    optional = {
        (method, path)
        for method, path, op in _operations(document)
        if "requestBody" in op and not op["requestBody"]["required"]
    }
    assert optional >= {
        ("post", "/api/v1/bookings/{booking_id}/decline"),
        ("post", "/api/v1/bookings/{booking_id}/cancel"),
        ("post", "/api/v1/periods/{period}/close"),
        ("patch", "/api/v1/services/{service_id}"),
    }
    schemas = document["components"]["schemas"]
    for method, path, op in _operations(document):
        if "requestBody" not in op:
            continue
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema
        assert op["requestBody"]["required"] == bool(schema.get("required")), (method, path)


def test_bodies_marked_optional_may_be_left_out(api_as, demo, document):
    provider = api_as("anbieter@kdz-mainz.example")
    buyer = api_as("einkauf@wiesbaden.example")
    created = buyer.post("/api/v1/bookings", json={"service_id": 1, "quantity": 1, "starts_on": "2026-12-01"})
    assert created.status_code == 201, created.get_json()
    declined = provider.client.post(f"/api/v1/bookings/{created.get_json()['id']}/decline", headers=provider.headers)
    assert declined.status_code == 200, declined.get_json()
    assert declined.get_json()["status"] == "declined"
    patched = provider.client.patch("/api/v1/services/1", headers=provider.headers)
    assert patched.status_code == 200, patched.get_json()
    operator = api_as("betrieb@kopit.example")
    closed = operator.client.post("/api/v1/periods/2026-10/close", headers=operator.headers)
    assert closed.status_code in (200, 409), closed.get_json()  # not 422: the body is optional
    # the webhook's body is required: an event has an id and a type
    webhook = next(op for _m, p, op in _operations(document) if p.endswith("/stripe/webhook"))
    assert webhook["requestBody"]["required"] is True
    assert set(webhook["requestBody"]["content"]["application/json"]["schema"]["required"]) == {"id", "type"}


def test_the_xrechnung_is_described_as_a_file_and_served_as_either(api_as, demo, document):
    content = document["paths"]["/api/v1/invoices/{invoice_id}/xrechnung"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/xml", "application/octet-stream"}
    assert content["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}

    operator = api_as("betrieb@kopit.example")
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    assert operator.post("/api/v1/periods/2026-10/close").status_code == 200
    invoice = operator.get("/api/v1/invoices?period=2026-10").get_json()["items"][0]
    path = f"/api/v1/invoices/{invoice['id']}/xrechnung"
    as_xml = operator.get(path)
    assert as_xml.status_code == 200 and as_xml.mimetype == "application/xml"
    as_bytes = operator.client.get(path, headers={**operator.headers, "Accept": "application/octet-stream"})
    assert as_bytes.status_code == 200 and as_bytes.mimetype == "application/octet-stream"
    assert as_bytes.data == as_xml.data
    assert as_bytes.headers["Content-Disposition"].startswith("attachment;")
    root = etree.fromstring(as_bytes.data)
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    assert root.findtext("cbc:ID", namespaces=ns) == invoice["number"]


def test_every_paged_list_documents_and_sends_link_headers(api_as, demo, document):
    schemas = document["components"]["schemas"]
    paged = []
    for _method, path, op in _operations(document):
        ok = op["responses"].get("200", {})
        ref = ok.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        if ref and {"items", "page", "per_page", "total"} <= set(schemas[ref.rsplit("/", 1)[1]]["properties"]):
            paged.append(path)
            assert "Link" in ok.get("headers", {}), path
            assert "links" in schemas[ref.rsplit("/", 1)[1]]["required"], path
    assert set(paged) >= {"/api/v1/services", "/api/v1/bookings", "/api/v1/ledger/transfers", "/api/v1/invoices"}

    operator = api_as("betrieb@kopit.example")
    operator.post("/api/v1/billing-runs", json={"period": "2026-10"})
    operator.post("/api/v1/periods/2026-10/close")
    for path in paged:
        response = operator.get(path + "?per_page=1&page=2")
        assert response.status_code == 200, (path, response.get_json())
        body = response.get_json()
        header = response.headers.get("Link", "")
        for rel in ("self", "first", "last"):
            assert f'<{body["links"][rel]}>; rel="{rel}"' in header, (path, header)
        if body["total"] >= 3:
            assert f'<{body["links"]["next"]}>; rel="next"' in header, path
        assert f'<{body["links"]["prev"]}>; rel="prev"' in header, path
        assert "page=1" in body["links"]["first"] and "per_page=1" in body["links"]["first"]


# --- one month pattern, as the server reads months ----------------------------------------------------


def _period_schemas(node: Any, found: list[dict[str, Any]], name: str = "") -> list[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("name") == "period" and "schema" in node:
            found.append(node["schema"])
        for key, value in node.items():
            if key == "period" and isinstance(value, dict) and name == "properties":
                found.append(value)
            _period_schemas(value, found, key)
    elif isinstance(node, list):
        for item in node:
            _period_schemas(item, found, name)
    return found


def test_every_month_in_the_document_has_the_servers_pattern(document):
    patterns = {schema.get("pattern") for schema in _period_schemas(document["paths"], [])}
    patterns |= {
        prop.get("pattern")
        for schema in document["components"]["schemas"].values()
        for name, prop in schema.get("properties", {}).items()
        if name == "period" and "pattern" in prop
    }
    # request months carry the one pattern; ?period= of invoices also admits the empty text (all months)
    assert patterns == {PERIOD_PATTERN, f"^$|{PERIOD_PATTERN}"}


@pytest.mark.parametrize("month", ["0000-01", "2026-00", "2026-13", "2026-1", " 2026-11", "2026-11\n", "٢٠٢٦-11"])
def test_a_month_the_document_refuses_is_refused_everywhere(api_as, demo, month):
    assert not jsonschema_rs.is_valid({"type": "string", "pattern": PERIOD_PATTERN}, month)
    with pytest.raises(ValueError):
        parse_period(month)
    operator = api_as("betrieb@kopit.example")
    for response in (
        operator.post("/api/v1/billing-runs", json={"period": month}),
        operator.post("/api/v1/settlements", json={"period": month}),
        operator.get("/api/v1/ledger/transfers", query_string={"period": month}),
        operator.get("/api/v1/invoices", query_string={"period": month}),
        api_as("anbieter@kdz-mainz.example").post("/api/v1/bookings/1/usage", json={"period": month, "quantity": 1}),
    ):
        assert response.status_code == 422, (month, response.request.path, response.get_json())


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.from_regex(PERIOD_PATTERN, fullmatch=True))
def test_every_month_the_pattern_admits_is_a_month(month):
    assert period_of(parse_period(month)) == month


# --- the document's request schemas against the API's validation ---------------------------------------

#: A valid body per request model; each field is then replaced by each probe in turn.
BASES: dict[str, dict[str, Any]] = {
    "ServiceCreate": {"title": "T", "category": "hosting", "unit": "month", "unit_price": "1.00", "vat_category": "S"},
    "ServiceUpdate": {},
    "BookingCreate": {"service_id": 1, "quantity": 1, "starts_on": "2026-12-01"},
    "DeclineBody": {},
    "CancelBody": {},
    "UsageCreate": {"period": "2026-11", "quantity": "1"},
    "BillingRunCreate": {"period": "2026-11"},
    "ReverseBody": {"reason": "Irrtum"},
    "CloseBody": {},
    "SettlementCreate": {"period": "2026-11"},
    "DisputeBody": {"reason": "Zu viele Stunden"},
    "StatementBody": {"statement": "Stellungnahme"},
    "ResolveBody": {"decision": "rejected", "note": "Vermerk"},
    "BilledDisputeBody": {"reason": "Grund"},
    "UsageCorrectionBody": {"quantity": "1", "reason": "Grund"},
    "ObjectionBody": {"reason": "Grund"},
    "ReleaseMonthBody": {"period": "2026-11", "invoice_ids": [1]},
    "BookingReferencesUpdate": {},
    "InvoiceProfileIn": {},
}

#: Values at the edges where a document and a validator tend to disagree.
PROBES: list[Any] = [
    *(0, 1, 28, 28.0, 28.5, -1, -0.0, 1e3, 100_000, 100_001, 1_000_000, 1_000_001, 2**31 - 1, 2**31, True, None),
    *(0.001, 0.0001, 0.3, 12345.678, 1e10, 1e10 + 1, 10_000_000_000.001),
    *("", " ", "   ", "a", " a ", "x\n", "x\ny", "x\r\ny", "x\ty", "\x00", "\x7f", "\x85", "\u2028", "\u00a0", "ä"),
    *("2026-11", "0000-01", "0001-01", "9999-12", "2026-13", " 2026-11", "2026-11\n", "٢٠٢٦-11"),
    *("2026-12-01", "0000-01-01", "0001-01-01", "2026-02-30", "2026-12-01T00:00:00", "20261201", 1764547200),
    *("0", "1", "28", "1.00", "12.5", "12.345", "12.3456", "-1.00", "1e3", "+1", "1_000", "١٢", "1.", ".5"),
    *("9999999.99", "10000000", "10000000.00", "10000000.01", "010000000", "00000001.00", "99999999.99"),
    *("10000000000", "10000000000.000", "10000000000.001", "99999999999", "0" * 39 + "1", "0" * 40 + "1"),
    *("19", "19.00", "0", "0.00", "7.00", "hosting", "month", "hour", "S", "O", "E", "published", "draft"),
    *("cost_reimbursement", "VATEX-EU-132", "x" * 40, "x" * 41, "x" * 200, "x" * 201, "x" * 300, "x" * 301),
    *("x" * 2000, "x" * 2001, [], ["cost_reimbursement"], ["nonsense"], {}, {"a": 1}),
    *(" month", "month ", "\x85" + "x" * 40, "x" * 200 + " ", " " + "x" * 199, "\u3000x\u3000", "\ufeffx", "x\x1c"),
]


def _body_models() -> dict[str, type]:
    return {op.body.__name__: op.body for op in REGISTRY if isinstance(op.body, type)}


def test_every_body_model_has_a_base():
    missing = set(_body_models()) - set(BASES)
    assert not missing, f"add a valid body of {sorted(missing)} to BASES"


@pytest.mark.parametrize("name", sorted(_body_models()))
def test_the_document_admits_exactly_what_the_validation_takes(document, name):
    """For every field of every request body and every probe: the document's schema (as a generated
    client or schemathesis reads it) and the API's own validation agree whether the body is valid."""
    model = _body_models()[name]
    assert name in BASES, f"add a valid body of {name} to BASES"
    validator = jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}, validate_formats=True
    )
    assert validator.is_valid(BASES[name])
    parse_body(model, json.dumps(BASES[name]).encode())
    disagreements = []
    for field in model.model_fields:
        for probe in PROBES:
            body = {**BASES[name], field: probe}
            raw = json.dumps(body).encode()
            in_document = validator.is_valid(json.loads(raw))
            try:
                parse_body(model, raw)
                taken = True
            except InvalidInput:
                taken = False
            if in_document != taken:
                disagreements.append((field, probe, "document admits" if in_document else "server takes"))
    assert not disagreements, disagreements


def _query_models() -> dict[str, type[QueryModel]]:
    return {op.query.__name__: op.query for op in REGISTRY if op.query is not None}


QUERY_PROBES = ["", " ", "1", "01", "28", "28.0", "-1", "1_0", "١", "0", "1000000", "1000001", "100", "101"]
QUERY_PROBES += ["2026-11", "0000-01", "0001-01", " 2026-11", "2026-13", "hosting", "buyer", "provider", "x" * 201]
QUERY_PROBES += ["accepted", "nonsense", "a\tb", "Server", " buyer", "\x85" + "x" * 40, "x" * 200 + " "]


@pytest.mark.parametrize("name", sorted(_query_models()))
def test_query_parameters_admit_exactly_what_the_validation_takes(document, name):
    """The same for query strings: each value as a client would send it. Integers are compared for the
    decimal digits a client writes (the document's integers have no other spelling in a query)."""
    model = _query_models()[name]
    op = next(op for op in REGISTRY if op.query is model)
    parameters = {
        p["name"]: p["schema"]
        for p in document["paths"][op.openapi_path][op.method.lower()]["parameters"]
        if p["in"] == "query"
    }
    app = make_app("sqlite://")
    disagreements = []
    for parameter, schema in parameters.items():
        for probe in QUERY_PROBES:
            if schema.get("type") == "integer":
                if not (probe.isascii() and probe.isdigit() and (probe == "0" or not probe.startswith("0"))):
                    continue
                value: Any = int(probe)
            else:
                value = probe
            in_document = jsonschema_rs.is_valid(schema, value)
            with app.test_request_context("/", query_string={parameter: probe}):
                try:
                    parse_query(model)
                    taken = True
                except InvalidInput:
                    taken = False
            if in_document != taken:
                disagreements.append((parameter, probe, "document admits" if in_document else "server takes"))
    assert not disagreements, disagreements


def test_the_reference_page_names_the_text_rules_in_words(client):
    page = client.get("/api-docs")
    assert page.status_code == 200
    assert "eine Zeile ohne Steuerzeichen" in page.text
    assert r"\x00-\x1f" not in page.text  # the patterns themselves are for machines
