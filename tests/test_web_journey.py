"""The newcomer's walk through the HTML pages (issue: Foundation): publish, request, accept, bill, ledger."""

import re

from marketplace.bookings.models import Booking, BookingEvent, BookingStatus
from marketplace.catalogue.models import Service
from marketplace.extensions import db
from marketplace.ledger.queries import member_balances, verify_ledger
from tests.conftest import csrf_token, login, post_form


def _logout(client):
    page = client.get("/logout")
    client.post("/logout", data={"csrf_token": csrf_token(page.text)})


def _service_form(**overrides):
    data = {
        "title": "Rechenzentrumsfläche (Rack)",
        "description": "Ein 19-Zoll-Rack mit Strom und Klimatisierung.",
        "category": "hosting",
        "unit": "month",
        "unit_price": "1.234,57",
        "vat_category": "O",
        "capacity": "3",
        "status": "published",
        # Not taxable under § 2b UStG: a public-law agreement, cost reimbursement without margin.
        "tax_reasons": ["public_law_agreement", "cost_reimbursement"],
        "vatex_code": "",
        "minimum_term_months": "0",
        "notice_period_days": "0",
    }
    data.update(overrides)
    return data


def test_publish_request_accept_bill(client, demo):
    login(client, "anbieter@kdz-mainz.example")
    response = post_form(client, "/services/new", "/services/new", _service_form())
    assert response.status_code == 302
    service_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    page = client.get(f"/services/{service_id}")
    assert "1.234,57\xa0€" in page.text
    _logout(client)

    login(client, "einkauf@wiesbaden.example")
    response = post_form(
        client,
        f"/services/{service_id}",
        f"/bookings/request/{service_id}",
        {"quantity": "2", "starts_on": "2026-11-20", "ends_on": "", "note": "Für das Bürgeramt"},
    )
    assert response.status_code == 302
    booking_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert "Angefragt" in client.get(f"/bookings/{booking_id}").text
    _logout(client)

    login(client, "anbieter@kdz-mainz.example")
    response = post_form(client, f"/bookings/{booking_id}", f"/bookings/{booking_id}/accept", {})
    assert response.status_code == 302
    booking = db.session.get(Booking, booking_id)
    assert booking.status is BookingStatus.ACCEPTED
    assert booking.unit_price_cents == 123457
    events = db.session.query(BookingEvent).filter_by(booking_id=booking_id).order_by(BookingEvent.id).all()
    assert [(e.to_status, e.actor.email) for e in events] == [
        (BookingStatus.REQUESTED, "einkauf@wiesbaden.example"),
        (BookingStatus.ACCEPTED, "anbieter@kdz-mainz.example"),
    ]
    _logout(client)

    before = {b.member_name: b.balance_cents for b in member_balances()}
    login(client, "betrieb@kopit.example")
    response = post_form(client, "/ledger", "/ledger/billing", {"period": "2026-11"})
    assert response.status_code == 302
    ledger = client.get("/ledger")
    assert "Abrechnung November 2026" in ledger.text
    after = {b.member_name: b.balance_cents for b in member_balances()}
    # 1,234.57 € × 2 × 11/30 days (20 to 30 November) = 905.3513… → 905,35 €
    expected = 90535
    assert before["Stadt Wiesbaden"] - after["Stadt Wiesbaden"] >= expected
    charge = re.search(r"Rechenzentrumsfläche \(Rack\) – 2026-11 \(2 × 11/30 Tage\)", ledger.text)
    assert charge, "the new charge is in the journal"
    assert after["KDZ Mainz"] - before["KDZ Mainz"] >= expected
    assert sum(after.values()) == 0
    assert re.search(r'id="saldo-summe">0,00\xa0€', ledger.text)
    assert verify_ledger().ok


def test_capacity_is_never_exceeded(client, demo):
    service = db.session.query(Service).filter_by(title="Service-Desk (Second Level)").one()  # capacity 5
    login(client, "einkauf@wiesbaden.example")
    ids = []
    for quantity in ("3", "3"):
        response = post_form(
            client,
            f"/services/{service.id}",
            f"/bookings/request/{service.id}",
            {"quantity": quantity, "starts_on": "2026-12-01"},
        )
        ids.append(int(response.headers["Location"].rsplit("/", 1)[1]))
    _logout(client)
    login(client, "anbieter@ekom21.example")
    # The demo's Landkreis booking of 1 unit ended in October; 3 + 3 would exceed the 5 units.
    assert post_form(client, f"/bookings/{ids[0]}", f"/bookings/{ids[0]}/accept", {}).status_code == 302
    response = post_form(client, f"/bookings/{ids[1]}", f"/bookings/{ids[1]}/accept", {})
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert "Die Kapazität reicht nicht" in page.text
    assert db.session.get(Booking, ids[1]).status is BookingStatus.REQUESTED


