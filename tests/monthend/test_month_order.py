"""Months close in order, billed and with their usage answered (issue 13, item 1), through the API and the pages.

The demo (today 2026-11-16): August and September are billed and closed, October is open and unbilled. The
`legacy` demo is the state the issue found: August and September billed but never closed.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus, Transfer
from marketplace.ledger.queries import verify_ledger
from tests.conftest import csrf_token, login, seed_once

HOURS = 6  # the Landkreis's "Betrieb von Fachverfahren" (metered, KDZ Mainz)


@pytest.fixture
def operator(api_as, demo):
    return api_as("betrieb@kopit.example")


@pytest.fixture
def legacy(app, monkeypatch, request):
    """The demo as it was before months closed in order: August and September billed, but still open."""
    import marketplace.seed as seed

    monkeypatch.setattr(seed, "close_period", lambda *args, **kwargs: None)
    seed_once(request, "legacy", seed.seed_demo_data)


def kinds(response) -> list[tuple[str, object]]:
    return [(item["kind"], item["id"]) for item in response.get_json()["outstanding"]]


def record_hours(provider, quantity: str) -> int:
    """KDZ Mainz enters October's hours again: a new review period starts."""
    response = provider.post(f"/api/v1/bookings/{HOURS}/usage", json={"period": "2026-10", "quantity": quantity})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def status_of(period: str) -> PeriodStatus | None:
    db.session.expire_all()
    row = db.session.get(Period, period)
    return row.status if row is not None else None


# --- earlier months first ------------------------------------------------------------------------------


def test_october_cannot_be_closed_while_september_is_open(legacy, api_as):
    operator = api_as("betrieb@kopit.example")
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    refused = operator.post("/api/v1/periods/2026-10/close", json={"reason": "Bitte trotzdem"})
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    assert kinds(refused) == [("earlier_month_open", "2026-08"), ("earlier_month_open", "2026-09")]
    assert "September 2026" in refused.get_json()["detail"]
    assert status_of("2026-10") is not PeriodStatus.CLOSED
    # in order it works, and each close issues its month's invoices
    for period in ("2026-08", "2026-09", "2026-10"):
        response = operator.post(f"/api/v1/periods/{period}/close")
        assert response.status_code == 200, response.get_json()
    assert verify_ledger().ok


def test_the_close_page_names_the_open_earlier_month_and_offers_no_button(legacy, client):
    login(client, "betrieb@kopit.example")
    page = client.get("/ledger/periods/2026-10/close")
    assert page.status_code == 200
    blocking = page.text.split('id="blocking"', 1)[1].split("</ul>", 1)[0]
    assert "Der Monat September 2026 ist noch offen" in blocking
    assert "Der Monat August 2026 ist noch offen" in blocking
    assert 'type="submit" class="kern-btn kern-btn--primary"' not in page.text
    # the next step is the oldest open month's close page
    step = page.text.split('id="next-step"', 1)[1].split("</div>", 1)[0]
    assert 'href="/ledger/periods/2026-08/close">Zuerst Monat August 2026 abschließen …</a>' in step
    # a hand-made POST is refused with the same reason, shown on the page
    token = csrf_token(client.get("/ledger").text)
    refused = client.post("/ledger/periods/2026-10/close", data={"csrf_token": token, "confirm": "y", "reason": "x"})
    assert refused.status_code == 422
    assert "September 2026 ist noch offen" in refused.text
    assert status_of("2026-10") is not PeriodStatus.CLOSED


def test_the_close_page_bills_the_missing_charges_and_comes_back(operator, client):
    """October is unbilled: the close page lists each missing charge with its month in words and offers the
    billing run right there; after it the page shows what is left (the usage to override or nothing)."""
    login(client, "betrieb@kopit.example")
    page = client.get("/ledger/periods/2026-10/close").text
    blocking = page.split('id="blocking"', 1)[1].split("</ul>", 1)[0]
    assert "das Entgelt für Oktober 2026 fehlt" in blocking
    step = page.split('id="next-step"', 1)[1].split("</form>", 1)[0]
    assert 'name="back" value="close"' in step and "Monat Oktober 2026 abrechnen" in step
    billed = client.post("/ledger/billing", data={"csrf_token": csrf_token(page), "period": "2026-10", "back": "close"})
    assert billed.status_code == 302 and billed.headers["Location"] == "/ledger/periods/2026-10/close"
    after = client.get("/ledger/periods/2026-10/close").text
    assert 'id="blocking"' not in after and 'id="next-step"' not in after
    assert "Monat Oktober 2026" in after and 'name="confirm"' in after


