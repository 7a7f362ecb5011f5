"""Buyers see the invoices their member received, provider staff those it issued, read-only, without the
finance role; another member's invoice is 404 on the pages and in the API."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.members.models import Member
from marketplace.settlement.models import Invoice
from tests.conftest import login


def _member_id(name: str) -> int:
    return db.session.scalar(select(Member.id).where(Member.name == name))


def _invoices(**where) -> list[Invoice]:
    statement = select(Invoice)
    for column, value in where.items():
        statement = statement.where(getattr(Invoice, column) == value)
    return list(db.session.scalars(statement))


def test_buyer_lists_exactly_its_members_received_invoices(api_as, demo):
    wiesbaden, ladadi = _member_id("Stadt Wiesbaden"), _member_id("Landkreis Darmstadt-Dieburg")
    own = {i.id for i in _invoices(buyer_id=wiesbaden)}
    others = {i.id for i in _invoices(buyer_id=ladadi)}
    assert own and others
    response = api_as("einkauf@wiesbaden.example").get("/api/v1/invoices")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert {item["id"] for item in response.get_json()["items"]} == own
    buyer = api_as("einkauf@wiesbaden.example")
    other = next(iter(others))
    assert buyer.get(f"/api/v1/invoices/{other}/xrechnung").status_code == 404
    assert buyer.get(f"/api/v1/invoices/{next(iter(own))}/xrechnung").status_code == 200


def test_provider_staff_list_the_invoices_their_member_issued(api_as, demo):
    kdz = _member_id("KDZ Mainz")
    issued = {i.id for i in _invoices(provider_id=kdz)}
    body = api_as("anbieter@kdz-mainz.example").get("/api/v1/invoices").get_json()
    assert {item["id"] for item in body["items"]} == issued
    ekom = {item["id"] for item in api_as("anbieter@ekom21.example").get("/api/v1/invoices").get_json()["items"]}
    assert not ekom & issued


def test_buyer_pages_show_own_invoices_and_404_for_others(app, demo):
    wiesbaden, ladadi = _member_id("Stadt Wiesbaden"), _member_id("Landkreis Darmstadt-Dieburg")
    own = _invoices(buyer_id=wiesbaden)[0]
    other = _invoices(buyer_id=ladadi)[0]
    client = app.test_client()
    login(client, "einkauf@wiesbaden.example")
    listing = client.get("/invoices")
    assert listing.status_code == 200 and own.number in listing.text and f'/invoices/{other.id}"' not in listing.text
    assert client.get(f"/invoices/{own.id}").status_code == 200
    assert client.get(f"/invoices/{other.id}").status_code == 404
    assert client.get(f"/invoices/{other.id}/xrechnung").status_code == 404
    # read-only: nothing on the page writes
    assert "<form" not in client.get(f"/invoices/{own.id}").text.split("<main", 1)[1].split("</main>", 1)[0]


def test_users_without_a_buying_providing_or_finance_role_see_no_invoices(api_as, demo, app):
    from marketplace.members.models import Role, User
    from marketplace.members.operations import create_user

    admin = create_user(
        None,
        member=db.session.get(Member, _member_id("Stadt Wiesbaden")),
        email="admin@wiesbaden.example",
        name="Ada Admin",
        password="demo-passwort",
        roles=[Role.MEMBER_ADMIN],
    )
    assert isinstance(admin, User)
    db.session.commit()
    assert api_as("admin@wiesbaden.example").get("/api/v1/invoices").status_code == 403
