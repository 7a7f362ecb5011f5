"""Months as people write them: selects with German month names, the last complete month preselected for
billing, closed months offered for settlement, "09.2026" and "2026-09" typed into forms; the API keeps
"YYYY-MM" only."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.bookings.models import UsageRecord
from marketplace.core.timeutil import parse_month
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus, Transfer
from tests.conftest import csrf_token, login

OPERATOR = "betrieb@kopit.example"


@pytest.mark.parametrize(
    ("typed", "month"),
    [
        ("2026-09", "2026-09"),
        ("09.2026", "2026-09"),
        ("9.2026", "2026-09"),
        (" 09 / 2026 ", "2026-09"),
        ("September 2026", "2026-09"),
        ("sept. 2026", "2026-09"),
        ("März 2027", "2027-03"),
        ("12.0001", "0001-12"),
    ],
)
def test_a_month_is_read_as_people_write_it(typed, month):
    assert parse_month(typed) == month


@pytest.mark.parametrize("typed", ["", "13.2026", "0.2026", "2026-9", "09.26", "Sommer 2026", "٠٩.٢٠٢٦", "2026-09-01"])
def test_what_is_no_month_is_refused(typed):
    with pytest.raises(ValueError):
        parse_month(typed)


def _options(html, name):
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option([^>]*)value="([^"]*)"[^>]*>([^<]*)</option>', select_html)


def _operator(app):
    client = app.test_client()
    login(client, OPERATOR)
    return client


def test_billing_offers_the_open_months_by_name_with_the_last_complete_one_chosen(app, demo):
    page = _operator(app).get("/ledger").text
    options = _options(page, "period")
    offered = [(value, label) for _attrs, value, label in options]
    assert offered[:2] == [("2026-11", "November 2026"), ("2026-10", "Oktober 2026")]
    open_months = {p.period for p in db.session.scalars(select(Period)) if p.status is PeriodStatus.OPEN}
    closed_months = {p.period for p in db.session.scalars(select(Period)) if p.status is PeriodStatus.CLOSED}
    assert closed_months and not closed_months & {value for value, _label in offered}
    assert {value for value, _label in offered} >= {m for m in open_months if m <= "2026-11"}
    assert "2026-12" not in dict(offered)
    chosen = [value for attrs, value, _label in options if "selected" in attrs]
    assert chosen == ["2026-10"]  # today is 16.11.2026: October is the last complete month
    assert '<th scope="row" class="kern-table__cell">August 2026</th>' in page


def test_billing_takes_a_month_sent_as_mm_yyyy(app, demo):
    operator = _operator(app)
    token = csrf_token(operator.get("/ledger").text)
    response = operator.post("/ledger/billing", data={"csrf_token": token, "period": "10.2026"}, follow_redirects=True)
    assert response.status_code == 200 and "Abrechnung Oktober 2026" in response.text
    assert db.session.scalar(select(db.func.count()).select_from(Transfer).where(Transfer.period == "2026-10")) > 0
    garbled = operator.post("/ledger/billing", data={"csrf_token": token, "period": "Oktober"})
    assert garbled.status_code == 422 and "MM.JJJJ" in garbled.text


def test_settlement_offers_only_closed_months_without_a_settlement(app, demo):
    operator = _operator(app)
    options = _options(operator.get("/settlements").text, "period")
    values = [value for _attrs, value, _label in options]
    closed = {p.period for p in db.session.scalars(select(Period)) if p.status is PeriodStatus.CLOSED}
    assert values and set(values) == closed and values == sorted(values, reverse=True)
    assert ("2026-08", "August 2026") in [(value, label) for _attrs, value, label in options]
    first = values[0]
    created = operator.post(
        "/settlements",
        data={"csrf_token": csrf_token(operator.get("/settlements").text), "period": f"{first[5:]}.{first[:4]}"},
    )
    assert created.status_code == 302
    after = operator.get("/settlements").text
    if len(values) == 1:
        assert "Kein abgeschlossener Monat wartet auf eine Verrechnung." in after and 'name="period"' not in after
    else:
        assert first not in [value for _attrs, value, _label in _options(after, "period")]


def test_usage_is_entered_for_a_month_typed_the_german_way(app, make_booking):
    booking = make_booking(title="Betrieb von Fachverfahren")
    provider = app.test_client()
    login(provider, "anbieter@kdz-mainz.example")
    page = provider.get(f"/bookings/{booking.id}")
    response = provider.post(
        f"/bookings/{booking.id}/usage",
        data={"period": "11.2026", "quantity": "4", "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 302
    assert db.session.scalar(select(UsageRecord.period).where(UsageRecord.booking_id == booking.id)) == "2026-11"
    wrong = provider.post(
        f"/bookings/{booking.id}/usage",
        data={"period": "November", "quantity": "4", "csrf_token": csrf_token(page.text)},
    )
    assert wrong.status_code == 422 and "MM.JJJJ" in wrong.text


def test_the_ledger_filter_reads_mm_yyyy_and_shows_the_month_by_name(app, demo):
    page = app.test_client()
    login(page, OPERATOR)
    filtered = page.get("/ledger?period=09.2026").text
    assert 'value="09.2026"' in filtered and "Monat September 2026" in filtered
    assert "/ledger/exports/gdpdu/2026-09.zip" in filtered


def test_the_api_keeps_yyyy_mm_only(app, demo, api_as):
    operator = api_as(OPERATOR)
    refused = operator.post("/api/v1/billing-runs", json={"period": "10.2026"})
    assert refused.status_code == 422 and "period" in refused.get_json()["errors"]
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code in (200, 201, 202)
