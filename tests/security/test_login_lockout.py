"""Login throttling and the temporary lockout after repeated failures, per account and per address."""

from __future__ import annotations

import time

from tests.conftest import csrf_token, make_app

LOCKED = "Zu viele fehlgeschlagene Anmeldeversuche"


def _attempt(client, email: str, password: str, address: str = "192.0.2.10"):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.text)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_account_is_locked_after_five_failures_even_for_the_right_password(client, demo):
    for _ in range(5):
        assert _attempt(client, "betrieb@kopit.example", "geraten").status_code == 422
    response = _attempt(client, "betrieb@kopit.example", "demo-passwort")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert LOCKED in response.text
    assert "Minuten erneut" in response.text
    # The same address may still log in to another account (the address limit is higher).
    assert _attempt(client, "einkauf@wiesbaden.example", "demo-passwort").status_code == 302
    # Another address cannot unlock the account either: the lockout is per account.
    other = client.application.test_client()
    assert _attempt(other, "BETRIEB@kopit.example ", "demo-passwort", address="198.51.100.7").status_code == 429


def test_address_is_locked_after_repeated_failures_over_many_accounts(database_url, demo):
    app = make_app(database_url, LOGIN_LOCKOUT_ADDRESS="3 per 15 minutes")
    client = app.test_client()
    for number in range(3):
        assert _attempt(client, f"geraten{number}@example.org", "geraten").status_code == 422
    response = _attempt(client, "einkauf@wiesbaden.example", "demo-passwort")
    assert response.status_code == 429
    assert LOCKED in response.text
    # Another address is not affected.
    assert _attempt(client, "einkauf@wiesbaden.example", "demo-passwort", address="198.51.100.8").status_code == 302


def test_lockout_ends_after_the_window(database_url, demo):
    app = make_app(database_url, LOGIN_LOCKOUT_ACCOUNT="2 per 2 seconds")
    client = app.test_client()
    for _ in range(2):
        _attempt(client, "kasse@wiesbaden.example", "geraten")
    assert _attempt(client, "kasse@wiesbaden.example", "demo-passwort").status_code == 429
    time.sleep(2.2)
    assert _attempt(client, "kasse@wiesbaden.example", "demo-passwort").status_code == 302


def test_a_successful_login_clears_the_account_counter(client, demo):
    for _ in range(4):
        _attempt(client, "einkauf@ladadi.example", "geraten")
    assert _attempt(client, "einkauf@ladadi.example", "demo-passwort").status_code == 302
    fresh = client.application.test_client()
    for _ in range(4):
        assert _attempt(fresh, "einkauf@ladadi.example", "geraten").status_code == 422


def test_empty_or_invalid_forms_do_not_count_as_failures(client, demo):
    for _ in range(8):
        assert _attempt(client, "betrieb@kopit.example", "").status_code == 422
    assert _attempt(client, "betrieb@kopit.example", "demo-passwort").status_code == 302


def test_login_posts_are_throttled_per_address_with_retry_after(database_url, demo):
    app = make_app(database_url, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    for _ in range(3):
        _attempt(client, "einkauf@wiesbaden.example", "")
    response = _attempt(client, "einkauf@wiesbaden.example", "demo-passwort")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Zu viele Versuche" in response.text


def test_behind_the_reverse_proxy_the_lockout_counts_the_forwarded_client(app, demo, database_url, monkeypatch):
    from tests.security.conftest import production_app

    client = production_app(database_url, monkeypatch, LOGIN_LOCKOUT_ADDRESS="3 per 15 minutes").test_client()
    https = "https://leistungsboerse.example"

    def attempt(forwarded_for: str):
        page = client.get("/login", base_url=https, headers={"X-Forwarded-For": forwarded_for})
        return client.post(
            "/login",
            base_url=https,
            data={"email": "niemand@example.org", "password": "geraten", "csrf_token": csrf_token(page.text)},
            headers={"X-Forwarded-For": forwarded_for, "Referer": f"{https}/login"},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},  # the proxy
        )

    for _ in range(3):
        assert attempt("192.0.2.50").status_code == 422
    assert attempt("192.0.2.50").status_code == 429
    assert attempt("192.0.2.51").status_code == 422  # another client behind the same proxy is not locked out


def test_a_signed_in_user_cannot_reset_another_accounts_failures(client, demo):
    """Someone with an account of its own signs in, guesses at another account from a second browser, and
    posts the login form for that account while signed in (it is redirected, as every signed-in user is):
    the guessing must still run into the lockout; only a login of that account itself forgives failures."""
    guesser = client.application.test_client()
    for _ in range(4):
        assert _attempt(guesser, "betrieb@kopit.example", "geraten").status_code == 422

    signed_in = client.application.test_client()
    assert _attempt(signed_in, "einkauf@wiesbaden.example", "demo-passwort", address="127.0.0.1").status_code == 302
    token = csrf_token(signed_in.get("/profile").text)  # /login redirects a signed-in user away
    for password in ("geraten", "demo-passwort"):
        reset = signed_in.post(
            "/login", data={"email": "betrieb@kopit.example", "password": password, "csrf_token": token}
        )
        assert reset.status_code == 302

    assert _attempt(guesser, "betrieb@kopit.example", "geraten").status_code == 422  # the fifth failure
    locked = _attempt(guesser, "betrieb@kopit.example", "demo-passwort")
    assert locked.status_code == 429
    assert LOCKED in locked.text