def test_bad_service_input_gets_form_errors_and_writes_nothing(client, demo):
    login(client, "anbieter@kdz-mainz.example")
    count = db.session.query(Service).count()
    for overrides, message in [
        ({"unit_price": "-5"}, "zwischen 0 und 10.000.000"),
        ({"unit_price": "12,345"}, "zwei Nachkommastellen"),
        ({"unit_price": "abc"}, "Betrag in Euro"),
        ({"title": ""}, "Bitte einen Titel angeben"),
        ({"title": "x" * 201}, "200"),
        ({"capacity": "0"}, "ganze Zahl ab 1"),
        ({"category": "astrology"}, "Keine gültige Auswahl"),
    ]:
        response = post_form(client, "/services/new", "/services/new", _service_form(**overrides))
        assert response.status_code == 422, overrides
        assert message in response.text, (overrides, response.text[:3000])
    assert db.session.query(Service).count() == count


def test_member_text_is_escaped(client, demo):
    login(client, "anbieter@kdz-mainz.example")
    title = '<script>alert("x")</script> Hosting'
    response = post_form(client, "/services/new", "/services/new", _service_form(title=title))
    page = client.get(response.headers["Location"])
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Hosting" in page.text


def test_booking_request_validation(client, demo):
    service = db.session.query(Service).filter_by(title="Virtueller Server (Standard)").one()
    login(client, "einkauf@wiesbaden.example")
    count = db.session.query(Booking).count()
    for data, message in [
        ({"quantity": "0", "starts_on": "2026-12-01"}, "1 bis 100.000"),
        ({"quantity": "-2", "starts_on": "2026-12-01"}, "1 bis 100.000"),
        ({"quantity": "1", "starts_on": "2026-02-30"}, "gültiges Datum"),
        ({"quantity": "1", "starts_on": "2020-01-01"}, "nicht in der Vergangenheit"),
        ({"quantity": "1", "starts_on": "2026-12-10", "ends_on": "2026-12-01"}, "nicht vor dem Beginn"),
        ({"quantity": "1", "starts_on": "2026-12-10", "note": "x" * 2001}, "2000"),
    ]:
        response = post_form(client, f"/services/{service.id}", f"/bookings/request/{service.id}", data)
        assert response.status_code == 422, data
        assert message in response.text, (data, response.text[:2000])
    assert db.session.query(Booking).count() == count


def test_another_members_booking_is_not_found(client, demo):
    booking = db.session.query(Booking).filter_by(buyer_id=4).first()  # Stadt Wiesbaden's
    login(client, "einkauf@ladadi.example")
    assert client.get(f"/bookings/{booking.id}").status_code == 404
    page = client.get("/services")
    response = client.post(f"/bookings/{booking.id}/withdraw", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 404


def test_forms_without_csrf_token_are_refused(client, demo):
    login(client, "anbieter@kdz-mainz.example")
    response = client.post("/services/new", data=_service_form())
    assert response.status_code == 400
    assert db.session.query(Service).filter_by(title="Rechenzentrumsfläche (Rack)").count() == 0


def test_catalogue_search_and_pages(client, demo):
    login(client, "einkauf@ladadi.example")
    page = client.get("/services?q=georedundanter")
    assert "Objektspeicher (S3-kompatibel)" in page.text
    assert "Virtueller Server" not in page.text
    page = client.get("/services?q=ekom21")  # the provider's name is searched too
    assert "IT-Sicherheitsberatung" in page.text
    empty = client.get("/services?q=Raumfahrt")
    assert "Keine Leistung passt zu Ihrer Suche" in empty.text
    paged = client.get("/services?per_page=2&page=2")
    assert paged.status_code == 200
    assert "Seite 2 von 3" in paged.text


def test_login_failures_and_safe_redirects(client, demo):
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": "einkauf@wiesbaden.example", "password": "falsch-falsch", "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 422
    assert "E-Mail-Adresse oder Passwort sind falsch" in response.text
    page = client.get("/login?next=//evil.example/x")
    response = client.post(
        "/login?next=//evil.example/x",
        data={"email": "einkauf@wiesbaden.example", "password": "demo-passwort", "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_navigation_follows_roles(client, demo):
    login(client, "kasse@wiesbaden.example")
    page = client.get("/")
    assert 'href="/ledger"' in page.text
    assert 'href="/services/mine"' not in page.text
    assert client.get("/services/new").status_code == 403
    assert '<html lang="de"' in page.text
