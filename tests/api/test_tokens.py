"""Tokens in the profile: create with a name and a scope, shown once, stored hashed, last use, revoke."""

from __future__ import annotations

import re

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.members.models import ApiToken, hash_token
from tests.conftest import csrf_token, login

BUYER = "einkauf@wiesbaden.example"


def _create(client, name: str, scope: str):
    page = client.get("/profile")
    return client.post("/profile/tokens", data={"name": name, "scope": scope, "csrf_token": csrf_token(page.text)})


def _plain(html: str) -> str:
    match = re.search(r'id="token">(lb_[^<]+)<', html)
    assert match, html
    return match.group(1)


def test_create_read_only_token_use_it_and_see_last_use(client, demo):
    login(client, BUYER)
    created = _create(client, "ERP Kämmerei", "read")
    assert created.status_code == 200
    plain = _plain(created.text)
    row = db.session.scalar(select(ApiToken).where(ApiToken.name == "ERP Kämmerei"))
    assert row.read_only and row.token_hash == hash_token(plain) and plain not in (row.token_hash, row.prefix)
    profile = client.get("/profile").text
    assert "ERP Kämmerei" in profile and "noch nie" in profile and plain not in profile

    api = client.application.test_client()
    headers = {"Authorization": f"Bearer {plain}"}
    assert api.get("/api/v1/me", headers=headers).status_code == 200
    denied = api.post("/api/v1/bookings", json={}, headers=headers)
    assert denied.status_code == 403 and denied.mimetype == "application/problem+json"
    assert "noch nie" not in client.get("/profile").text


def test_read_write_token_may_write(client, demo):
    login(client, BUYER)
    plain = _plain(_create(client, "Fachverfahren", "write").text)
    api = client.application.test_client()
    response = api.post("/api/v1/bookings", json={}, headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 422  # got past the scope check to the validation


def test_revoke_makes_the_token_useless(client, demo):
    login(client, BUYER)
    plain = _plain(_create(client, "Alt", "write").text)
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == "Alt"))
    page = client.get("/profile")
    response = client.post(f"/profile/tokens/{token.id}/revoke", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    assert "widerrufen" in client.get("/profile").text
    api = client.application.test_client()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401


def test_nobody_revokes_another_users_token(client, demo, token_for):
    token_for("einkauf@ladadi.example")
    other = db.session.scalar(select(ApiToken).order_by(ApiToken.id.desc()))
    login(client, BUYER)
    page = client.get("/profile")
    response = client.post(f"/profile/tokens/{other.id}/revoke", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(ApiToken, other.id).revoked_at is None


def test_token_needs_a_name(client, demo):
    login(client, BUYER)
    response = _create(client, "", "read")
    assert response.status_code == 422
    assert "Bitte eine Bezeichnung angeben." in response.text


def test_cli_tokens_create_still_prints_the_token_last(app, demo):
    result = app.test_cli_runner().invoke(args=["tokens", "create", BUYER])
    assert result.exit_code == 0
    plain = result.output.strip().splitlines()[-1]
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 200
