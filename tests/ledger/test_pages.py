"""The finance pages as people use them: dashboard, reversing with confirmation, closing with confirmation,
statements (HTML, print, CSV)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus, Transfer
from marketplace.members.queries import user_by_email
from tests.conftest import csrf_token, login


@pytest.fixture
def operator(client, demo):
    login(client, "betrieb@kopit.example")
    return client


@pytest.fixture
def kasse(client, demo):
    login(client, "kasse@wiesbaden.example")
    return client


def member_id(name: str) -> int:
    from marketplace.members.models import Member

    return db.session.scalar(select(Member.id).where(Member.name == name))


def test_dashboard_shows_balances_charts_months_and_journal(operator):
    page = operator.get("/ledger")
    assert page.status_code == 200
    html = page.text
    assert 'id="saldo-summe">0,00\xa0€' in html
    assert html.count("<svg") == 3
    assert '<title id="chart-balances-title">Salden je Mitglied</title>' in html
    assert "KDZ Mainz" in html and "5.174,10\xa0€" in html
    # every bar carries its value as text, so the chart does not depend on colour
    assert "-4.105,71\xa0€</text>" in html  # Wiesbaden: August, September and September's VAT
    assert "/ledger/periods/2026-10/close" in html  # October is over and open
    assert "/ledger/periods/2026-09/close" not in html  # closed by the demo
    assert "/ledger/periods/2026-08/close" not in html  # closed by the demo
    assert "/ledger/transfers/9/reverse" in html
    assert "https://" not in html.split("<svg", 1)[1].split("</svg>", 1)[0].replace("http://www.w3.org/2000/svg", "")


def test_dashboard_filters_and_pages(operator):
    ladadi = member_id("Landkreis Darmstadt-Dieburg")
    page = operator.get(f"/ledger?member_id={ladadi}&period=2026-09")
    assert page.status_code == 200
    journal = page.text.split('id="journal"', 1)[1]
    assert "Landkreis Darmstadt-Dieburg" in journal
    assert "Stadt Wiesbaden" not in journal
    assert operator.get("/ledger?per_page=5&page=2").status_code == 200
    assert operator.get("/ledger?member_id=abc&period=kaputt&page=-3").status_code == 200


def test_member_finance_sees_only_its_own_member(kasse):
    page = kasse.get("/ledger")
    assert page.status_code == 200
    assert "Stadt Wiesbaden" in page.text
    assert page.text.count("data-member-id=") == 1  # no other member's balance row
    assert "/reverse" not in page.text and "/close" not in page.text
    assert kasse.get("/ledger/transfers/4/reverse").status_code == 403
    assert kasse.get("/ledger/periods/2026-10/close").status_code == 403


def test_buyers_do_not_see_the_ledger(client, demo):
    login(client, "einkauf@wiesbaden.example")
    assert client.get("/ledger").status_code == 403


def test_reversal_needs_a_reason_and_a_confirmation(operator):
    page = operator.get("/ledger/transfers/4/reverse")
    assert page.status_code == 200
    assert "Buchung 4 stornieren" in page.text
    assert "im Monat November 2026 gebucht" in page.text  # September is closed: the reversal goes into November
    token = csrf_token(page.text)
    refused = operator.post("/ledger/transfers/4/reverse", data={"csrf_token": token, "reason": "Falsch"})
    assert refused.status_code == 422
    assert "Bitte bestätigen Sie die Stornierung." in refused.text
    refused = operator.post("/ledger/transfers/4/reverse", data={"csrf_token": token, "confirm": "y"})
    assert refused.status_code == 422
    assert db.session.scalar(select(Transfer).where(Transfer.reverses_id == 4)) is None
    done = operator.post(
        "/ledger/transfers/4/reverse", data={"csrf_token": token, "reason": "Falscher Zeitraum", "confirm": "y"}
    )
    assert done.status_code == 302
    reversal = db.session.scalar(select(Transfer).where(Transfer.reverses_id == 4))
    assert "Falscher Zeitraum" in reversal.description
    assert reversal.created_by_id == user_by_email("betrieb@kopit.example").id
    follow = operator.get("/ledger")
    assert f"Stornobuchung {reversal.id}" in follow.text
    again = operator.get("/ledger/transfers/4/reverse")
    assert f"bereits durch Buchung {reversal.id} storniert" in again.text


def test_reversing_twice_in_the_ui_flashes_a_conflict(operator):
    token = csrf_token(operator.get("/ledger/transfers/5/reverse").text)
    data = {"csrf_token": token, "reason": "x", "confirm": "y"}
    assert operator.post("/ledger/transfers/5/reverse", data=data).status_code == 302
    second = operator.post("/ledger/transfers/5/reverse", data=data, follow_redirects=True)
    assert "bereits storniert" in second.text
    assert len(db.session.scalars(select(Transfer).where(Transfer.reverses_id == 5)).all()) == 1


def test_unknown_transfer_is_404(operator):
    assert operator.get("/ledger/transfers/999/reverse").status_code == 404


def test_closing_a_month_needs_a_confirmation(operator, api_as):
    assert api_as("betrieb@kopit.example").post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    page = operator.get("/ledger/periods/2026-10/close")
    assert page.status_code == 200
    token = csrf_token(page.text)
    refused = operator.post("/ledger/periods/2026-10/close", data={"csrf_token": token})
    assert refused.status_code == 422
    assert db.session.get(Period, "2026-10") is None or db.session.get(Period, "2026-10").status is PeriodStatus.OPEN
    done = operator.post(
        "/ledger/periods/2026-10/close", data={"csrf_token": token, "confirm": "y", "reason": "Monatsende geprüft"}
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Period, "2026-10").status is PeriodStatus.CLOSED
    assert "bereits abgeschlossen" in operator.get("/ledger/periods/2026-10/close").text
    from marketplace.core.models import AuditEvent

    audit = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "period.closed").order_by(AuditEvent.id.desc()).limit(1)
    )
    assert audit.data == {"period": "2026-10", "reason": "Monatsende geprüft", "overridden": []}


def test_current_month_cannot_be_closed_in_the_ui(operator):
    page = operator.get("/ledger/periods/2026-11/close")
    assert "noch nicht vorbei" in page.text
    token = csrf_token(operator.get("/ledger").text)
    response = operator.post("/ledger/periods/2026-11/close", data={"csrf_token": token, "confirm": "y"})
    assert response.status_code == 422
    assert "noch nicht vorbei" in response.text
    assert db.session.get(Period, "2026-11") is None or db.session.get(Period, "2026-11").status is PeriodStatus.OPEN


def test_billing_from_the_ui(operator):
    token = csrf_token(operator.get("/ledger").text)
    response = operator.post("/ledger/billing", data={"csrf_token": token, "period": "2026-10"}, follow_redirects=True)
    assert "Abrechnung Oktober 2026: 6 Buchungen" in response.text
    again = operator.post("/ledger/billing", data={"csrf_token": token, "period": "2026-10"}, follow_redirects=True)
    assert "nichts Neues abzurechnen" in again.text
    closed = operator.post("/ledger/billing", data={"csrf_token": token, "period": "2026-08"})
    assert closed.status_code == 422
    assert "abgeschlossen" in closed.text


# --- statements -------------------------------------------------------------------------------------------


def test_statement_of_a_buyer(operator):
    wiesbaden = member_id("Stadt Wiesbaden")
    page = operator.get(f"/ledger/statements/{wiesbaden}/2026-09")
    assert page.status_code == 200
    html = page.text
    assert 'id="opening">-1.931,00\xa0€' in html  # August: 356.00 + 1,575.00
    assert 'id="closing">-4.105,71\xa0€' in html  # plus September: 356.00 + 1,575.00 + 204.80 + VAT 38.91
    assert 'id="given">-2.135,80\xa0€' in html
    assert "KDZ Mainz" in html and "Objektspeicher (S3-kompatibel)" in html


def test_statement_of_a_provider_with_a_reversal(operator, api_as):
    api_as("betrieb@kopit.example").post("/api/v1/ledger/transfers/7/reverse", json={"reason": "Stunden zu viel"})
    kdz = member_id("KDZ Mainz")
    html = operator.get(f"/ledger/statements/{kdz}/2026-09").text
    assert 'id="received">3.243,10\xa0€' in html  # 356.00 + 1,575.00 + 124.60 + 1,187.50
    assert 'id="closing">5.174,10\xa0€' in html
    # September is closed: the reversal went into the open November
    html = operator.get(f"/ledger/statements/{kdz}/2026-11").text
    assert "Stunden zu viel" in html
    assert "-124,60\xa0€" in html
    assert 'id="closing">5.049,50\xa0€' in html  # 5,174.10 less the reversed 124.60


def test_statement_print_view_and_csv(operator):
    wiesbaden = member_id("Stadt Wiesbaden")
    printable = operator.get(f"/ledger/statements/{wiesbaden}/2026-09?print=1")
    assert printable.status_code == 200
    assert "statement-print.css" in printable.text
    assert "<nav" not in printable.text
    csv = operator.get(f"/ledger/statements/{wiesbaden}/2026-09.csv")
    assert csv.status_code == 200
    assert csv.mimetype == "text/csv"
    assert csv.data.startswith("\ufeff".encode())
    lines = csv.data.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("Datum;Belegnummer;Buchung;Art;")
    assert lines[1] == ";;;Anfangssaldo;;;-1931,00"
    assert ";;;Endsaldo;;;-4105,71" in lines
    assert any(";Abrechnung gegeben;KDZ Mainz;Virtueller Server (Standard);-356,00" in line for line in lines)


def test_member_finance_gets_its_own_statement_only(kasse):
    wiesbaden = member_id("Stadt Wiesbaden")
    assert kasse.get(f"/ledger/statements/{wiesbaden}/2026-09").status_code == 200
    other = member_id("KDZ Mainz")
    assert kasse.get(f"/ledger/statements/{other}/2026-09").status_code == 404
    assert kasse.get(f"/ledger/statements/{other}/2026-09.csv").status_code == 404
    assert kasse.get(f"/ledger/statements/{wiesbaden}/2026-13").status_code == 404


def test_the_ledger_page_answers_404_for_a_member_that_does_not_exist_as_the_api_does(client, demo, token_for):
    from tests.conftest import login

    login(client, "betrieb@kopit.example")
    assert client.get("/ledger?member_id=999999").status_code == 404
    api = client.get(
        "/api/v1/ledger/transfers?member_id=999999",
        headers={"Authorization": f"Bearer {token_for('betrieb@kopit.example')}"},
    )
    assert api.status_code == 404


def test_member_finance_sees_only_its_own_member_whatever_it_names(client, demo):
    from marketplace.members.queries import operator_member
    from tests.conftest import login

    login(client, "kasse@wiesbaden.example")
    other = operator_member().id
    assert client.get(f"/ledger?member_id={other}").status_code == 404
    assert client.get("/ledger").status_code == 200