def test_the_months_table_offers_billing_and_closing_in_order(legacy, client):
    login(client, "betrieb@kopit.example")
    html = client.get("/ledger").text
    months = html.split('id="monate"', 1)[1].split("</table>", 1)[0]
    # only the oldest open month may be closed; October must be billed first
    assert "/ledger/periods/2026-08/close" in months
    assert "/ledger/periods/2026-09/close" not in months
    assert "/ledger/periods/2026-10/close" not in months
    october = months.split('data-period="2026-10"', 1)[1].split("</td>", 1)[0]
    assert "2026-10 abrechnen" in october
    november = months.split('data-period="2026-11"', 1)[1].split("</td>", 1)[0]
    assert "abschließen" not in november


def test_the_first_month_is_that_of_the_earliest_booking(operator):
    body = operator.get("/api/v1/periods").get_json()
    periods = [item["period"] for item in body["items"]]
    assert periods[:4] == ["2026-11", "2026-10", "2026-09", "2026-08"]
    assert "2026-07" not in periods  # before the first booking: nothing to close
    assert operator.post("/api/v1/periods/2026-07/close").status_code == 409


# --- billing done ----------------------------------------------------------------------------------------


def test_missing_charges_block_the_close_and_no_reason_overrides_them(operator):
    refused = operator.post("/api/v1/periods/2026-10/close", json={"reason": "Abrechnung kommt später"})
    assert refused.status_code == 409
    missing = [item for item in refused.get_json()["outstanding"] if item["kind"] == "charge_missing"]
    assert sorted(item["id"] for item in missing) == [1, 2, 3, 4, 5, 6]
    assert "Abrechnungslauf" in missing[0]["detail"]
    assert status_of("2026-10") is not PeriodStatus.CLOSED
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    assert operator.post("/api/v1/periods/2026-10/close").status_code == 200


def test_a_change_after_the_run_needs_a_new_run(operator, app):
    """Billing done is computed from the data: a booking accepted after the run lacks its charge."""
    from marketplace.bookings.models import Booking, BookingStatus
    from marketplace.bookings.operations import accept_booking
    from marketplace.catalogue.models import Service
    from marketplace.members.queries import user_by_email

    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    buyer = user_by_email("einkauf@ladadi.example")
    server = db.session.scalar(select(Service).where(Service.title == "Virtueller Server (Standard)"))
    late = Booking(
        service_id=server.id,
        buyer_id=buyer.member_id,
        requested_by_id=buyer.id,
        quantity=1,
        starts_on=date(2026, 10, 20),
        status=BookingStatus.REQUESTED,
    )
    db.session.add(late)
    db.session.flush()
    accept_booking(user_by_email("anbieter@kdz-mainz.example"), late)
    db.session.commit()
    refused = operator.post("/api/v1/periods/2026-10/close")
    assert refused.status_code == 409
    assert kinds(refused) == [("charge_missing", late.id)]
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).get_json()["transfers_created"] == 1
    assert operator.post("/api/v1/periods/2026-10/close").status_code == 200


# --- nothing behind a closed month -------------------------------------------------------------------------


def test_nothing_is_charged_into_a_month_before_a_closed_month(operator):
    """March has no row, but September is closed: March counts as closed."""
    assert db.session.get(Period, "2026-03") is None
    refused = operator.post("/api/v1/billing-runs", json={"period": "2026-03"})
    assert refused.status_code == 409
    assert "2026-09" in refused.get_json()["detail"]
    assert db.session.scalar(select(func.count()).select_from(Transfer).where(Transfer.period == "2026-03")) == 0


