"""The booking page as buyers and providers use it: cancel, messages, history, usage and its review."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from marketplace.bookings.models import BookingMessage, BookingStatus, UsageRecord, UsageStatus
from marketplace.extensions import db
from tests.conftest import csrf_token, login

BUYER = "einkauf@wiesbaden.example"
PROVIDER = "anbieter@kdz-mainz.example"


def _client(app, email):
    client = app.test_client()
    login(client, email)
    return client


def _post(client, booking_id, action, data):
    page = client.get(f"/bookings/{booking_id}")
    assert page.status_code == 200
    return client.post(f"/bookings/{booking_id}/{action}", data={**data, "csrf_token": csrf_token(page.text)})


def test_buyer_cancels_from_the_page_and_sees_the_history(app, make_booking):
    booking = make_booking(notice_period_days=30)
    client = _client(app, BUYER)
    page = client.get(f"/bookings/{booking.id}")
    assert "16.12.2026" in page.text or "16. Dez" in page.text  # earliest end shown
    confirmation = _post(client, booking.id, "cancel", {"cancel-reason": "Haushalt gestrichen"})
    assert confirmation.status_code == 200 and "16.12.2026" in confirmation.text
    db.session.expire_all()
    assert booking.status is not BookingStatus.CANCELLED  # nothing ends before the confirmation
    response = client.post(
        f"/bookings/{booking.id}/cancel",
        data={
            "cancel-ends_on": "2026-12-16",
            "cancel-reason": "Haushalt gestrichen",
            "cancel-confirmed": "1",
            "csrf_token": csrf_token(confirmation.text),
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert booking.status is BookingStatus.CANCELLED and booking.ends_on == date(2026, 12, 16)
    page = client.get(f"/bookings/{booking.id}")
    assert "Gekündigt" in page.text and "Haushalt gestrichen" in page.text and "Wilma Einkauf" in page.text


def test_cancellation_inside_the_minimum_term_shows_a_message_and_changes_nothing(app, make_booking):
    booking = make_booking(minimum_term_months=12)
    client = _client(app, PROVIDER)
    response = _post(client, booking.id, "cancel", {"cancel-ends_on": "2027-01-31"})
    assert response.status_code == 422  # shown on the cancel form, no confirmation offered
    assert "Mindestlaufzeit von 12 Monaten" in response.text and "15.11.2027" in response.text
    assert "cancel-confirmed" not in response.text or 'name="cancel-confirmed" type="hidden" value=""' in response.text
    db.session.expire_all()
    assert booking.status is not BookingStatus.CANCELLED and booking.ends_on is None


def _written_rows():
    """What a page view could have written: booking events, bookings' statuses, audit entries."""
    from marketplace.bookings.models import Booking, BookingEvent
    from marketplace.core.models import AuditEvent

    return (
        db.session.scalar(select(func.count()).select_from(BookingEvent)),
        db.session.execute(select(Booking.id, Booking.status).order_by(Booking.id)).all(),
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
    )


def test_pages_show_the_status_the_dates_give_without_writing(app, make_booking):
    starting = make_booking(starts_on=date(2026, 11, 16))  # today in tests
    later = make_booking(starts_on=date(2026, 12, 1))
    db.session.commit()
    before = _written_rows()
    assert starting.status is BookingStatus.ACCEPTED  # the daily job has not run
    client = _client(app, BUYER)
    page = client.get(f"/bookings/{starting.id}")
    assert page.status_code == 200
    assert 'kern-badge--success">Laufend</span>' in page.text
    assert "automatisch nach Datum" not in page.text  # nothing recorded yet
    listing = client.get("/bookings").text
    row_of = {b.id: listing.split(f'/bookings/{b.id}"', 1)[1].split("</tr>", 1)[0] for b in (starting, later)}
    assert "Laufend" in row_of[starting.id] and "Angenommen" in row_of[later.id]
    # the filter follows what is shown
    active = client.get("/bookings?status=active").text
    assert f'/bookings/{starting.id}"' in active and f'/bookings/{later.id}"' not in active
    client.get(f"/bookings/{later.id}")
    db.session.expire_all()
    assert _written_rows() == before


def test_page_shows_ended_after_the_last_day_without_writing(app, make_booking):
    from marketplace.bookings.operations import advance_booking_statuses

    booking = make_booking(starts_on=date(2026, 11, 16), ends_on=date(2026, 11, 20))
    advance_booking_statuses(date(2026, 11, 16))
    db.session.commit()
    app.config["MARKETPLACE_TODAY"] = "2026-11-21"
    before = _written_rows()
    page = _client(app, BUYER).get(f"/bookings/{booking.id}")
    assert 'kern-badge--info">Beendet</span>' in page.text
    assert "cancel-reason" not in page.text  # nothing left to cancel
    db.session.expire_all()
    assert _written_rows() == before


