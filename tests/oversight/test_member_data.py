"""Master data invoices need (address, IBAN, Leitweg-ID, VAT id): the operator edits every member's, a member
admin its own; malformed values are named at their fields; every change is in the audit trail; admission
asks for the address."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from marketplace.members.models import Member, Role
from tests.conftest import csrf_token, login

OPERATOR = "betrieb@kopit.example"


def _client(app, email):
    client = app.test_client()
    login(client, email)
    return client


def _member(name) -> Member:
    db.session.expire_all()
    return db.session.scalar(select(Member).where(Member.name == name))


def _form(member: Member, **changes):
    data = {
        name: getattr(member, name) or ""
        for name in ("street", "postcode", "city", "leitweg_id", "vat_id", "tax_number", "iban", "bic")
    }
    data |= {"contact_name": member.contact_name, "contact_email": member.contact_email}
    data["contact_phone"] = member.contact_phone
    return data | changes


def _save(client, member, **changes):
    url = f"/admin/members/{member.id}/data"
    page = client.get(url)
    assert page.status_code == 200
    return client.post(url, data={**_form(member, **changes), "csrf_token": csrf_token(page.text)})


def test_operator_changes_a_members_address_and_iban_and_the_audit_keeps_both_sides(app, demo):
    operator = _client(app, OPERATOR)
    ladadi = _member("Landkreis Darmstadt-Dieburg")
    old_street = ladadi.street
    response = _save(operator, ladadi, street="Jägertorstraße 207", iban="DE44 5001 0517 5407 3249 31")
    assert response.status_code == 302
    assert "Stammdaten" in operator.get(response.headers["Location"]).text
    ladadi = _member("Landkreis Darmstadt-Dieburg")
    assert ladadi.street == "Jägertorstraße 207" and ladadi.iban == "DE44500105175407324931"
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "member.updated", AuditEvent.object_id == ladadi.id)
    )
    assert event.data["before"]["street"] == old_street
    assert event.data["after"] == {"street": "Jägertorstraße 207", "iban": "DE44500105175407324931"}


def test_malformed_identifiers_are_named_at_their_fields_and_nothing_is_saved(app, demo):
    operator = _client(app, OPERATOR)
    wiesbaden = _member("Stadt Wiesbaden")
    before = (wiesbaden.iban, wiesbaden.leitweg_id, wiesbaden.street)
    response = _save(
        operator,
        wiesbaden,
        iban="DE00 1234 5678 9012 3456 78",
        leitweg_id="06414000-LB001-99",
        vat_id="DE123",
        postcode="651",
        street="Marktstraße 1",
    )
    assert response.status_code == 422
    text = response.text
    assert "Die IBAN ist ungültig." in text
    assert "Die Leitweg-ID ist ungültig" in text
    assert "Die USt-IdNr. ist ungültig." in text
    assert "Die Postleitzahl hat genau 5 Ziffern." in text
    assert 'id="iban" ' in text and 'aria-invalid="true"' in text
    wiesbaden = _member("Stadt Wiesbaden")
    assert (wiesbaden.iban, wiesbaden.leitweg_id, wiesbaden.street) == before


def test_an_empty_address_is_refused_because_invoices_need_it(app, demo):
    operator = _client(app, OPERATOR)
    wiesbaden = _member("Stadt Wiesbaden")
    response = _save(operator, wiesbaden, street="  ", city="")
    assert response.status_code == 422
    assert "Bitte Straße und Hausnummer angeben." in response.text
    assert _member("Stadt Wiesbaden").street == wiesbaden.street


def test_a_member_admin_edits_its_own_member_only(app, demo, create_user):
    wiesbaden = _member("Stadt Wiesbaden")
    ladadi = _member("Landkreis Darmstadt-Dieburg")
    create_user(wiesbaden, "it-leitung@wiesbaden.example", [Role.MEMBER_ADMIN])
    admin = _client(app, "it-leitung@wiesbaden.example")
    assert _save(admin, wiesbaden, contact_phone="+49 611 31-0").status_code == 302
    assert _member("Stadt Wiesbaden").contact_phone == "+49 611 31-0"
    assert admin.get(f"/admin/members/{ladadi.id}/data").status_code == 404
    buyer = _client(app, "einkauf@wiesbaden.example")
    assert buyer.get(f"/admin/members/{wiesbaden.id}/data").status_code in (403, 404)


def test_admission_asks_for_the_address_and_checks_the_identifiers(app, demo):
    operator = _client(app, OPERATOR)
    page = operator.get("/admin/members")
    for name in ("street", "postcode", "city", "leitweg_id", "vat_id", "iban"):
        assert f'name="{name}"' in page.text
    token = csrf_token(page.text)
    missing = operator.post("/admin/members", data={"name": "Stadt Mainz", "kind": "municipality", "csrf_token": token})
    assert missing.status_code == 422 and "Bitte Straße und Hausnummer angeben." in missing.text
    bad = operator.post(
        "/admin/members",
        data={
            "name": "Stadt Mainz",
            "kind": "municipality",
            "street": "Jockel-Fuchs-Platz 1",
            "postcode": "55116",
            "city": "Mainz",
            "iban": "DE89370400440532013001",
            "csrf_token": token,
        },
    )
    assert bad.status_code == 422 and "Die IBAN ist ungültig." in bad.text
    assert _member("Stadt Mainz") is None
    good = operator.post(
        "/admin/members",
        data={
            "name": "Stadt Mainz",
            "kind": "municipality",
            "street": "Jockel-Fuchs-Platz 1",
            "postcode": "55116",
            "city": "Mainz",
            "leitweg_id": "07315000-LB001-68",
            "iban": "DE89370400440532013000",
            "csrf_token": token,
        },
    )
    assert good.status_code == 302
    mainz = _member("Stadt Mainz")
    assert (mainz.city, mainz.iban) == ("Mainz", "DE89370400440532013000")
