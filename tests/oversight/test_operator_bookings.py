"""The operator looks into every booking (pages and API) to settle disputes, filtered by status, provider,
buyer and service, and decides nothing; members still see only their own."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.bookings.models import Booking
from marketplace.catalogue.models import Service
from marketplace.extensions import db
from marketplace.members.models import Member
from tests.conftest import csrf_token, login

OPERATOR = "betrieb@kopit.example"
AUDITOR = "pruefung@kopit.example"
BUYER = "einkauf@wiesbaden.example"


def _client(app, email):
    client = app.test_client()
    login(client, email)
    return client


def _member_id(name):
    return db.session.scalar(select(Member.id).where(Member.name == name))


def _all_bookings():
    return list(db.session.scalars(select(Booking).order_by(Booking.id.desc())))


def test_operator_lists_every_booking_and_filters_by_provider_buyer_and_service(app, demo):
    operator = _client(app, OPERATOR)
    page = operator.get("/bookings?per_page=100")
    assert page.status_code == 200
    bookings = _all_bookings()
    assert len({b.buyer_id for b in bookings}) >= 2
    for booking in bookings:
        assert f'href="/bookings/{booking.id}"' in page.text
    assert "Alle Buchungen" in page.text and 'name="provider_id"' in page.text and 'name="buyer_id"' in page.text

    ekom = _member_id("ekom21")
    wiesbaden = _member_id("Stadt Wiesbaden")
    filtered = operator.get(f"/bookings?as=all&provider_id={ekom}&buyer_id={wiesbaden}&per_page=100")
    expected = [b for b in bookings if b.service.provider_id == ekom and b.buyer_id == wiesbaden]
    assert expected
    for booking in bookings:
        shown = f'href="/bookings/{booking.id}"' in filtered.text
        assert shown == (booking in expected), booking.id

    service_id = expected[0].service_id
    one_service = operator.get(f"/bookings?as=all&service_id={service_id}&per_page=100")
    for booking in bookings:
        assert (f'href="/bookings/{booking.id}"' in one_service.text) == (booking.service_id == service_id)


def test_a_filter_value_the_list_does_not_offer_is_ignored_not_an_error(app, demo):
    operator = _client(app, OPERATOR)
    for query in ("provider_id=abc", "buyer_id=99999999999999", "service_id=-1", "provider_id=999999"):
        page = operator.get(f"/bookings?as=all&{query}")
        assert page.status_code == 200, query


def test_operator_reads_a_booking_with_its_history_but_cannot_decide_it(app, demo):
    operator = _client(app, OPERATOR)
    requested = db.session.scalar(select(Booking).where(Booking.status == "requested"))
    assert requested is not None, "the demo has a request waiting for its provider"
    page = operator.get(f"/bookings/{requested.id}")
    assert page.status_code == 200
    assert "Verlauf und Nachrichten" in page.text
    assert f'action="/bookings/{requested.id}/accept"' not in page.text
    # the buttons are not there, and posting anyway is refused
    other = operator.get("/bookings")
    refused = operator.post(f"/bookings/{requested.id}/accept", data={"csrf_token": csrf_token(other.text)})
    assert refused.status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(Booking, requested.id).status.value == "requested"


def test_members_still_see_only_their_own_bookings(app, demo):
    buyer = _client(app, BUYER)
    wiesbaden = _member_id("Stadt Wiesbaden")
    foreign = db.session.scalar(
        select(Booking).where(Booking.buyer_id != wiesbaden).join(Service).where(Service.provider_id != wiesbaden)
    )
    assert buyer.get(f"/bookings/{foreign.id}").status_code == 404
    page = buyer.get("/bookings?as=all&per_page=100")
    assert page.status_code == 200 and f'href="/bookings/{foreign.id}"' not in page.text
    assert "Alle Buchungen" not in page.text


def test_the_api_lists_all_bookings_for_the_operator_with_filters(app, demo, api_as):
    operator = api_as(OPERATOR)
    bookings = _all_bookings()
    listed = operator.get("/api/v1/bookings?per_page=100")
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["total"] == len(bookings)
    assert {item["id"] for item in body["items"]} == {b.id for b in bookings}
    assert all({"id", "name"} == set(item["provider"]) for item in body["items"])

    kdz = _member_id("KDZ Mainz")
    by_provider = operator.get(f"/api/v1/bookings?as=all&provider_id={kdz}&per_page=100").get_json()
    assert {item["id"] for item in by_provider["items"]} == {b.id for b in bookings if b.service.provider_id == kdz}
    assert all(item["provider"]["id"] == kdz for item in by_provider["items"])

    ladadi = _member_id("Landkreis Darmstadt-Dieburg")
    by_buyer = operator.get(f"/api/v1/bookings?buyer_id={ladadi}&status=active&per_page=100").get_json()
    assert by_buyer["items"] and all(
        item["buyer"]["id"] == ladadi and item["status"] == "active" for item in by_buyer["items"]
    )

    service_id = bookings[0].service_id
    by_service = operator.get(f"/api/v1/bookings?service_id={service_id}&per_page=100").get_json()
    assert {item["id"] for item in by_service["items"]} == {b.id for b in bookings if b.service_id == service_id}

    one = bookings[0]
    assert operator.get(f"/api/v1/bookings/{one.id}").get_json()["id"] == one.id


def test_the_api_refuses_all_bookings_to_a_member_and_bad_filters_name_the_field(app, demo, api_as):
    buyer = api_as(BUYER)
    refused = buyer.get("/api/v1/bookings?as=all")
    assert refused.status_code == 403
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    own = buyer.get("/api/v1/bookings?per_page=100").get_json()
    wiesbaden = _member_id("Stadt Wiesbaden")
    assert own["items"] and all(item["buyer"]["id"] == wiesbaden for item in own["items"])

    bad = api_as(OPERATOR).get("/api/v1/bookings?provider_id=abc")
    assert bad.status_code == 422 and "provider_id" in bad.get_json()["errors"]
    auditor = api_as(AUDITOR).get("/api/v1/bookings?per_page=100")
    assert auditor.status_code == 200 and auditor.get_json()["total"] == len(_all_bookings())
