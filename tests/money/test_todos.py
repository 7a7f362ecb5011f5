"""Start pages are to-do lists per role: each item linked to where it is done, dated, and gone once done."""

from __future__ import annotations

import re

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.settlement.models import Invoice, ReleaseStatus
from tests.conftest import csrf_token, login


def _start(app, email):
    client = app.test_client()
    login(client, email)
    return client, client.get("/").text


def _items(html: str) -> list[tuple[str, str, str]]:
    """(kind, href, text) of each to-do on the start page."""
    todos = html.split('id="todos"', 1)[1].split("</ul>", 1)[0] if 'id="todos"' in html else ""
    return [
        (kind, href, re.sub(r"\s+", " ", text).strip())
        for kind, href, text in re.findall(
            r'data-kind="([^"]+)">\s*<a class="kern-link" href="([^"]+)">([^<]+)</a>', todos
        )
    ]


def test_provider_answers_a_request_from_its_start_page(app, demo):
    client, html = _start(app, "anbieter@kdz-mainz.example")
    requests = [item for item in _items(html) if item[0] == "booking.request"]
    assert len(requests) == 1
    _kind, href, text = requests[0]
    assert "Landkreis Darmstadt-Dieburg" in text and "Lizenzmanagement Microsoft 365" in text
    booking_page = client.get(href)
    assert booking_page.status_code == 200 and "Annehmen" in booking_page.text
    accepted = client.post(f"{href}/accept", data={"csrf_token": csrf_token(booking_page.text)})
    assert accepted.status_code == 302
    assert not [i for i in _items(client.get("/").text) if i[0] == "booking.request"]  # done: gone

    # the buyer is told, on its start page (news) and by e-mail (tests/bookings/test_notifications.py)
    _buyer, buyer_start = _start(app, "einkauf@ladadi.example")
    assert "Anfrage angenommen: Lizenzmanagement Microsoft 365" in buyer_start


def test_buyer_reviews_usage_before_its_deadline(app, demo, user):
    from decimal import Decimal

    from marketplace.bookings.models import Booking
    from marketplace.bookings.operations import record_usage
    from marketplace.catalogue.models import Service

    booking = db.session.scalar(select(Booking).join(Service).where(Service.title == "Objektspeicher (S3-kompatibel)"))
    from marketplace.bookings.operations import review_deadline

    record = record_usage(user("anbieter@ekom21.example"), booking, "2026-11", Decimal("6000"))
    db.session.commit()
    deadline = review_deadline(record).strftime("%d.%m.%Y")
    client, html = _start(app, "einkauf@wiesbaden.example")
    reviews = [i for i in _items(html) if i[0] == "usage.review"]
    assert any("November 2026" in text and "Objektspeicher" in text for _k, _h, text in reviews)
    item = html.split("Verbrauch November 2026: Objektspeicher", 1)[1].split("</li>", 1)[0].replace("\xa0", " ")
    assert "6.000 GB-Monate" in item and "240,00 €" in item and f"bis {deadline}" in item
    # billed months are not offered for review any more
    assert not any("September 2026" in text for _k, _h, text in reviews)

    # disputing it puts it on ekom21's start page
    href = next(h for _k, h, text in reviews if "November 2026" in text and "Objektspeicher" in text)
    page = client.get(href.split("#")[0])
    record_id = record.id
    disputed = client.post(
        f"/bookings/{booking.id}/usage/{record_id}/dispute",
        data={
            "dispute-reason": "Wir nutzen nur 4.000 GB.",
            "dispute-csrf_token": csrf_token(page.text),
            "csrf_token": csrf_token(page.text),
        },
    )
    assert disputed.status_code == 302, disputed.text
    _ekom, ekom_html = _start(app, "anbieter@ekom21.example")
    assert any(k == "usage.disputed" and "Stadt Wiesbaden" in t for k, _h, t in _items(ekom_html)), ekom_html.split(
        "<main", 1
    )[1][:3000]


