"""Money is never kept in a browser's or proxy's cache: finance pages, their downloads and the API's ledger,
invoice and settlement answers say `Cache-Control: no-store` (on a shared office computer the back button
would otherwise show the last person's ledger)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.members.models import Member
from tests.conftest import login


def _wiesbaden() -> int:
    return db.session.scalar(select(Member.id).where(Member.name == "Stadt Wiesbaden"))


PAGES = [
    "/ledger",
    "/ledger/statements/{wiesbaden}/2026-09",
    "/ledger/statements/{wiesbaden}/2026-09.csv",
    "/ledger/exports/journal.csv",
    "/ledger/exports/datev/{wiesbaden}/2026-08.csv",
    "/ledger/exports/gdpdu/2026-09.zip",
    "/invoices",
    "/settlements",
    "/cost-sharing/",
]


@pytest.mark.parametrize("path", PAGES)
def test_finance_pages_and_exports_are_not_stored(client, demo, path):
    login(client, "betrieb@kopit.example")
    response = client.get(path.format(wiesbaden=_wiesbaden()))
    assert response.status_code == 200, path
    assert response.headers["Cache-Control"] == "no-store"


def test_a_finance_page_is_not_stored_for_member_finance_either(client, demo):
    login(client, "kasse@wiesbaden.example")
    response = client.get(f"/ledger/statements/{_wiesbaden()}/2026-09")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/ledger/balances", 200),
        ("/api/v1/ledger/transfers?period=2026-09", 200),
        ("/api/v1/invoices", 200),
        ("/api/v1/settlements/999", 404),  # an error about money is not kept either
    ],
)
def test_api_answers_about_money_are_not_stored(api_as, demo, path, status):
    response = api_as("betrieb@kopit.example").get(path)
    assert response.status_code == status, response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_a_billing_run_answer_is_not_stored(api_as, demo):
    response = api_as("betrieb@kopit.example").post("/api/v1/billing-runs", json={"period": "2026-10"})
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
