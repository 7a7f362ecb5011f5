"""Session cookies, session rotation on login, and `next` redirects that never leave the site."""

from __future__ import annotations

from tests.conftest import csrf_token, login
from tests.security.conftest import production_app

HTTPS = "https://leistungsboerse.example"


def _login_response(client, email="einkauf@wiesbaden.example", base_url="http://localhost", **query):
    page = client.get("/login", base_url=base_url)
    return client.post(
        "/login",
        base_url=base_url,
        query_string=query,
        data={"email": email, "password": "demo-passwort", "csrf_token": csrf_token(page.text)},
        headers={"Referer": f"{base_url}/login"},
    )


def test_session_cookie_is_httponly_and_samesite_lax(client, demo):
    cookie = _login_response(client).headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development and tests run on plain HTTP


def test_production_session_cookie_is_secure(app, demo, database_url, monkeypatch):
    production = production_app(database_url, monkeypatch)
    assert production.config["SECRET_KEY"] == "a-long-random-secret-from-the-environment"
    client = production.test_client()
    response = _login_response(client, base_url=HTTPS)
    assert response.status_code == 302, response.text
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_refuses_a_cross_site_form_post_over_https(app, demo, database_url, monkeypatch):
    client = production_app(database_url, monkeypatch).test_client()
    page = client.get("/login", base_url=HTTPS)
    response = client.post(
        "/login",
        base_url=HTTPS,
        data={"email": "einkauf@wiesbaden.example", "password": "demo-passwort", "csrf_token": csrf_token(page.text)},
        headers={"Referer": "https://evil.example/login"},
    )
    assert response.status_code == 400


def test_login_starts_a_fresh_session(client, demo):
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"  # state from before the login must not survive it
    before = client.get_cookie("session").value
    old_token = csrf_token(client.get("/login").text)

    login(client, "einkauf@wiesbaden.example")

    assert client.get_cookie("session").value != before
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("_user_id")
    # A CSRF token from before the login is worthless afterwards.
    response = client.post("/profile", data={"name": "Fachverfahren", "csrf_token": old_token})
    assert response.status_code == 400


def test_login_keeps_the_chosen_language(client, demo):
    client.get("/sprache/en")
    login(client, "einkauf@wiesbaden.example")
    assert 'lang="en"' in client.get("/").text


def test_logout_ends_the_session(client, demo):
    login(client, "einkauf@wiesbaden.example")
    page = client.get("/logout")
    response = client.post("/logout", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    assert client.get("/bookings").status_code == 302  # back to the login


UNSAFE_TARGETS = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "javascript:alert(1)",
    "http:/evil.example",
    "evil.example",
    "",
]


def test_next_never_leaves_the_site(client, demo):
    for target in UNSAFE_TARGETS:
        response = _login_response(client, next=target)
        assert response.status_code == 302
        assert response.headers["Location"] == "/", target
        language = client.get("/sprache/de", query_string={"next": target})
        assert language.headers["Location"] == "/", target
        client.post("/logout", data={"csrf_token": csrf_token(client.get("/logout").text)})


def test_next_to_a_page_of_this_site_is_followed(client, demo):
    response = _login_response(client, next="/bookings?as=buyer")
    assert response.headers["Location"] == "/bookings?as=buyer"


def test_a_session_cookie_expires_after_a_working_day(client, demo, monkeypatch):
    import time as real_time

    from itsdangerous.timed import TimestampSigner

    login(client, "einkauf@wiesbaden.example")
    assert client.get("/bookings").status_code == 200
    later = int(real_time.time()) + 11 * 3600  # the next morning, with the same (perhaps copied) cookie
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
    response = client.get("/bookings")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def _logout(client) -> None:
    page = client.get("/logout")
    assert client.post("/logout", data={"csrf_token": csrf_token(page.text)}).status_code == 302


def _replayed(app, cookie: str, path: str = "/bookings"):
    """Another browser that only has a copy of the cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other.get(path)


def test_a_session_cookie_saved_before_logout_is_refused_after_it(client, demo):
    login(client, "einkauf@wiesbaden.example")
    saved = client.get_cookie("session").value
    assert _replayed(client.application, saved).status_code == 200  # the copy works while the session lives

    _logout(client)

    response = _replayed(client.application, saved)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    # a login afterwards works as ever
    login(client, "einkauf@wiesbaden.example")
    assert client.get("/bookings").status_code == 200


def test_logout_ends_the_sessions_of_the_other_browsers_of_that_user_only(client, demo):
    login(client, "einkauf@wiesbaden.example")
    laptop = client.application.test_client()
    login(laptop, "einkauf@wiesbaden.example")
    colleague = client.application.test_client()
    login(colleague, "kasse@wiesbaden.example")

    _logout(client)

    assert laptop.get("/bookings").status_code == 302
    assert colleague.get("/ledger").status_code == 200


def test_a_new_password_ends_the_sessions_under_the_old_one(client, demo):
    import re

    from sqlalchemy import select

    from marketplace.extensions import db
    from marketplace.notifications.models import OutboxMessage

    login(client, "einkauf@wiesbaden.example")  # say, on a computer someone else has used since
    owner = client.application.test_client()
    page = owner.get("/password/forgot")
    owner.post("/password/forgot", data={"email": "einkauf@wiesbaden.example", "csrf_token": csrf_token(page.text)})
    body = db.session.scalar(
        select(OutboxMessage.body)
        .where(OutboxMessage.recipient == "einkauf@wiesbaden.example")
        .order_by(OutboxMessage.id.desc())
    )
    link = re.search(r"http://[^\s]+(/password/set/[\w-]+)", body).group(1)
    page = owner.get(link)
    response = owner.post(
        link, data={"password": "neues-passwort-1", "confirm": "neues-passwort-1", "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 302

    assert client.get("/bookings").status_code == 302