def test_posting_before_a_closed_month_is_refused_under_the_lock(app, demo):
    from marketplace.core.errors import Conflict
    from marketplace.ledger.models import TransferKind
    from marketplace.ledger.operations import TransferSpec, account_of, post_transfers
    from marketplace.members.models import Member

    ids = [account_of(m.id).id for m in db.session.scalars(select(Member).order_by(Member.id).limit(2))]
    spec = TransferSpec("test:march", TransferKind.CHARGE, "2026-03", "Vorschuss", ((ids[0], -100), (ids[1], 100)))
    with pytest.raises(Conflict) as refused:
        post_transfers([spec], None)
    assert "2026-03" in refused.value.detail and "2026-09" in refused.value.detail
    db.session.rollback()
    # a correction marked for the open month goes there instead
    moved = TransferSpec(
        "test:march-correction",
        TransferKind.REVERSAL,
        "2026-03",
        "Korrektur",
        ((ids[0], 100), (ids[1], -100)),
        into_open_month=True,
    )
    post_transfers([moved], None)
    assert db.session.scalar(select(Transfer.period).where(Transfer.idempotency_key == "test:march-correction")) == (
        "2026-11"
    )


# --- usage in review or disputed ------------------------------------------------------------------------------


def test_a_dispute_blocks_the_close_until_overridden_with_a_reason(operator, api_as):
    provider, buyer = api_as("anbieter@kdz-mainz.example"), api_as("einkauf@ladadi.example")
    corrected = provider.post(f"/api/v1/bookings/{HOURS}/usage", json={"period": "2026-10", "quantity": "30"})
    assert corrected.status_code == 201, corrected.get_json()
    usage_id = corrected.get_json()["id"]
    assert buyer.post(f"/api/v1/usage/{usage_id}/dispute", json={"reason": "Nur 12,5 Stunden"}).status_code == 200
    run = operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).get_json()
    assert run["transfers_created"] == 5  # everything but the disputed hours
    refused = operator.post("/api/v1/periods/2026-10/close")
    assert refused.status_code == 409
    assert kinds(refused) == [("usage_disputed", usage_id)]
    assert "Nur 12,5 Stunden" in refused.get_json()["outstanding"][0]["detail"]
    # the page lists it before the button and asks for a reason
    overridden = operator.post("/api/v1/periods/2026-10/close", json={"reason": "Klärung läuft, Nachberechnung"})
    assert overridden.status_code == 200
    audit = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "period.closed").order_by(AuditEvent.id.desc()).limit(1)
    )
    assert audit.data["reason"] == "Klärung läuft, Nachberechnung"
    assert [(item["kind"], item["id"]) for item in audit.data["overridden"]] == [("usage_disputed", usage_id)]
    assert verify_ledger().ok


def test_usage_left_open_at_the_close_is_billed_later_as_an_adjustment(operator, api_as, app):
    provider, buyer = api_as("anbieter@kdz-mainz.example"), api_as("einkauf@ladadi.example")
    usage_id = provider.post(
        f"/api/v1/bookings/{HOURS}/usage", json={"period": "2026-10", "quantity": "30"}
    ).get_json()["id"]
    assert buyer.post(f"/api/v1/usage/{usage_id}/dispute", json={"reason": "Zu viel"}).status_code == 200
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    assert operator.post("/api/v1/periods/2026-10/close", json={"reason": "Streit offen"}).status_code == 200
    # the provider corrects, the buyer confirms; November's run bills October's hours with October's key
    again = provider.post(f"/api/v1/bookings/{HOURS}/usage", json={"period": "2026-10", "quantity": "14"})
    assert again.status_code == 201 and again.get_json()["status"] == "corrected"
    assert buyer.post(f"/api/v1/usage/{usage_id}/confirm").get_json()["status"] == "confirmed"
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-11"}).status_code == 201
    adjustment = db.session.scalar(select(Transfer).where(Transfer.idempotency_key == f"charge:{HOURS}:2026-10"))
    assert adjustment.period == "2026-11"
    assert adjustment.amount_cents == 14 * 9500
    assert "Nachberechnung Verbrauch 2026-10" in adjustment.description
    listed = buyer.get(f"/api/v1/usage?booking_id={HOURS}&period=2026-10").get_json()["items"]
    assert [(u["status"], u["amount"]) for u in listed] == [("billed", "1330.00")]
    assert listed[0]["charges"] == [
        {"transfer_id": adjustment.id, "kind": "charge", "invoice_id": None, "amount": "1330.00"}
    ]
    # a rerun bills nothing twice
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-11"}).get_json()["transfers_created"] == 0
    assert verify_ledger().ok


