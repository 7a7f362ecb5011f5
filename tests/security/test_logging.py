"""Production logs: one JSON object per line, with request ids, and no personal data or secrets."""

from __future__ import annotations

import json

from tests.conftest import csrf_token
from tests.security.conftest import production_app

HTTPS = "https://leistungsboerse.example"


def test_production_logs_are_json_without_personal_data(app, demo, database_url, monkeypatch, capsys):
    client = production_app(database_url, monkeypatch).test_client()
    page = client.get("/login", base_url=HTTPS, headers={"X-Request-ID": "proxy-1234abcd"})
    assert page.headers["X-Request-ID"] == "proxy-1234abcd"
    client.post(
        "/login",
        base_url=HTTPS,
        query_string={"next": "/bookings?geheim=1"},
        data={"email": "kasse@wiesbaden.example", "password": "falsches-passwort", "csrf_token": csrf_token(page.text)},
        headers={"Referer": f"{HTTPS}/login", "X-Request-ID": "bad id with spaces"},
        environ_base={"REMOTE_ADDR": "203.0.113.77"},
    )
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    requests = [e for e in entries if e.get("event") == "request"]
    seen = [(e["method"], e["path"], e["status"]) for e in requests]
    assert seen == [("GET", "/login", 200), ("POST", "/login", 422)]
    assert requests[0]["request_id"] == "proxy-1234abcd"
    assert len(requests[1]["request_id"]) == 32  # a malformed incoming id is replaced
    assert all(isinstance(e["duration_ms"], float) for e in requests)
    assert any(e.get("event") == "login_failed" for e in entries)
    text = "\n".join(lines)
    for secret_or_personal in ("kasse@wiesbaden", "falsches-passwort", "203.0.113.77", "geheim", "csrf", "session="):
        assert secret_or_personal not in text


def test_extra_fields_outside_the_allow_list_never_reach_the_log(app, demo, database_url, monkeypatch, capsys):
    production = production_app(database_url, monkeypatch)
    production.logger.warning("token created", extra={"token": "lb_secret_value", "event": "token_created"})
    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert entry["event"] == "token_created"
    assert "lb_secret_value" not in json.dumps(entry)


def test_development_keeps_plain_text_logs(app):
    assert app.config["LOG_FORMAT"] == "text"
