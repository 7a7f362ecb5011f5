"""Input a probe sent that crashed the application or got stored although it should not have.

Every number a form or the API takes stays inside its column (PostgreSQL refuses larger values with an
error, SQLite stores them silently); amounts and quantities are parsed by one form parser (German notation)
and one API parser (``"1234.50"``) that refuse other scripts' digits, underscores and ``-0``; text refuses
NUL everywhere and control characters in one-line fields; a billing run skips and reports a charge the
ledger cannot hold instead of failing the whole month. Everything goes through HTTP, on SQLite and, with
``DATABASE_BACKEND=postgresql``, on PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from marketplace.bookings.models import UsageRecord, UsageStatus
from marketplace.catalogue.models import Service
from marketplace.costsharing.models import CostSharingPlan, Participant
from marketplace.extensions import db
from marketplace.ledger.models import Transfer
from marketplace.members.models import Member
from tests.conftest import csrf_token, login, post_form

PROVIDER = "anbieter@kdz-mainz.example"
BUYER = "einkauf@wiesbaden.example"
OPERATOR = "betrieb@kopit.example"

#: A metered service at the highest unit price the catalogue allows (10 000 000,00 € per hour).
EXPENSIVE = {
    "title": "Großrechnerstunde",
    "description": "Rechenzeit nach Verbrauch.",
    "category": "operations",
    "unit": "hour",
    "unit_price": "10000000.00",
    "vat_category": "S",
    "status": "published",
}


def _web(app: Any, email: str) -> Any:
    client = app.test_client()
    login(client, email)
    return client


@pytest.fixture
def expensive_booking(api_as: Any, demo: None) -> dict[str, Any]:
    """An accepted booking of Stadt Wiesbaden on EXPENSIVE, made through the API."""
    provider, buyer = api_as(PROVIDER), api_as(BUYER)
    service = provider.post("/api/v1/services", json=EXPENSIVE)
    assert service.status_code == 201, service.get_json()
    booking = buyer.post(
        "/api/v1/bookings", json={"service_id": service.get_json()["id"], "quantity": 1, "starts_on": "2026-11-16"}
    )
    assert booking.status_code == 201, booking.get_json()
    accepted = provider.post(f"/api/v1/bookings/{booking.get_json()['id']}/accept")
    assert accepted.status_code == 200, accepted.get_json()
    return accepted.get_json()


def _usage_count(booking_id: int) -> int:
    return db.session.scalar(select(func.count(UsageRecord.id)).where(UsageRecord.booking_id == booking_id))


def _post_usage_form(app: Any, booking_id: int, quantity: str) -> Any:
    client = _web(app, PROVIDER)
    return post_form(
        client, f"/bookings/{booking_id}", f"/bookings/{booking_id}/usage", {"period": "2026-11", "quantity": quantity}
    )


# --- 1. a usage whose charge the ledger cannot hold ----------------------------------------------------


def test_api_refuses_a_usage_whose_charge_does_not_fit_the_ledger(api_as, expensive_booking):
    provider = api_as(PROVIDER)
    # 10 000 000 000 hours at 10 000 000 € are 10^19 cents: more than a 64-bit column holds
    response = provider.post(
        f"/api/v1/bookings/{expensive_booking['id']}/usage", json={"period": "2026-11", "quantity": "10000000000"}
    )
    assert response.status_code == 422, response.get_json()
    assert "quantity" in response.get_json()["errors"]
    assert "Menge mal Preis" in response.get_json()["errors"]["quantity"][0]
    assert _usage_count(expensive_booking["id"]) == 0
    # a large but chargeable month is fine: 10 000 hours are 100 000 000 000,00 €
    fine = provider.post(
        f"/api/v1/bookings/{expensive_booking['id']}/usage", json={"period": "2026-11", "quantity": "10000"}
    )
    assert fine.status_code == 201, fine.get_json()


def test_usage_form_refuses_a_usage_whose_charge_does_not_fit_the_ledger(app, expensive_booking):
    response = _post_usage_form(app, expensive_booking["id"], "10000000000")
    assert response.status_code == 422
    assert "Menge mal Preis je Einheit ergibt mehr als" in response.text
    assert _usage_count(expensive_booking["id"]) == 0


def _usage_that_got_in_earlier(booking_id: int) -> None:
    """What entry let through before it was bounded: 99 999 999 999,999 hours at 10 000 000 €, confirmed by the
    buyer (so the billing run takes it)."""
    db.session.add(
        UsageRecord(
            booking_id=booking_id,
            period="2026-11",
            quantity=Decimal("99999999999.999"),
            status=UsageStatus.CONFIRMED,
        )
    )
    db.session.commit()


def _ledger_verifies(app: Any) -> None:
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output


def test_api_billing_run_skips_and_reports_a_charge_it_cannot_post(app, api_as, expensive_booking):
    _usage_that_got_in_earlier(expensive_booking["id"])
    response = api_as(OPERATOR).post("/api/v1/billing-runs", json={"period": "2026-11"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [item["booking_id"] for item in body["skipped"]] == [expensive_booking["id"]]
    assert "Obergrenze" in body["skipped"][0]["reason"]
    assert body["transfers_created"] > 0  # the rest of the month is billed
    assert db.session.scalar(select(Transfer).where(Transfer.booking_id == expensive_booking["id"])) is None
    _ledger_verifies(app)


def test_billing_page_skips_and_names_a_charge_it_cannot_post(app, expensive_booking):
    _usage_that_got_in_earlier(expensive_booking["id"])
    client = _web(app, OPERATOR)
    response = post_form(client, "/ledger", "/ledger/billing", {"period": "2026-11"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert f"Buchung {expensive_booking['id']} nicht abgerechnet" in page.text
    assert "Buchungen über" in page.text  # the others were charged
    _ledger_verifies(app)


# --- 2. NUL and control characters ---------------------------------------------------------------------


@pytest.mark.parametrize("title", ["Hosting\r\nBcc: alle@example.org", "Hosting\tPlus", "Hosting\x1b[31m", "Ho\x85st"])
def test_api_refuses_control_characters_in_a_one_line_field(api_as, demo, title):
    response = api_as(PROVIDER).post("/api/v1/services", json={**EXPENSIVE, "title": title})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"]["title"] == [
        "Bitte ohne Zeilenumbrüche, Tabulatoren und andere Steuerzeichen eingeben."
    ]
    assert db.session.scalar(select(Service).where(Service.title.like("Hosting%"))) is None


def test_api_takes_line_breaks_in_a_description_but_no_other_control_character(api_as, demo):
    provider = api_as(PROVIDER)
    fine = provider.post("/api/v1/services", json={**EXPENSIVE, "description": "Zeile eins\r\nZeile zwei\tmit Tab"})
    assert fine.status_code == 201, fine.get_json()
    bell = provider.post("/api/v1/services", json={**EXPENSIVE, "description": "Achtung\x07"})
    assert bell.status_code == 422 and "description" in bell.get_json()["errors"]


def test_api_refuses_a_reversal_reason_over_two_lines(api_as, demo):
    transfer_id = db.session.scalar(select(func.min(Transfer.id)))
    response = api_as(OPERATOR).post(
        f"/api/v1/ledger/transfers/{transfer_id}/reverse", json={"reason": "Falsch\nZweite Zeile"}
    )
    assert response.status_code == 422 and "reason" in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("title", "Rack\r\nmit Strom"), ("contact_name", "Erika\nMustermann"), ("contact_phone", "0611\t123")],
)
def test_service_form_refuses_control_characters_in_one_line_fields(app, demo, field, value):
    from tests.test_web_journey import _service_form

    client = _web(app, PROVIDER)
    response = post_form(client, "/services/new", "/services/new", _service_form(**{field: value}))
    assert response.status_code == 422
    assert "Bitte ohne Zeilenumbrüche, Tabulatoren und andere Steuerzeichen eingeben." in response.text
    assert db.session.scalar(select(Service).where(Service.title.like("Rack%"))) is None


def test_service_form_takes_line_breaks_in_the_description(app, demo):
    from tests.test_web_journey import _service_form

    client = _web(app, PROVIDER)
    response = post_form(
        client, "/services/new", "/services/new", _service_form(title="Rack", description="Eins\r\nZwei")
    )
    assert response.status_code == 302
    assert db.session.scalar(select(Service.description).where(Service.title == "Rack")) == "Eins\r\nZwei"


def test_api_refuses_nul_in_any_text_field(api_as, demo):
    provider = api_as(PROVIDER)
    for body in ({**EXPENSIVE, "title": "Null\u0000byte"}, {**EXPENSIVE, "description": "a\u0000b"}):
        response = provider.post("/api/v1/services", json=body)
        assert response.status_code == 422, response.get_json()
    nested = provider.post("/api/v1/services", json={**EXPENSIVE, "tax_reasons": ["x\u0000"]})
    assert nested.status_code == 422 and "tax_reasons" in nested.get_json()["errors"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/services?q=a%00b",
        "/api/v1/services?category=%00",
        "/api/v1/bookings?status=%00",
        "/api/v1/ledger/transfers?period=2026-11%00",
        "/api/v1/invoices?period=%00",
        "/api/v1/ledger/balances?x%00=1",
    ],
)
def test_api_answers_nul_in_a_query_string_with_422(api_as, demo, path):
    response = api_as(OPERATOR if "ledger" in path or "invoices" in path else BUYER).get(path)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "path",
    [
        "/services?q=a%00b",
        "/services?category=%00&provider=%00",
        "/bookings?status=%00",
        "/ledger?period=%00&member_id=%00",
        "/invoices?period=%00",
        "/admin/audit?action=%00",
    ],
)
def test_pages_answer_nul_in_a_query_string_with_400(app, demo, path):
    response = _web(app, OPERATOR if not path.startswith(("/bookings", "/services")) else BUYER).get(path)
    assert response.status_code == 400, response.text[:500]


def test_a_form_value_with_nul_is_a_400(app, demo):
    from tests.test_web_journey import _service_form

    client = _web(app, PROVIDER)
    response = post_form(client, "/services/new", "/services/new", _service_form(title="Rack", description="a\x00b"))
    assert response.status_code == 400
    assert db.session.scalar(select(Service).where(Service.title == "Rack")) is None


# --- 3. "-0", huge page numbers, values beyond their columns -----------------------------------------------


def test_usage_quantity_minus_zero_is_refused_by_api_and_form(app, api_as, expensive_booking):
    booking_id = expensive_booking["id"]
    for quantity in ("-0", "-0.0", "-0.000"):
        response = api_as(PROVIDER).post(
            f"/api/v1/bookings/{booking_id}/usage", json={"period": "2026-11", "quantity": quantity}
        )
        assert response.status_code == 422 and "quantity" in response.get_json()["errors"], quantity
        form = _post_usage_form(app, booking_id, quantity)
        assert form.status_code == 422 and "als Zahl" in form.text, quantity
    assert _usage_count(booking_id) == 0


@pytest.mark.parametrize(
    ("email", "path"),
    [
        (BUYER, "/services?page=99999999999999999999"),
        (BUYER, "/bookings?page=99999999999999999999&per_page=99999999999999999999"),
        (PROVIDER, "/services/mine?page=99999999999999999999"),
        (OPERATOR, "/ledger?page=99999999999999999999"),
        (OPERATOR, "/invoices?page=99999999999999999999"),
        (OPERATOR, "/admin/audit?page=99999999999999999999"),
        (OPERATOR, "/ledger?member_id=99999999999999999999"),
        (OPERATOR, "/admin/audit?member_id=99999999999999999999"),
        (OPERATOR, "/admin/audit?member_id=%C2%B2"),  # "²" is a digit to str.isdigit, not to int
        (BUYER, "/services?provider=99999999999999999999"),
        (BUYER, "/services?provider=%C2%B2&sla=NaN"),
        (OPERATOR, "/cost-sharing/koenigstein?year=99999999999999999999"),
    ],
)
def test_pages_with_huge_or_odd_numbers_in_the_query_answer_without_error(app, demo, email, path):
    response = _web(app, email).get(path)
    assert response.status_code < 500, response.text[:500]


@pytest.mark.parametrize(
    ("email", "path"),
    [
        (BUYER, "/api/v1/services?page=99999999999999999999"),
        (BUYER, "/api/v1/bookings?page=99999999999999999999"),
        (OPERATOR, "/api/v1/ledger/transfers?page=99999999999999999999"),
        (OPERATOR, "/api/v1/invoices?page=99999999999999999999"),
        (BUYER, "/api/v1/services?page=1_0"),
        (BUYER, "/api/v1/services?provider_id=%D9%A1%D9%A2"),  # "١٢"
    ],
)
def test_api_refuses_huge_or_odd_page_numbers_with_422(api_as, demo, email, path):
    response = api_as(email).get(path)
    assert response.status_code == 422, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/bookings/99999999999999999999", "/services/99999999999999999999", "/cost-sharing/99999999999999999999"]
)
def test_pages_with_an_id_beyond_the_column_are_not_found(app, demo, path):
    assert _web(app, BUYER).get(path).status_code == 404


@pytest.fixture
def plan_with_key(app: Any, demo: None) -> Any:
    """A cost-sharing plan of KDZ Mainz with the given key, made through the form."""
    from marketplace.catalogue.models import ServiceStatus, Unit, VatCategory
    from marketplace.catalogue.operations import ServiceInput, create_service
    from marketplace.members.queries import user_by_email
    from tests.taxdata import O_TAX

    def make(client: Any, key: str) -> CostSharingPlan:
        service = create_service(
            user_by_email(PROVIDER),
            ServiceInput(
                title="Gemeinsames Kommunalnetz",
                description="Die Kosten tragen die Teilnehmer.",
                category="operations",
                unit=Unit.MONTH,
                unit_price=Decimal("0"),
                vat_category=VatCategory.NOT_TAXABLE,
                status=ServiceStatus.PUBLISHED,
                **O_TAX,
            ),
        )
        db.session.commit()
        response = post_form(
            client,
            "/cost-sharing/",
            "/cost-sharing/",
            {"service_id": service.id, "year": "2026", "planned_cost": "12.000,00", "allocation_key": key},
        )
        assert response.status_code == 302, response.text
        return db.session.scalar(select(CostSharingPlan))

    return make


def _add_participant(client: Any, plan: CostSharingPlan, **extra: str) -> Any:
    member = db.session.scalar(select(Member).where(Member.name == "Stadt Wiesbaden"))
    url = f"/cost-sharing/{plan.id}"
    data = {"p-member_id": member.id, "p-joins_on": "2026-01-01", "p-leaves_on": "", **extra}
    return post_form(client, url, f"{url}/participants", data)


@pytest.mark.parametrize("weight", ["1e9", "1.000.000.000", "1000000000", "١٢", "1_000"])
def test_cost_sharing_weight_beyond_its_column_is_refused(app, plan_with_key, weight):
    client = _web(app, PROVIDER)
    plan = plan_with_key(client, "custom")
    response = _add_participant(client, plan, **{"p-weight": weight})
    assert response.status_code == 422
    assert 'id="p-weight-error"' in response.text
    assert db.session.scalar(select(func.count(Participant.id))) == 0


def test_cost_sharing_weight_with_german_thousands_is_taken(app, plan_with_key):
    client = _web(app, PROVIDER)
    plan = plan_with_key(client, "custom")
    assert _add_participant(client, plan, **{"p-weight": "1.250,5"}).status_code == 302
    assert db.session.scalar(select(Participant.weight)) == Decimal("1250.5")


@pytest.mark.parametrize("population", ["3000000000", "3.000.000.000", "2147483648"])
def test_cost_sharing_population_beyond_its_column_is_refused(app, plan_with_key, population):
    client = _web(app, PROVIDER)
    plan = plan_with_key(client, "population")
    response = _add_participant(client, plan, **{"p-population": population, "p-population_date": "2025-12-31"})
    assert response.status_code == 422
    assert "Einwohnerzahl zwischen 1 und 2.147.483.647" in response.text
    assert db.session.scalar(select(func.count(Participant.id))) == 0


# --- 4. amounts and quantities: German in forms, "1234.50" in the API ---------------------------------------


@pytest.mark.parametrize("price", ["١٢", "1_000", "12e2", "+12", "١٢.00"])
def test_api_refuses_amounts_that_are_no_ascii_decimal_string(api_as, demo, price):
    response = api_as(PROVIDER).post("/api/v1/services", json={**EXPENSIVE, "unit_price": price})
    assert response.status_code == 422, response.get_json()
    assert "unit_price" in response.get_json()["errors"]


@pytest.mark.parametrize("quantity", ["١٢", "1_000", "1e3", "+5", "1,5", " 5", True])
def test_api_refuses_quantities_that_are_no_ascii_decimal(api_as, expensive_booking, quantity):
    response = api_as(PROVIDER).post(
        f"/api/v1/bookings/{expensive_booking['id']}/usage", json={"period": "2026-11", "quantity": quantity}
    )
    assert response.status_code == 422, (quantity, response.get_json())
    assert "quantity" in response.get_json()["errors"]
    assert _usage_count(expensive_booking["id"]) == 0


def test_api_takes_quantities_as_number_or_decimal_string(api_as, expensive_booking):
    provider = api_as(PROVIDER)
    url = f"/api/v1/bookings/{expensive_booking['id']}/usage"
    assert provider.post(url, json={"period": "2026-11", "quantity": 12.5}).get_json()["quantity"] == "12.500"
    assert provider.post(url, json={"period": "2026-11", "quantity": "7.25"}).get_json()["quantity"] == "7.250"


@pytest.mark.parametrize(
    ("text", "cents"),
    [("1.234,50", 123450), ("1234,50", 123450), ("1,5", 150), ("1234.50", 123450), ("1.234", 123400)],
)
def test_service_form_takes_amounts_as_a_german_user_writes_them(app, demo, text, cents):
    from tests.test_web_journey import _service_form

    client = _web(app, PROVIDER)
    response = post_form(client, "/services/new", "/services/new", _service_form(title="Rack", unit_price=text))
    assert response.status_code == 302, response.text[:500]
    assert db.session.scalar(select(Service.unit_price_cents).where(Service.title == "Rack")) == cents


@pytest.mark.parametrize("text", ["١٢", "1_000", "12e2", "1.234.5", "1,234"])
def test_service_form_refuses_amounts_in_other_notations(app, demo, text):
    from tests.test_web_journey import _service_form

    client = _web(app, PROVIDER)
    response = post_form(client, "/services/new", "/services/new", _service_form(title="Rack", unit_price=text))
    assert response.status_code == 422
    assert "Betrag in Euro" in response.text
    assert db.session.scalar(select(Service).where(Service.title == "Rack")) is None


@pytest.mark.parametrize("capacity", ["١٢", "1_0"])
def test_service_form_refuses_whole_numbers_in_other_notations(app, demo, capacity):
    from tests.test_web_journey import _service_form

    client = _web(app, PROVIDER)
    response = post_form(client, "/services/new", "/services/new", _service_form(title="Rack", capacity=capacity))
    assert response.status_code == 422 and "ganze Zahl" in response.text


@pytest.mark.parametrize("quantity", ["١٢", "1_000", "1e3", "12,3456"])
def test_usage_form_refuses_quantities_in_other_notations(app, expensive_booking, quantity):
    response = _post_usage_form(app, expensive_booking["id"], quantity)
    assert response.status_code == 422 and "als Zahl" in response.text
    assert _usage_count(expensive_booking["id"]) == 0


@pytest.mark.parametrize(("text", "expected"), [("1.250", "1250"), ("12,5", "12.5"), ("0.125", "0.125")])
def test_usage_form_reads_quantities_the_german_way(app, expensive_booking, text, expected):
    assert _post_usage_form(app, expensive_booking["id"], text).status_code == 302
    stored = select(UsageRecord.quantity).where(UsageRecord.booking_id == expensive_booking["id"])
    assert db.session.scalar(stored) == Decimal(expected)


def test_period_with_other_digits_is_refused(app, api_as, expensive_booking):
    response = api_as(PROVIDER).post(
        f"/api/v1/bookings/{expensive_booking['id']}/usage", json={"period": "٢٠٢٦-11", "quantity": "1"}
    )
    assert response.status_code == 422 and "period" in response.get_json()["errors"]
    client = _web(app, OPERATOR)
    page = client.get("/ledger")
    refused = client.post("/ledger/billing", data={"period": "٢٠٢٦-11", "csrf_token": csrf_token(page.text)})
    assert refused.status_code == 422


def test_token_name_with_a_line_break_is_refused(app, demo):
    from marketplace.members.models import ApiToken

    client = _web(app, PROVIDER)
    before = db.session.scalar(select(func.count(ApiToken.id)))
    response = post_form(client, "/profile", "/profile/tokens", {"name": "SAP\r\nKämmerei", "scope": "read"})
    assert response.status_code == 422
    assert "Bitte ohne Zeilenumbrüche, Tabulatoren und andere Steuerzeichen eingeben." in response.text
    assert db.session.scalar(select(func.count(ApiToken.id))) == before
