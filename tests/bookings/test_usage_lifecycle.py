"""Usage runs its life to the end (issue 13, item 2): recorded, confirmed, deemed accepted, disputed,
corrected, billed, credited; billing charges only confirmed or deemed-accepted usage; buttons only where an
action is possible.

Demo (today 2026-11-16): the Landkreis's hours (booking 6) have September billed, October deemed accepted
(entered 31 October, nobody answered) and November's first hours in review.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.ledger.models import Transfer
from marketplace.ledger.queries import verify_ledger
from tests.conftest import csrf_token, login

HOURS = 6


@pytest.fixture
def buyer(api_as, demo):
    return api_as("einkauf@ladadi.example")


@pytest.fixture
def provider(api_as, demo):
    return api_as("anbieter@kdz-mainz.example")


@pytest.fixture
def operator(api_as, demo):
    return api_as("betrieb@kopit.example")


def usage(api, **query) -> list[dict]:
    response = api.get("/api/v1/usage", query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def states(api) -> dict[str, str]:
    return {u["period"]: u["status"] for u in usage(api, booking_id=HOURS)}


def test_each_record_says_where_it_is(buyer):
    items = usage(buyer, booking_id=HOURS)
    assert [(u["period"], u["status"]) for u in items] == [
        ("2026-09", "billed"),
        ("2026-10", "deemed_accepted"),
        ("2026-11", "recorded"),
    ]
    september, october, november = items
    charge = db.session.scalar(select(Transfer).where(Transfer.idempotency_key == f"charge:{HOURS}:2026-09"))
    assert september["charges"][0]["transfer_id"] == charge.id
    assert september["charges"][0]["kind"] == "charge"
    assert september["charges"][0]["invoice_id"] is not None  # September is closed: invoiced
    assert september["amount"] == "1187.50"
    assert october["review_until"] == "2026-11-14" and october["charges"] == []
    assert november["review_until"] > "2026-11-16"


def test_billing_skips_usage_in_review_and_charges_it_once_its_review_ends(app, provider, buyer, operator):
    record = provider.post(f"/api/v1/bookings/{HOURS}/usage", json={"period": "2026-10", "quantity": "20"}).get_json()
    assert record["status"] == "recorded"
    run = operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).get_json()
    assert run["transfers_created"] == 5  # every October charge but the hours in review
    assert db.session.scalar(select(Transfer).where(Transfer.idempotency_key == f"charge:{HOURS}:2026-10")) is None
    assert states(buyer)["2026-10"] == "recorded"
    # the day after the review period the record is deemed accepted; the next run of the open month bills it
    app.config["MARKETPLACE_TODAY"] = (date.fromisoformat(record["review_until"]) + timedelta(days=1)).isoformat()
    assert states(buyer)["2026-10"] == "deemed_accepted"
    refused = buyer.post(f"/api/v1/usage/{record['id']}/dispute", json={"reason": "zu spät"})
    assert refused.status_code == 409
    assert "Prüffrist" in refused.get_json()["detail"]
    again = operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).get_json()
    assert again["transfers_created"] == 1
    charge = db.session.scalar(select(Transfer).where(Transfer.idempotency_key == f"charge:{HOURS}:2026-10"))
    assert charge.period == "2026-10" and charge.amount_cents == 20 * 9500
    billed = usage(buyer, booking_id=HOURS, period="2026-10")[0]
    assert billed["status"] == "billed"
    assert billed["charges"] == [{"transfer_id": charge.id, "kind": "charge", "invoice_id": None, "amount": "1900.00"}]
    assert verify_ledger().ok


def test_confirmed_usage_is_billed_at_once(provider, buyer, operator):
    record = provider.post(f"/api/v1/bookings/{HOURS}/usage", json={"period": "2026-10", "quantity": "2"}).get_json()
    confirmed = buyer.post(f"/api/v1/usage/{record['id']}/confirm")
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "confirmed"
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).get_json()["transfers_created"] == 6
    assert states(buyer)["2026-10"] == "billed"


def test_dispute_correct_confirm_then_billed_then_credited(provider, buyer, operator):
    record = provider.post(f"/api/v1/bookings/{HOURS}/usage", json={"period": "2026-10", "quantity": "40"}).get_json()
    no_reason = buyer.post(f"/api/v1/usage/{record['id']}/dispute", json={"reason": " "})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]
    disputed = buyer.post(f"/api/v1/usage/{record['id']}/dispute", json={"reason": "Es waren 15 Stunden"}).get_json()
    assert (disputed["status"], disputed["dispute_reason"]) == ("disputed", "Es waren 15 Stunden")
    assert buyer.post(f"/api/v1/usage/{record['id']}/dispute", json={"reason": "nochmal"}).status_code == 409
    operator.post("/api/v1/billing-runs", json={"period": "2026-10"})
    assert states(buyer)["2026-10"] == "disputed"  # not billed
    corrected = provider.post(f"/api/v1/bookings/{HOURS}/usage", json={"period": "2026-10", "quantity": "15"})
    assert corrected.get_json()["status"] == "corrected"
    assert buyer.post(f"/api/v1/usage/{record['id']}/confirm").get_json()["status"] == "confirmed"
    operator.post("/api/v1/billing-runs", json={"period": "2026-10"})
    billed = usage(buyer, booking_id=HOURS, period="2026-10")[0]
    assert billed["status"] == "billed" and billed["amount"] == "1425.00"
    # a billed record disputed by the buyer becomes a correction case the operator decides (201)
    late = buyer.post(f"/api/v1/usage/{record['id']}/dispute", json={"reason": "doch falsch"})
    assert late.status_code == 201, late.get_json()
    assert (late.get_json()["source"], late.get_json()["status"]) == ("usage_dispute", "open")
    assert provider.post(
        f"/api/v1/bookings/{HOURS}/usage", json={"period": "2026-10", "quantity": "1"}
    ).status_code == (409)
    charge_id = billed["charges"][0]["transfer_id"]
    reversal = operator.post(f"/api/v1/ledger/transfers/{charge_id}/reverse", json={"reason": "Storno"}).get_json()
    credited = usage(buyer, booking_id=HOURS, period="2026-10")[0]
    assert credited["status"] == "credited"
    assert [(c["kind"], c["transfer_id"], c["amount"]) for c in credited["charges"]] == [
        ("charge", charge_id, "1425.00"),
        ("reversal", reversal["id"], "-1425.00"),
    ]
    assert [u["id"] for u in usage(buyer, status="credited")] == [record["id"]]
    assert verify_ledger().ok


def test_usage_is_filtered_by_status_and_hidden_from_other_members(buyer, api_as):
    assert [u["period"] for u in usage(buyer, status="recorded")] == ["2026-11"]
    assert [u["period"] for u in usage(buyer, status="deemed_accepted")] == ["2026-10"]
    wiesbaden = api_as("einkauf@wiesbaden.example")
    assert all(u["booking_id"] != HOURS for u in usage(wiesbaden))
    assert wiesbaden.get(f"/api/v1/usage?booking_id={HOURS}").status_code == 404
    november = usage(buyer, status="recorded")[0]["id"]
    assert wiesbaden.post(f"/api/v1/usage/{november}/confirm").status_code == 404
    assert buyer.get("/api/v1/usage?status=paid").status_code == 422
    # the provider sees it, but only the buyer answers it
    provider = api_as("anbieter@kdz-mainz.example")
    assert [u["period"] for u in usage(provider, booking_id=HOURS)] == ["2026-09", "2026-10", "2026-11"]
    assert provider.post(f"/api/v1/usage/{november}/confirm").status_code == 403


def test_buttons_appear_only_where_an_action_is_possible(client, demo):
    login(client, "einkauf@ladadi.example")
    page = client.get(f"/bookings/{HOURS}").text
    table = page.split('id="verbrauch"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr")[2:]  # after the header row
    by_month = {
        row.split("<td", 2)[1].split(">", 1)[1].split("<", 1)[0]: row for row in rows
    }  # months as people read them
    assert 'data-usage-state="billed"' in by_month["September 2026"] and "Bestätigen" not in by_month["September 2026"]
    assert (
        'data-usage-state="deemed_accepted"' in by_month["Oktober 2026"]
        and "Bestätigen" not in by_month["Oktober 2026"]
    )
    assert "Prüfen bis" not in by_month["Oktober 2026"]
    assert 'data-usage-state="recorded"' in by_month["November 2026"] and "Bestätigen" in by_month["November 2026"]
    # the billed September offers only the correction route (its own action), never confirm or dispute
    assert table.count('/confirm"') == 1 and table.count("/dispute#") == 1  # the form returns to its row
    # dispute through the page: the buttons go, the provider is asked to correct
    action = re.search(r'action="([^"]*/dispute)#[^"]*"', table).group(1)
    response = client.post(action, data={"csrf_token": csrf_token(page), "dispute-reason": "Keine 3 Stunden"})
    assert response.status_code == 302, response.text
    after = client.get(f"/bookings/{HOURS}").text.split('id="verbrauch"', 1)[1].split("</table>", 1)[0]
    assert 'data-usage-state="disputed"' in after and '/confirm"' not in after and "/dispute#" not in after
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    login(client, "anbieter@kdz-mainz.example")
    provider_view = client.get(f"/bookings/{HOURS}").text.split('id="verbrauch"', 1)[1].split("</table>", 1)[0]
    assert "Bitte korrigieren Sie die Menge unten." in provider_view
    assert '/confirm"' not in provider_view
