"""Real-browser fixtures: the real application served over HTTP, driven by Debian's Chromium.

One server and one browser per session; a fresh browser context (cookies, storage) per test.

The server never shares the database of the other tests, whose PostgreSQL fixture truncates the tables
of the `public` schema before every test:
- SQLite (the default): a migrated, seeded file of its own.
- PostgreSQL (`DATABASE_BACKEND=postgresql`): a schema of its own, `browser`, in the test database,
  selected through the connection's `search_path`; the migrations build it from empty at session start.

The tests skip with a clear message where no Chromium is installed (`apt-get install chromium`).
Screenshots (and the HTML) of failing tests go to `$TEST_ARTIFACTS` (default `test-artifacts/`).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from werkzeug.serving import WSGIRequestHandler, make_server

from marketplace.extensions import db
from tests.conftest import BACKEND, PG_URL, _pg_url, make_app

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
BROWSER_SCHEMA = "browser"
PASSWORD = "demo-passwort"  # the documented demo password of `flask seed-demo`


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if BACKEND == "postgresql":
        if not PG_URL:
            pytest.exit("DATABASE_BACKEND=postgresql needs TEST_DATABASE_URL", returncode=2)
        engine = create_engine(_pg_url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {BROWSER_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {BROWSER_SCHEMA}"))
        engine.dispose()
        separator = "&" if "?" in _pg_url() else "?"
        return f"{_pg_url()}{separator}options=-csearch_path%3D{BROWSER_SCHEMA}"
    return f"sqlite:///{tmp_path_factory.mktemp('browser') / 'browser.db'}"


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The application on a migrated database seeded with the demo data."""
    app = make_app(_database_url(tmp_path_factory))
    with app.app_context():
        upgrade()
        from marketplace.seed import seed_demo_data

        seed_demo_data()
        db.session.commit()
        db.session.remove()
    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@pytest.fixture(scope="session")
def base_url(live_app: Flask) -> Iterator[str]:
    """Serve the app with werkzeug in a background thread on a free port."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    with live_app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's `chromium` (apt-get install chromium) to run")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.skip("Playwright for Python is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _save_artifacts(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:150]
    try:
        page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
        (ARTIFACTS / f"{stem}.html").write_text(page.content(), encoding="utf-8")
    except Exception as error:  # the page may be gone; the test failure itself is what matters
        print(f"could not save the failure screenshot: {error}")


@pytest.fixture
def new_page(browser: Any, base_url: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Factory: a page in a fresh browser context (own cookies).

    Anything the Content-Security-Policy blocks (the browser reports it on the console) fails the test:
    the policy forbids inline scripts and styles, so a template using them would break silently.
    """
    contexts: list[Any] = []
    pages: list[Any] = []
    csp_violations: list[str] = []

    def make(**context_args: Any) -> Any:
        options = {"viewport": {"width": 1280, "height": 900}, "locale": "de-DE", **context_args}
        context = browser.new_context(base_url=base_url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                csp_violations.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )
        pages.append(page)
        return page

    yield make
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for index, page in enumerate(pages):
            _save_artifacts(page, f"{request.node.nodeid}-{index}")
    for context in contexts:
        context.close()
    if csp_violations and report is not None and report.passed:
        pytest.fail("the Content-Security-Policy blocked something:\n" + "\n".join(csp_violations))


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


def login(page: Any, email: str, password: str = PASSWORD) -> None:
    """Log in through the real form, as a person would."""
    page.goto("/login")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def as_user(new_page: Callable[..., Any]) -> Callable[[str], Any]:
    """Factory: a page in a fresh context, logged in as the user with this e-mail."""

    def make(email: str) -> Any:
        page = new_page()
        login(page, email)
        return page

    return make


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if ARTIFACTS.exists() and not any(ARTIFACTS.iterdir()):
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