def test_usage_entered_on_the_page_for_a_closed_month_says_it_is_billed_later(operator, client, app):
    """The provider learns at once that hours entered for a closed month are billed in the next open one."""
    login(client, "anbieter@kdz-mainz.example")

    def enter(month: str, quantity: str) -> str:
        page = client.get(f"/bookings/{HOURS}")
        answer = client.post(
            f"/bookings/{HOURS}/usage",
            data={"period": month, "quantity": quantity, "csrf_token": csrf_token(page.text)},
            follow_redirects=True,
        )
        assert answer.status_code == 200, answer.text
        return answer.text

    # November is open: the Landkreis's first hours of it are entered again, as usual
    open_month = enter("11.2026", "3")
    assert "Der Verbrauch für November 2026 ist erfasst." in open_month
    assert "Nachberechnung" not in open_month
    # in December, October and November are closed while those hours still wait for the Landkreis
    app.config["MARKETPLACE_TODAY"] = "2026-12-05"
    for month in ("2026-10", "2026-11"):
        assert operator.post("/api/v1/billing-runs", json={"period": month}).status_code == 201
        closed = operator.post(f"/api/v1/periods/{month}/close", json={"reason": "Stunden in Prüfung folgen"})
        assert closed.status_code == 200, closed.get_json()
    late = enter("11.2026", "4")
    assert "Der Verbrauch für November 2026 ist erfasst. Der Monat ist bereits abgeschlossen" in late
    assert "wird er im nächsten offenen Monat als Nachberechnung abgerechnet." in late


def test_usage_in_review_blocks_the_close_and_the_page_lists_it_before_the_button(operator, api_as, client):
    provider = api_as("anbieter@kdz-mainz.example")
    usage_id = provider.post(
        f"/api/v1/bookings/{HOURS}/usage", json={"period": "2026-10", "quantity": "13"}
    ).get_json()["id"]
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    refused = operator.post("/api/v1/periods/2026-10/close")
    assert kinds(refused) == [("usage_in_review", usage_id)]
    login(client, "betrieb@kopit.example")
    page = client.get("/ledger/periods/2026-10/close").text
    listed = page.split('id="overridable"', 1)[1].split("</ul>", 1)[0]
    assert f"Verbrauch {usage_id}" in listed and "in Prüfung" in listed
    assert page.index('id="overridable"') < page.index("trotzdem abschließen")
    token = csrf_token(page)
    without = client.post("/ledger/periods/2026-10/close", data={"csrf_token": token, "confirm": "y"})
    assert without.status_code == 422
    assert "Begründung" in without.text
    done = client.post(
        "/ledger/periods/2026-10/close", data={"csrf_token": token, "confirm": "y", "reason": "Frist läuft noch"}
    )
    assert done.status_code == 302
    assert status_of("2026-10") is PeriodStatus.CLOSED


# --- the months in the API ------------------------------------------------------------------------------------


def test_months_list_status_billing_and_what_is_outstanding(operator, api_as):
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    items = {item["period"]: item for item in operator.get("/api/v1/periods").get_json()["items"]}
    assert items["2026-09"]["status"] == "closed" and items["2026-09"]["outstanding"] == []
    assert items["2026-10"]["status"] == "open"
    assert items["2026-10"]["billed_at"] is not None
    assert items["2026-10"]["outstanding"] == []  # billed, usage answered: it may be closed
    november = items["2026-11"]["outstanding"]
    assert (november[0]["kind"], november[0]["id"]) == ("earlier_month_open", "2026-10")
    assert {i["kind"] for i in november[1:]} == {"charge_missing", "usage_in_review"}  # the demo's hours so far

    # member finance sees the months and, of the charges, only its own member's
    def missing(email: str) -> set[int]:
        items = api_as(email).get("/api/v1/periods").get_json()["items"]
        outstanding = next(item for item in items if item["period"] == "2026-11")["outstanding"]
        return {i["id"] for i in outstanding if i["kind"] == "charge_missing"}

    wiesbaden, ladadi = missing("kasse@wiesbaden.example"), missing("kasse@ladadi.example")
    assert wiesbaden == {1} and ladadi == {4}  # the virtual servers; November's usage is not yet answered
    assert {i["id"] for i in november if i["kind"] == "charge_missing"} == wiesbaden | ladadi
    assert api_as("einkauf@wiesbaden.example").get("/api/v1/periods").status_code == 403


def test_flask_ledger_verify_holds_after_the_month_in_order(operator, app):
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 201
    assert operator.post("/api/v1/periods/2026-10/close").status_code == 200
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