def test_finance_staff_release_invoices_from_the_start_page(app, demo):
    first = db.session.scalar(select(Invoice).where(Invoice.buyer.has(name="Stadt Wiesbaden")).order_by(Invoice.id))
    first.release_status = ReleaseStatus.PENDING  # the demo releases its history; one waits again
    db.session.commit()
    pending = db.session.scalars(
        select(Invoice).where(
            Invoice.release_status == ReleaseStatus.PENDING, Invoice.buyer.has(name="Stadt Wiesbaden")
        )
    ).all()
    assert pending
    _client, html = _start(app, "kasse@wiesbaden.example")
    releases = [i for i in _items(html) if i[0] == "invoice.release"]
    assert {h for _k, h, _t in releases} == {f"/invoices/{i.id}" for i in pending}
    # the buyer without the finance role has nothing to release
    _buyer, buyer_html = _start(app, "einkauf@wiesbaden.example")
    assert not [i for i in _items(buyer_html) if i[0] == "invoice.release"]


def test_invoices_due_alike_are_listed_by_their_month(app, demo):
    """The Landkreis's cash office has August's and September's invoices to release, all due the same day:
    August comes first, as it is read."""
    ladadi = db.session.scalars(
        select(Invoice)
        .where(Invoice.release_status == ReleaseStatus.PENDING, Invoice.buyer.has(name="Landkreis Darmstadt-Dieburg"))
        .order_by(Invoice.number)
    ).all()
    assert {i.period for i in ladadi} >= {"2026-08", "2026-09"}
    assert len({i.release_due for i in ladadi}) == 1
    assert [i.period for i in ladadi] != sorted(i.period for i in ladadi)  # numbers alone would mix them
    _client, html = _start(app, "kasse@ladadi.example")
    by_path = {f"/invoices/{i.id}": i.period for i in ladadi}
    listed = [by_path[h] for k, h, _t in _items(html) if k == "invoice.release"]
    assert listed == sorted(by_path.values())


def test_operator_sees_months_to_close_and_settle_not_a_zero_balance(app, demo):
    client, html = _start(app, "betrieb@kopit.example")
    kinds = {(k, h) for k, h, _t in _items(html)}
    assert ("period.close", "/ledger/periods/2026-10/close") in kinds
    assert ("period.settle", "/settlements?period=2026-09") in kinds
    assert "Saldo Ihres Verrechnungskontos" not in html
    assert client.get("/ledger/periods/2026-10/close").status_code == 200


def test_provider_without_finance_sees_what_it_is_owed(app, demo):
    from marketplace.bookings.models import Booking
    from marketplace.catalogue.models import Service
    from marketplace.ledger.models import Transfer, TransferKind
    from marketplace.members.models import Member
    from marketplace.settlement.receivables import receivables_of

    kdz = db.session.scalar(select(Member).where(Member.name == "KDZ Mainz"))
    client, html = _start(app, "anbieter@kdz-mainz.example")
    rows = receivables_of(kdz.id)
    charged = db.session.scalar(
        select(db.func.sum(Transfer.amount_cents))
        .join(Booking, Booking.id == Transfer.booking_id)
        .join(Service, Service.id == Booking.service_id)
        .where(Transfer.kind == TransferKind.CHARGE, Service.provider_id == kdz.id)
    )
    assert sum(r.net_cents for r in rows) == charged
    page = client.get("/receivables")
    assert page.status_code == 200
    text = page.text.replace("\xa0", " ")
    figure = re.search(r'id="offen">([^<]+)<', text).group(1)
    assert figure == re.search(r'id="forderungen">([^<]+)<', html.replace("\xa0", " ")).group(1)  # start card
    for r in rows:
        assert f'data-buyer="{r.buyer_id}" data-period="{r.period}"' in text
    # another provider's staff see their own receivables only
    _ekom, _ = _start(app, "anbieter@ekom21.example")
    assert "KDZ" not in _ekom.get("/receivables").text.split("<main", 1)[1]
