"""The ledger's API: journal of postings, reversals, closing months. Demo ledger: transfers 1-3 in the
closed August, 4-9 and September's VAT (10) in the closed September; October is open and unbilled (today is
2026-11-16)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus, Transfer
from marketplace.ledger.queries import verify_ledger
from tests.ledger.conftest import balance_sum

MONEY = re.compile(r"^-?\d+\.\d{2}$")


@pytest.fixture
def operator(api_as, demo):
    return api_as("betrieb@kopit.example")


@pytest.fixture
def kasse(api_as, demo):
    return api_as("kasse@wiesbaden.example")


def balances(api) -> dict[str, str]:
    return {row["member_name"]: row["balance"] for row in api.get("/api/v1/ledger/balances").get_json()["items"]}


# --- reversals ---------------------------------------------------------------------------------------


def october_charge(key: str) -> int:
    transfer = db.session.scalar(select(Transfer).where(Transfer.idempotency_key == key))
    assert transfer is not None, key
    return transfer.id


def test_reversal_in_an_open_month_cancels_the_transfer(operator):
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    licences = october_charge("charge:2:2026-10")
    before = balances(operator)
    response = operator.post(f"/api/v1/ledger/transfers/{licences}/reverse", json={"reason": "Doppelt berechnet"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["reverses_transfer_id"] == licences
    assert body["kind"] == "reversal"
    assert body["period"] == "2026-10"  # October is still open: the correction goes there
    assert body["cause"] == f"reversal:{licences}"
    assert body["amount"] == "1575.00"
    assert "Doppelt berechnet" in body["description"]
    assert sorted((p["member_name"], p["amount"]) for p in body["postings"]) == [
        ("KDZ Mainz", "-1575.00"),
        ("Stadt Wiesbaden", "1575.00"),
    ]
    after = balances(operator)
    assert Decimal(after["KDZ Mainz"]) == Decimal(before["KDZ Mainz"]) - Decimal("1575.00")
    assert Decimal(after["Stadt Wiesbaden"]) == Decimal(before["Stadt Wiesbaden"]) + Decimal("1575.00")
    assert balance_sum() == 0
    assert verify_ledger().ok
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "transfer.reversed"))
    assert audit.data == {"original": licences, "reason": "Doppelt berechnet"}
    assert audit.actor_id is not None


def test_a_transfer_is_reversed_at_most_once(operator):
    assert operator.post("/api/v1/ledger/transfers/4/reverse", json={"reason": "Fehler"}).status_code == 201
    again = operator.post("/api/v1/ledger/transfers/4/reverse", json={"reason": "Nochmal"})
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    assert db.session.scalar(select(Transfer.id).where(Transfer.reverses_id == 4)) is not None


def test_a_reversal_cannot_be_reversed(operator):
    reversal_id = operator.post("/api/v1/ledger/transfers/4/reverse", json={"reason": "Fehler"}).get_json()["id"]
    response = operator.post(f"/api/v1/ledger/transfers/{reversal_id}/reverse", json={"reason": "zurück"})
    assert response.status_code == 409


def test_only_charges_are_reversed_by_hand(operator):
    """VAT follows the invoices and payments the settlement: reversing them would part ledger and documents."""
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    assert operator.post("/api/v1/periods/2026-10/close").status_code == 200
    vat = db.session.scalar(select(Transfer).where(Transfer.kind == "vat", Transfer.period == "2026-10"))
    assert vat is not None, "the S-rated storage service was invoiced with VAT on closing October"
    response = operator.post(f"/api/v1/ledger/transfers/{vat.id}/reverse", json={"reason": "Versehen"})
    assert response.status_code == 409
    assert "Gutschrift" in response.get_json()["detail"]
    assert db.session.scalar(select(Transfer.id).where(Transfer.reverses_id == vat.id)) is None


def test_reversal_of_a_closed_month_goes_into_the_current_month(operator):
    response = operator.post("/api/v1/ledger/transfers/1/reverse", json={"reason": "Falscher Preis"})
    assert response.status_code == 201
    assert response.get_json()["period"] == "2026-11"
    assert db.session.get(Transfer, 1).period == "2026-08"


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "x" * 301}, "reason"), ({"reason": 5}, "reason")],
)
def test_reversal_needs_a_reason(operator, body, field):
    response = operator.post("/api/v1/ledger/transfers/4/reverse", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_reversal_of_an_unknown_transfer_is_404(operator):
    assert operator.post("/api/v1/ledger/transfers/999/reverse", json={"reason": "x"}).status_code == 404


@pytest.mark.parametrize("email", ["kasse@wiesbaden.example", "anbieter@kdz-mainz.example"])
def test_only_operator_finance_reverses(api_as, demo, email):
    response = api_as(email).post("/api/v1/ledger/transfers/4/reverse", json={"reason": "x"})
    assert response.status_code == 403
    assert db.session.scalar(select(Transfer.id).where(Transfer.reverses_id == 4)) is None


# --- periods ------------------------------------------------------------------------------------------


def test_closing_a_month_that_is_over(operator):
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    response = operator.post("/api/v1/periods/2026-10/close")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["period"] == "2026-10"
    assert body["status"] == "closed"
    assert body["closed_by"] == "betrieb@kopit.example"
    assert db.session.get(Period, "2026-10").status is PeriodStatus.CLOSED
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "period.closed")) is not None


def test_closing_records_why(operator):
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    too_long = operator.post("/api/v1/periods/2026-10/close", json={"reason": "x" * 301})
    assert too_long.status_code == 422
    response = operator.post("/api/v1/periods/2026-10/close", json={"reason": "Alle Nutzungen erfasst"})
    assert response.status_code == 200
    audit = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "period.closed").order_by(AuditEvent.id.desc()).limit(1)
    )
    assert audit.data == {"period": "2026-10", "reason": "Alle Nutzungen erfasst", "overridden": []}
    assert audit.actor_id is not None and audit.at is not None


def test_closing_twice_is_409(operator):
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    assert operator.post("/api/v1/periods/2026-10/close").status_code == 200
    assert operator.post("/api/v1/periods/2026-10/close").status_code == 409
    assert operator.post("/api/v1/periods/2026-09/close").status_code == 409  # closed by the demo
    assert operator.post("/api/v1/periods/2026-07/close").status_code == 409  # before the first month


@pytest.mark.parametrize("period", ["2026-11", "2026-12", "2027-05"])
def test_a_month_not_over_cannot_be_closed(operator, period):
    assert operator.post(f"/api/v1/periods/{period}/close").status_code == 409


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "november", "2026-00"])
def test_malformed_month_is_422(operator, period):
    response = operator.post(f"/api/v1/periods/{period}/close")
    assert response.status_code == 422
    assert "period" in response.get_json()["errors"]


def test_nothing_is_posted_into_a_closed_month(operator):
    response = operator.post("/api/v1/billing-runs", json={"period": "2026-09"})
    assert response.status_code == 409
    assert db.session.scalar(select(func.count()).select_from(Transfer).where(Transfer.period == "2026-09")) == 7


def test_after_closing_corrections_go_into_the_open_month(operator):
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    assert operator.post("/api/v1/periods/2026-10/close").status_code == 200
    storage = october_charge("charge:3:2026-10")
    response = operator.post(f"/api/v1/ledger/transfers/{storage}/reverse", json={"reason": "Speicher nie geliefert"})
    assert response.status_code == 201
    assert response.get_json()["period"] == "2026-11"


def test_posting_into_a_closed_month_directly_is_refused(app, demo):
    from marketplace.core.errors import Conflict
    from marketplace.ledger.models import TransferKind
    from marketplace.ledger.operations import TransferSpec, post_transfers

    spec = TransferSpec("test:closed", TransferKind.CHARGE, "2026-08", "Nachbuchung", ((6, -100), (4, 100)))
    with pytest.raises(Conflict):
        post_transfers([spec], None)


def test_only_operator_finance_closes(kasse):
    assert kasse.post("/api/v1/periods/2026-10/close").status_code == 403


# --- the journal ----------------------------------------------------------------------------------------


def test_operator_sees_every_posting_newest_first(operator):
    body = operator.get("/api/v1/ledger/transfers?per_page=100").get_json()
    assert body["total"] == 20  # 9 charges and September's VAT, 2 postings each
    items = body["items"]
    assert [item["transfer_id"] for item in items][:2] == [10, 10]
    assert all(MONEY.match(item["amount"]) for item in items)
    by_transfer: dict[int, Decimal] = {}
    for item in items:
        by_transfer[item["transfer_id"]] = by_transfer.get(item["transfer_id"], Decimal(0)) + Decimal(item["amount"])
        assert item["cause"].startswith(("charge:", "vat:"))
    assert set(by_transfer.values()) == {Decimal(0)}
    first = next(item for item in items if item["transfer_id"] == 1 and item["member_name"] == "Stadt Wiesbaden")
    assert first["amount"] == "-356.00"
    assert first["period"] == "2026-08"
    assert first["cause"] == "charge:1:2026-08"
    assert first["account"] == "clearing"


def test_journal_filters_and_pages(operator):
    september = operator.get("/api/v1/ledger/transfers?period=2026-09&per_page=100").get_json()
    assert september["total"] == 14
    assert {item["period"] for item in september["items"]} == {"2026-09"}
    members = {item["member_name"]: item["member_id"] for item in september["items"]}
    ladadi = operator.get(f"/api/v1/ledger/transfers?member_id={members['Landkreis Darmstadt-Dieburg']}").get_json()
    assert ladadi["total"] == 4
    assert {item["member_name"] for item in ladadi["items"]} == {"Landkreis Darmstadt-Dieburg"}
    page1 = operator.get("/api/v1/ledger/transfers?per_page=5").get_json()
    page4 = operator.get("/api/v1/ledger/transfers?per_page=5&page=4").get_json()
    assert (page1["page"], page1["per_page"], page1["total"], len(page1["items"])) == (1, 5, 20, 5)
    assert len(page4["items"]) == 5
    seen = {item["posting_id"] for item in page1["items"]} & {item["posting_id"] for item in page4["items"]}
    assert not seen


def test_journal_marks_reversed_transfers(operator):
    reversal = operator.post("/api/v1/ledger/transfers/4/reverse", json={"reason": "x"}).get_json()["id"]
    items = operator.get("/api/v1/ledger/transfers?per_page=100").get_json()["items"]  # September's, November's
    assert {i["reversed_by_transfer_id"] for i in items if i["transfer_id"] == 4} == {reversal}
    assert {i["reverses_transfer_id"] for i in items if i["transfer_id"] == reversal} == {4}
    assert {i["cause"] for i in items if i["transfer_id"] == reversal} == {"reversal:4"}


def test_member_finance_sees_only_its_own_postings(kasse, operator):
    body = kasse.get("/api/v1/ledger/transfers?per_page=100").get_json()
    assert body["total"] == 6  # Wiesbaden bought in 5 transfers and paid September's VAT on storage
    assert {item["member_name"] for item in body["items"]} == {"Stadt Wiesbaden"}
    other = next(
        item["member_id"]
        for item in operator.get("/api/v1/ledger/transfers?per_page=100").get_json()["items"]
        if item["member_name"] == "KDZ Mainz"
    )
    assert kasse.get(f"/api/v1/ledger/transfers?member_id={other}").status_code == 404


def test_journal_is_for_finance_roles_only(api_as, demo):
    assert api_as("einkauf@wiesbaden.example").get("/api/v1/ledger/transfers").status_code == 403


@pytest.mark.parametrize("query", ["period=2026-13", "period=x", "page=0", "per_page=1000", "member_id=abc"])
def test_journal_rejects_bad_filters(operator, query):
    assert operator.get(f"/api/v1/ledger/transfers?{query}").status_code == 422


def test_unknown_member_filter_is_404(operator):
    assert operator.get("/api/v1/ledger/transfers?member_id=999").status_code == 404


def test_a_member_id_beyond_the_database_integer_is_422_not_500(operator):
    """Found by Schemathesis on PostgreSQL: the id overflowed the INTEGER column."""
    response = operator.get("/api/v1/ledger/transfers?member_id=15316586846")
    assert response.status_code == 422
    assert "member_id" in response.get_json()["errors"]
