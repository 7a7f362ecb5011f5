"""Cancelling is a decision with consequences: the page first shows the end date and what is still charged,
and only the confirmation ends the booking; the earliest end is never before the start."""

from __future__ import annotations

from datetime import date

from marketplace.bookings.models import BookingStatus
from marketplace.bookings.operations import cancels_before_start, earliest_cancellation
from marketplace.extensions import db
from tests.conftest import csrf_token, login

BUYER = "einkauf@wiesbaden.example"


def _client(app):
    client = app.test_client()
    login(client, BUYER)
    return client


def _text(response):
    """The page as a reader sees it (Babel writes "89,00\xa0€")."""
    return response.text.replace("\xa0", " ")


def _ask(client, booking_id, data):
    page = client.get(f"/bookings/{booking_id}")
    return client.post(f"/bookings/{booking_id}/cancel", data={**data, "csrf_token": csrf_token(page.text)})


def _confirm(client, booking_id, confirmation, data):
    return client.post(
        f"/bookings/{booking_id}/cancel",
        data={**data, "cancel-confirmed": "1", "csrf_token": csrf_token(confirmation.text)},
    )


def test_empty_date_on_a_running_booking_shows_the_end_and_the_cost_and_ends_nothing(app, make_booking):
    # 2 VMs at 89,00 € started today (16.11.), 30 days' notice: earliest end 16.12.2026
    booking = make_booking(quantity=2, notice_period_days=30)
    client = _client(app)
    page = _text(client.get(f"/bookings/{booking.id}"))
    assert "2 × 89,00 € = 178,00 € netto" in page  # the monthly estimate
    assert "Kündigung prüfen" in page and "Buchung kündigen" not in page

    confirmation = _ask(client, booking.id, {"cancel-ends_on": ""})
    assert confirmation.status_code == 200
    text = _text(confirmation)
    assert "Die Buchung endet mit Ablauf des 16.12.2026" in text
    # still to be charged: 15/30 days of November, 16/31 of December; § 2b: no VAT
    assert "November 2026" in text and "15 / 30" in text and "89,00 €" in text
    assert "Dezember 2026" in text and "16 / 31" in text and "91,87 €" in text
    assert "Zusammen 180,87 € netto, zzgl. 0,00 € USt = 180,87 €" in text
    db.session.expire_all()
    assert booking.status is BookingStatus.ACCEPTED and booking.ends_on is None

    done = _confirm(client, booking.id, confirmation, {"cancel-ends_on": "2026-12-16"})
    assert done.status_code == 302
    db.session.expire_all()
    assert booking.status is BookingStatus.CANCELLED and booking.ends_on == date(2026, 12, 16)


def test_a_forged_confirmation_inside_the_notice_period_is_refused_on_the_form(app, make_booking):
    booking = make_booking(notice_period_days=30)
    client = _client(app)
    confirmation = _ask(client, booking.id, {})
    refused = _confirm(client, booking.id, confirmation, {"cancel-ends_on": "2026-11-20"})
    assert refused.status_code == 422 and "Kündigungsfrist beträgt 30 Tage" in refused.text
    db.session.expire_all()
    assert booking.status is BookingStatus.ACCEPTED and booking.ends_on is None


def test_earliest_end_is_never_before_the_start(app, make_booking):
    # starts 01.12., notice 13 days from 16.11. would be 29.11.: before the start
    booking = make_booking(starts_on=date(2026, 12, 1), notice_period_days=13)
    assert earliest_cancellation(booking) == date(2026, 12, 1)
    assert cancels_before_start(booking)
    client = _client(app)
    page = _text(client.get(f"/bookings/{booking.id}"))
    assert "29.11.2026" not in page
    assert "vor ihrem Beginn am 01.12.2026 storniert" in page

    confirmation = _ask(client, booking.id, {})
    assert "Es wird nichts berechnet" in confirmation.text and "29.11.2026" not in confirmation.text
    assert _confirm(client, booking.id, confirmation, {"cancel-ends_on": "2026-11-30"}).status_code == 302
    db.session.expire_all()
    assert booking.status is BookingStatus.CANCELLED and booking.ends_on == date(2026, 11, 30)


def test_minimum_term_end_is_after_the_start(app, make_booking):
    booking = make_booking(starts_on=date(2026, 12, 1), minimum_term_months=12)
    assert earliest_cancellation(booking) == date(2027, 11, 30)
    assert not cancels_before_start(booking)


def test_already_charged_months_are_not_counted_again(app, make_booking, user):
    from marketplace.monthend.billing import run_billing

    booking = make_booking(notice_period_days=30)
    run_billing(user("betrieb@kopit.example"), "2026-11")
    db.session.commit()
    confirmation = _ask(_client(app), booking.id, {})
    text = _text(confirmation)
    assert "2026-11" not in text.split("Was noch berechnet wird", 1)[1].split("</table>", 1)[0]
    assert "Zusammen 45,94 € netto" in text  # only December: 89 × 16/31


def test_a_booking_that_ended_cannot_be_cancelled_from_the_page(app, make_booking):
    booking = make_booking(accept=False)
    response = _ask(_client(app), booking.id, {})
    assert response.status_code == 422 and "kann nicht gekündigt werden" in response.text
