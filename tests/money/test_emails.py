"""E-mails link absolutely to the configured address and write numbers and money the German way; the
second approver hears of a settlement waiting for them."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.notifications.models import NotificationKind, OutboxMessage
from tests.conftest import login

SITE = "https://boerse.kopit.example"


def _outbox(kind):
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))


def _links(body: str) -> list[str]:
    return re.findall(r"https?://\S+", body)


def test_usage_email_has_german_numbers_units_euros_and_an_absolute_link(app, demo, user):
    from marketplace.bookings.models import Booking
    from marketplace.bookings.operations import record_usage
    from marketplace.catalogue.models import Service

    app.config["PUBLIC_BASE_URL"] = SITE + "/"
    booking = db.session.scalar(
        select(Booking).join(Service).where(Service.title == "Betrieb von Fachverfahren")
    )  # Landkreis, 95,00 € per hour
    record_usage(user("anbieter@kdz-mainz.example"), booking, "2026-11", Decimal("1362.5"))
    message = _outbox(NotificationKind.USAGE_ENTERED)[-1]
    assert "1.362,5 Stunden" in message.body
    assert "netto 129.437,50 €" in message.body  # 1.362,5 × 95,00 €
    assert "1362.5" not in message.body
    assert _links(message.body) == [f"{SITE}/bookings/{booking.id}#verbrauch"]


def test_without_a_setting_links_follow_the_request_address(app, demo, user):
    from datetime import date

    from marketplace.bookings.operations import BookingRequest, request_booking

    app.config["PUBLIC_BASE_URL"] = None
    app.config["BASE_URL"] = None
    with app.test_request_context("/bookings/request/1", base_url="https://boerse.example"):
        request_booking(
            user("einkauf@wiesbaden.example"), BookingRequest(service_id=1, quantity=2, starts_on=date(2026, 12, 1))
        )
    message = _outbox(NotificationKind.BOOKING_REQUESTED)[-1]
    links = _links(message.body)
    assert links and all(link.startswith("https://boerse.example/bookings/") for link in links)


def test_the_second_approver_is_told_of_a_settlement_waiting(app, demo, user):
    from marketplace.settlement.operations import create_settlement

    app.config["PUBLIC_BASE_URL"] = SITE
    settlement = create_settlement(user("betrieb@kopit.example"), "2026-08")
    db.session.commit()
    messages = _outbox(NotificationKind.BILLING)
    to_approve = [m for m in messages if "wartet auf Ihre Freigabe" in m.subject]
    assert [m.recipient for m in to_approve] == ["pruefung@kopit.example"]  # not the creator
    body = to_approve[0].body
    assert f"{SITE}/settlements/{settlement.id}" in body
    assert re.search(r"zusammen \d{1,3}(\.\d{3})*,\d{2} €", body), body

    # the same item is on the second approver's start page, linked to the action, and not on the creator's
    client = app.test_client()
    login(client, "pruefung@kopit.example")
    start = client.get("/").text
    assert 'data-kind="settlement.approve"' in start and f'href="/settlements/{settlement.id}"' in start
    creator = app.test_client()
    login(creator, "betrieb@kopit.example")
    assert 'data-kind="settlement.approve"' not in creator.get("/").text


def test_switched_off_kinds_are_not_sent(app, demo, user):
    from marketplace.notifications.operations import set_preferences
    from marketplace.settlement.operations import create_settlement

    set_preferences(user("pruefung@kopit.example"), [])
    create_settlement(user("betrieb@kopit.example"), "2026-08")
    assert not [m for m in _outbox(NotificationKind.BILLING) if "wartet auf Ihre Freigabe" in m.subject]
