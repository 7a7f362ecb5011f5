"""Unknown query parameters are a 422 naming them, on every GET of the API, also those that take none.

A parameter the server ignores looks like a filter to the caller: `?member_id=` on the balances (which has
no such filter) would answer with every member's balance, and a typo such as `?perod=` with every month.
"""

from __future__ import annotations

import pytest

OPERATOR_FINANCE = "betrieb@kopit.example"


def _assert_names(response, *names: str) -> None:
    assert response.status_code == 422, response.text
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422
    assert set(problem["errors"]) == set(names), problem


def test_balances_refuse_an_unknown_parameter(api_as, demo):
    api = api_as(OPERATOR_FINANCE)
    assert api.get("/api/v1/ledger/balances").status_code == 200
    response = api.get("/api/v1/ledger/balances?member_id=3")
    _assert_names(response, "member_id")
    assert response.get_json()["errors"]["member_id"] == ["Diesen Abfrageparameter gibt es hier nicht."]
    _assert_names(api.get("/api/v1/ledger/balances?as_of=2026-10-31&member_id=3"), "as_of", "member_id")


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("/api/v1/ledger/transfers?perod=2026-09", "perod"),
        ("/api/v1/ledger/transfers?period=2026-09&sort=amount", "sort"),
        ("/api/v1/invoices?status=open", "status"),
        ("/api/v1/invoices/1/xrechnung?format=cii", "format"),
        ("/api/v1/settlements/1?member_id=3", "member_id"),
        ("/api/v1/me?verbose=1", "verbose"),
    ],
)
def test_other_ledger_and_invoice_reads_refuse_unknown_parameters(api_as, demo, path, unknown):
    _assert_names(api_as(OPERATOR_FINANCE).get(path), unknown)


def test_the_document_says_a_get_without_parameters_may_answer_422(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "422" in document["paths"]["/api/v1/ledger/balances"]["get"]["responses"]