def test_messages_between_buyer_and_provider(app, make_booking):
    booking = make_booking()
    assert (
        _post(_client(app, BUYER), booking.id, "messages", {"body": "Bitte Linux-Image vorbereiten."}).status_code
        == 302
    )
    provider = _client(app, PROVIDER)
    assert _post(provider, booking.id, "messages", {"body": "Erledigt bis Freitag."}).status_code == 302
    page = provider.get(f"/bookings/{booking.id}").text
    assert page.index("Bitte Linux-Image") < page.index("Erledigt bis Freitag")
    empty = _post(provider, booking.id, "messages", {"body": "   "})
    assert empty.status_code == 422 and "Bitte eine Nachricht eingeben" in empty.text
    outsider = _client(app, "einkauf@ladadi.example")
    assert outsider.get(f"/bookings/{booking.id}").status_code == 404
    assert outsider.post(f"/bookings/{booking.id}/messages", data={"body": "x"}).status_code in (400, 404)
    assert db.session.scalar(select(func.count(BookingMessage.id))) == 2


def test_provider_records_usage_and_buyer_disputes_then_confirms_the_correction(app, make_booking):
    booking = make_booking(title="Betrieb von Fachverfahren")
    provider, buyer = _client(app, PROVIDER), _client(app, BUYER)
    assert _post(provider, booking.id, "usage", {"period": "2026-11", "quantity": "7,5"}).status_code == 302
    record = db.session.scalar(select(UsageRecord).where(UsageRecord.booking_id == booking.id))
    assert record.quantity == 7.5 and record.status is UsageStatus.ENTERED
    response = _post(buyer, booking.id, f"usage/{record.id}/dispute", {"dispute-reason": "Nur 5 Stunden"})
    assert response.status_code == 302
    db.session.expire_all()
    assert record.status is UsageStatus.DISPUTED
    assert "Bestritten" in provider.get(f"/bookings/{booking.id}").text
    _post(provider, booking.id, "usage", {"period": "2026-11", "quantity": "5"})
    _post(buyer, booking.id, f"usage/{record.id}/confirm", {})
    db.session.expire_all()
    assert (record.quantity, record.status) == (5, UsageStatus.CONFIRMED)


def test_usage_outside_the_booking_or_out_of_range_gets_a_message_and_is_not_stored(app, make_booking):
    booking = make_booking(title="Betrieb von Fachverfahren")
    provider = _client(app, PROVIDER)
    for data, message in (
        ({"period": "2026-10", "quantity": "3"}, "außerhalb der Buchung"),
        ({"period": "2027-01", "quantity": "3"}, "in der Zukunft"),
        ({"period": "2026-11", "quantity": "-3"}, "zwischen 0 und"),
        ({"period": "2026-11", "quantity": "drei"}, "als Zahl"),
    ):
        response = _post(provider, booking.id, "usage", data)
        assert response.status_code == 422, data
        assert message in response.text
    assert db.session.scalar(select(func.count(UsageRecord.id)).where(UsageRecord.booking_id == booking.id)) == 0
    buyer = _client(app, BUYER)
    assert _post(buyer, booking.id, "usage", {"period": "2026-11", "quantity": "3"}).status_code == 403
    assert db.session.scalar(select(func.count(UsageRecord.id)).where(UsageRecord.booking_id == booking.id)) == 0


def test_dispute_without_reason_is_refused_with_a_message(app, make_booking):
    booking = make_booking(title="Betrieb von Fachverfahren")
    _post(_client(app, PROVIDER), booking.id, "usage", {"period": "2026-11", "quantity": "5120"})
    record = db.session.scalar(select(UsageRecord).where(UsageRecord.booking_id == booking.id))
    buyer = _client(app, BUYER)
    assert "5120 Stunde" in buyer.get(f"/bookings/{booking.id}").text
    response = _post(buyer, booking.id, f"usage/{record.id}/dispute", {"dispute-reason": ""})
    assert response.status_code == 422 and "Bitte begründen Sie den Einspruch" in response.text
    db.session.expire_all()
    assert record.status is UsageStatus.ENTERED


def test_units_read_per_month_in_english_and_je_monat_in_german(app, make_booking):
    booking = make_booking()  # "Virtueller Server (Standard)", billed per month
    client = _client(app, BUYER)
    pages = [f"/services/{booking.service_id}", f"/bookings/{booking.id}"]
    for url in pages:
        assert " je Monat" in client.get(url).text, url
    client.get("/sprache/en")
    for url in pages:
        text = client.get(url).text
        assert " per month" in text and "per Month" not in text, url
    # "Monat" as a month (a column heading) keeps its own English
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale("en"):
        assert gettext("Monat") == "Month"
