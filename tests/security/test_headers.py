"""Security headers on every kind of response, and templates that keep working under the CSP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.security.conftest import production_app

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _directives(csp: str) -> dict[str, list[str]]:
    parsed = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


@pytest.mark.parametrize("path", ["/", "/login", "/nicht-vorhanden", "/static/css/app.css", "/api/v1/me", "/healthz"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = _directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no hosts
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin", "no-referrer")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP in development and tests


def test_production_sends_hsts(database_url, monkeypatch):
    app = production_app(database_url, monkeypatch)
    response = app.test_client().get("/login", base_url="https://leistungsboerse.example")
    hsts = response.headers["Strict-Transport-Security"]
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000
    assert "includeSubDomains" in hsts


def test_templates_have_no_inline_script_styles_or_handlers():
    """The CSP blocks these; a template that used them would silently break in the browser."""
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"\son[a-z]+\s*=", r"\sstyle\s*=", r"javascript:"):
            offenders += [f"{path.relative_to(TEMPLATES)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not offenders, offenders
