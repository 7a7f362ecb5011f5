"""Administration through the pages: admitting and suspending members, inviting users and assigning roles,
password reset by e-mail token, and the audit trail for the operator and for a member's own admin."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from marketplace.members.models import Member, Role, User
from marketplace.notifications.models import OutboxMessage
from tests.conftest import csrf_token, login

OPERATOR = "betrieb@kopit.example"


def _client(app, email, password="demo-passwort"):
    client = app.test_client()
    login(client, email, password)
    return client


def _post(client, page_url, action, data):
    page = client.get(page_url)
    assert page.status_code == 200, (page_url, page.status_code)
    return client.post(action, data={**data, "csrf_token": csrf_token(page.text)})


def _member(name) -> Member:
    db.session.expire_all()
    return db.session.scalar(select(Member).where(Member.name == name))


def _link(email) -> str:
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id.desc())
    )
    return re.search(r"http://[^\s]+(/password/set/[\w-]+)", message.body).group(1)


@pytest.fixture
def wiesbaden_admin(app, demo, create_user):
    return create_user(_member("Stadt Wiesbaden"), "it-leitung@wiesbaden.example", [Role.MEMBER_ADMIN])


def test_operator_admits_a_member_whose_admin_accepts_the_invitation(app, demo):
    operator = _client(app, OPERATOR)
    response = _post(
        operator,
        "/admin/members",
        "/admin/members",
        {
            "name": "Stadt Mainz",
            "kind": "municipality",
            "street": "Jockel-Fuchs-Platz 1",
            "postcode": "55116",
            "city": "Mainz",
            "admin_name": "Maria Mainz",
            "admin_email": "it@mainz.example",
        },
    )
    assert response.status_code == 302
    assert _member("Stadt Mainz").active
    link = _link("it@mainz.example")
    newcomer = app.test_client()
    page = newcomer.get(link)
    assert page.status_code == 200
    short = newcomer.post(link, data={"password": "kurz", "confirm": "kurz", "csrf_token": csrf_token(page.text)})
    assert short.status_code == 422 and "10 bis 200 Zeichen" in short.text
    done = newcomer.post(
        link, data={"password": "mainz-passwort-1", "confirm": "mainz-passwort-1", "csrf_token": csrf_token(page.text)}
    )
    assert done.status_code == 302
    admin = _client(app, "it@mainz.example", "mainz-passwort-1")
    assert "Verwaltung" in admin.get("/").text
    assert app.test_client().get(link).status_code == 404  # used once


def test_operator_suspends_a_member_whose_users_can_no_longer_log_in(app, demo):
    operator = _client(app, OPERATOR)
    member = _member("Landkreis Darmstadt-Dieburg")
    response = _post(operator, "/admin/members", f"/admin/members/{member.id}/suspend", {})
    assert response.status_code == 302
    assert not _member("Landkreis Darmstadt-Dieburg").active
    anonymous = app.test_client()
    page = anonymous.get("/login")
    refused = anonymous.post(
        "/login",
        data={"email": "einkauf@ladadi.example", "password": "demo-passwort", "csrf_token": csrf_token(page.text)},
    )
    assert refused.status_code == 422
    _post(operator, "/admin/members", f"/admin/members/{member.id}/admit", {})
    assert _member("Landkreis Darmstadt-Dieburg").active
    actions = [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.member_id == member.id))]
    assert "member.suspended" in actions and "member.admitted" in actions


def test_only_the_operator_manages_members(app, wiesbaden_admin):
    client = _client(app, "it-leitung@wiesbaden.example")
    assert client.get("/admin/members").status_code == 403
    assert _client(app, "einkauf@wiesbaden.example").get("/admin").status_code == 403


def test_member_admin_invites_and_assigns_roles_within_its_own_member(app, wiesbaden_admin):
    client = _client(app, "it-leitung@wiesbaden.example")
    member = _member("Stadt Wiesbaden")
    page_url = f"/admin/members/{member.id}/users"
    response = _post(
        client, page_url, page_url, {"name": "Nora Neu", "email": "Nora@Wiesbaden.example", "roles": ["buyer"]}
    )
    assert response.status_code == 302
    nora = db.session.scalar(select(User).where(User.email == "nora@wiesbaden.example"))
    assert nora.roles == {Role.BUYER} and nora.member_id == member.id
    response = _post(client, page_url, f"/admin/users/{nora.id}/roles", {f"u{nora.id}-roles": ["buyer", "provider"]})
    assert response.status_code == 302
    db.session.expire_all()
    assert nora.roles == {Role.BUYER, Role.PROVIDER}
    # operator roles are not on offer outside the operator; nothing changes
    _post(client, page_url, f"/admin/users/{nora.id}/roles", {f"u{nora.id}-roles": ["operator_finance"]})
    db.session.expire_all()
    assert nora.roles == {Role.BUYER, Role.PROVIDER}
    taken = _post(client, page_url, page_url, {"name": "X", "email": "einkauf@wiesbaden.example", "roles": ["buyer"]})
    assert taken.status_code == 422 and "bereits vergeben" in taken.text
    other = _member("Landkreis Darmstadt-Dieburg")
    assert client.get(f"/admin/members/{other.id}/users").status_code == 404
    ladadi_user = db.session.scalar(select(User).where(User.email == "einkauf@ladadi.example"))
    response = client.post(
        f"/admin/users/{ladadi_user.id}/deactivate", data={"csrf_token": csrf_token(client.get(page_url).text)}
    )
    assert response.status_code == 404


def test_admin_cannot_demote_or_lock_out_themselves(app, wiesbaden_admin):
    client = _client(app, "it-leitung@wiesbaden.example")
    page_url = f"/admin/members/{wiesbaden_admin.member_id}/users"
    response = _post(
        client, page_url, f"/admin/users/{wiesbaden_admin.id}/roles", {f"u{wiesbaden_admin.id}-roles": ["buyer"]}
    )
    assert "Verwaltungsrolle nicht selbst" in client.get(response.headers["Location"]).text
    db.session.expire_all()
    assert Role.MEMBER_ADMIN in db.session.get(User, wiesbaden_admin.id).roles


def test_password_reset_by_email_token(app, demo):
    client = app.test_client()
    page = client.get("/password/forgot")
    for email in ("einkauf@wiesbaden.example", "niemand@nirgends.example"):
        response = client.post("/password/forgot", data={"email": email, "csrf_token": csrf_token(page.text)})
        assert response.status_code == 302  # the same answer for unknown addresses
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == "niemand@nirgends.example")) is None
    link = _link("einkauf@wiesbaden.example")
    page = client.get(link)
    mismatch = client.post(
        link, data={"password": "neues-passwort-1", "confirm": "anderes-passwort", "csrf_token": csrf_token(page.text)}
    )
    assert mismatch.status_code == 422 and "stimmen nicht überein" in mismatch.text
    client.post(
        link, data={"password": "neues-passwort-1", "confirm": "neues-passwort-1", "csrf_token": csrf_token(page.text)}
    )
    _client(app, "einkauf@wiesbaden.example", "neues-passwort-1")
    assert app.test_client().get("/password/set/erfunden").status_code == 404


def test_audit_trail_for_operator_and_own_member_admin(app, wiesbaden_admin, demo):
    operator = _client(app, OPERATOR)
    page = operator.get("/admin/audit?action=service.created&per_page=100")  # the demo has 30+ services
    assert page.status_code == 200 and "service.created" in page.text and "Karl Anbieter" in page.text
    ladadi = _member("Landkreis Darmstadt-Dieburg")
    _post(operator, "/admin/members", f"/admin/members/{ladadi.id}/suspend", {})
    page = operator.get(f"/admin/audit?member_id={ladadi.id}")
    assert "Mitglied gesperrt" in page.text and "member.suspended" in page.text
    assert "<dt>aktiv</dt><dd>ja</dd>" in page.text and "<dt>aktiv</dt><dd>nein</dd>" in page.text  # before, after
    own = _client(app, "it-leitung@wiesbaden.example").get(f"/admin/audit?member_id={ladadi.id}")
    assert own.status_code == 200
    # only its own member's trail, whatever it asks for
    assert '<span class="lb-audit-key">member.suspended</span>' not in own.text
    assert "Stadt Wiesbaden" in own.text or "user.created" in own.text
