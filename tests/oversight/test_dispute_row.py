"""Disputing usage: a real button per row, and an empty reason marks only the row it was sent for."""

from __future__ import annotations

import re

from sqlalchemy import select

from marketplace.bookings.models import UsageRecord, UsageStatus
from marketplace.extensions import db
from tests.conftest import csrf_token, login


def _client(app, email):
    client = app.test_client()
    login(client, email)
    return client


def test_an_empty_reason_marks_only_its_own_row(app, make_booking):
    from datetime import date

    booking = make_booking(title="Betrieb von Fachverfahren", starts_on=date(2026, 10, 1))
    provider = _client(app, "anbieter@kdz-mainz.example")
    for period in ("10.2026", "11.2026"):
        page = provider.get(f"/bookings/{booking.id}")
        sent = provider.post(
            f"/bookings/{booking.id}/usage",
            data={"period": period, "quantity": "3", "csrf_token": csrf_token(page.text)},
        )
        assert sent.status_code == 302, sent.text
    records = list(db.session.scalars(select(UsageRecord).where(UsageRecord.booking_id == booking.id)))
    assert len(records) == 2
    first, second = sorted(records, key=lambda r: r.period)

    buyer = _client(app, "einkauf@wiesbaden.example")
    page = buyer.get(f"/bookings/{booking.id}")
    assert page.text.count(">Bestreiten<") == 2
    assert re.search(
        r'<button type="submit" class="kern-btn kern-btn--secondary[^"]*"><span class="kern-label">Bestreiten',
        page.text,
    )
    refused = buyer.post(
        f"/bookings/{booking.id}/usage/{second.id}/dispute",
        data={"dispute-reason": "   ", "csrf_token": csrf_token(page.text)},
    )
    assert refused.status_code == 422
    html = refused.text
    assert html.count('aria-invalid="true"') == 1
    assert f'id="dispute-reason-{second.id}" name="dispute-reason" maxlength="2000" aria-invalid="true"' in html
    assert f'href="#dispute-reason-{second.id}"' in html  # the summary leads to the row
    db.session.expire_all()
    mine = select(UsageRecord).where(UsageRecord.booking_id == booking.id)
    assert {r.status for r in db.session.scalars(mine)} == {UsageStatus.ENTERED}
    done = buyer.post(
        f"/bookings/{booking.id}/usage/{second.id}/dispute",
        data={"dispute-reason": "Nur 2 Stunden geleistet", "csrf_token": csrf_token(page.text)},
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(UsageRecord, second.id).status is UsageStatus.DISPUTED
    assert db.session.get(UsageRecord, first.id).status is UsageStatus.ENTERED
