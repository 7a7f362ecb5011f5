"""The README's demo logins lead straight to something to do: each person of the table in README.md, logged in
to the demo as `flask seed-demo` creates it, finds a linked to-do of its role on the start page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from marketplace.extensions import db
from tests.conftest import login
from tests.money.test_todos import _items

README = Path(__file__).resolve().parent.parent / "README.md"

#: What each documented login is there to do first, as the README's table says.
FIRST_STEP = {
    "betrieb@kopit.example": "period.close",
    "pruefung@kopit.example": "correction.decide",
    "anbieter@kdz-mainz.example": "booking.request",
    "anbieter@ekom21.example": "usage.disputed",
    "einkauf@wiesbaden.example": "usage.review",
    "kasse@wiesbaden.example": "invoice.release",
    "einkauf@ladadi.example": "usage.review",
    "kasse@ladadi.example": "invoice.release",
}


def readme_logins() -> list[str]:
    return re.findall(r"^\| `([^`]+@[^`]+)` \|", README.read_text(encoding="utf-8"), flags=re.MULTILINE)


def test_the_readme_lists_the_logins_checked_here():
    assert sorted(readme_logins()) == sorted(FIRST_STEP)


@pytest.fixture
def full_demo(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    db.session.remove()


def test_every_demo_login_finds_its_first_step_on_the_start_page(app, full_demo):
    for email, kind in FIRST_STEP.items():
        client = app.test_client()
        login(client, email)
        page = client.get("/")
        items = _items(page.text)
        found = [(k, href) for k, href, _text in items if k == kind]
        assert found, (email, items)
        _kind, href = found[0]
        assert client.get(href.split("#")[0]).status_code == 200, (email, href)
