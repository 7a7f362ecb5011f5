"""Test fixtures: a migrated database per test (SQLite file copy, or PostgreSQL truncation), clients,
factories and helpers for logging in through the real forms and calling the API with real tokens.

`DATABASE_BACKEND=postgresql` with `TEST_DATABASE_URL` runs the suite on PostgreSQL; the schema is
dropped and rebuilt by the migrations once per run.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from hypothesis import settings
from sqlalchemy import create_engine, text

from marketplace import create_app
from marketplace.catalogue.queries import clear_caches
from marketplace.extensions import db

# Property tests judge results, not speed: a loaded CI machine (two cores, PostgreSQL, a browser) must not
# fail them on Hypothesis's default 200 ms deadline per example.
settings.register_profile("leistungsboerse", deadline=None)
settings.load_profile("leistungsboerse")

#: Tests run on a fixed day, so pro-rata expectations do not depend on the calendar.
TODAY = "2026-11-16"
BACKEND = os.environ.get("DATABASE_BACKEND", "sqlite")
PG_URL = os.environ.get("TEST_DATABASE_URL", "")
KEEP_TABLES = ("alembic_version",)
#: The categories the migrations seed, read once from the freshly migrated PostgreSQL database: each reset
#: truncates the table and puts exactly these rows back, so a test that changes categories cannot leak.
_SEEDED_CATEGORIES: list[dict[str, Any]] | None = None


def _pg_url() -> str:
    url = PG_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own application context, as in production.

    The `app` fixture keeps an application context open for the test body; Flask would otherwise reuse it
    for requests, sharing `g` (e.g. the cached CSRF token) and the database session with the test. The
    test's own transaction is committed first, so that SQLite's write lock is free for the request and the
    test sees the request's writes afterwards. A streamed body is read to its end in here too (`buffered`),
    as a server reads it: outside the test's context, so a generator that needs the request after the view
    returned fails here as it would in production.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        from flask.globals import _cv_app

        if _cv_app.get(None) is not None:
            db.session.commit()
        kwargs["buffered"] = True
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


def make_app(url: str, **overrides: Any) -> Flask:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, MARKETPLACE_TODAY=TODAY, **overrides)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run the migrations once: into a template file (SQLite) or a fresh public schema (PostgreSQL)."""
    if BACKEND == "postgresql":
        if not PG_URL:
            pytest.exit("DATABASE_BACKEND=postgresql needs TEST_DATABASE_URL", returncode=2)
        engine = create_engine(_pg_url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        app = make_app(_pg_url())
        with app.app_context():
            upgrade()
            db.engine.dispose()
        _snapshot_categories(_pg_url())
        return _pg_url()
    path = tmp_path_factory.mktemp("db") / "template.db"
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return str(path)


def _snapshot_categories(url: str) -> list[dict[str, Any]]:
    """The seeded categories as the migrations left them (taken once per session, before any test ran)."""
    global _SEEDED_CATEGORIES
    if _SEEDED_CATEGORIES is None:
        engine = create_engine(url)
        with engine.connect() as conn:
            _SEEDED_CATEGORIES = [dict(row) for row in conn.execute(text("SELECT * FROM categories")).mappings()]
        engine.dispose()
    return _SEEDED_CATEGORIES


def _reset_postgres(url: str) -> None:
    categories = _snapshot_categories(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [
            row[0]
            for row in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            if row[0] not in KEEP_TABLES
        ]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        # The seeded categories with their ids, before the generation row exists: the categories' trigger
        # bumps that row, and the one inserted below is the only one, at 0.
        if categories:
            columns = list(categories[0])
            conn.execute(
                text(
                    f"INSERT INTO categories ({', '.join(columns)}) "
                    f"VALUES ({', '.join(':' + column for column in columns)})"
                ),
                categories,
            )
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('categories', 'id'), (SELECT max(id) FROM categories))")
            )
        conn.execute(
            text("INSERT INTO ledger_head (id, last_transfer_id, last_hash) VALUES (1, 0, :g)"), {"g": "0" * 64}
        )
        # the catalogue's generation row, so the search caches work here as in production
        conn.execute(text("INSERT INTO services_fts_generation (id, generation) VALUES (1, 0)"))
    engine.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    if BACKEND == "postgresql":
        _reset_postgres(database_template)
        return database_template
    target = tmp_path / "test.db"
    shutil.copyfile(database_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    # the search caches are per process and keyed by URL and generation; a reset database repeats both
    clear_caches()
    application = make_app(database_url)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


#: A SEPA debit mandate of the Landkreis held by the operator, for its own account (the demo gives one to
#: Stadt Wiesbaden only; the Landkreis clears).
LADADI_MANDATE = {"mandate_reference": "KOPIT-LB-DA-0001", "mandate_iban": "DE91100000000123456789"}


@pytest.fixture
def every_buyer_debits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both demo buyers pay by the operator's SEPA debit, from the start: the demo fixtures seed after this
    one, so every document the demo issues names the debit (59) and the collection debits every debtor.
    For tests of the collection itself; the plain demo debits Stadt Wiesbaden only."""
    import marketplace.seed as seed
    from marketplace.members.models import PaymentWay

    ladadi = {"payment_way": PaymentWay.DEBIT, **LADADI_MANDATE}
    monkeypatch.setattr(seed, "INVOICE_PROFILES", {**seed.INVOICE_PROFILES, "Landkreis Darmstadt-Dieburg": ladadi})


def _ways(request: pytest.FixtureRequest) -> str:
    """The part of a demo variant's name that says how its buyers pay."""
    return "+every_buyer_debits" if "every_buyer_debits" in request.fixturenames else ""


def _payment_ways(request: pytest.FixtureRequest) -> None:
    """The demo's payment ways as the test asked for them (`every_buyer_debits`), in place before it seeds."""
    if "every_buyer_debits" in request.fixturenames:
        request.getfixturevalue("every_buyer_debits")


# --- the demo, seeded once per variant ----------------------------------------------------------------
# Seeding the demo runs its whole history (billing, closes, releases, settlements): about a second, and most
# tests start from it. Each variant is seeded for real the first time a test asks for it; later tests get a
# copy of that database (the same rows, ids, sequences and hash chain), which is what seeding again on the
# pinned day would give them.
_DEMO_SNAPSHOTS: dict[str, Any] = {}
#: The test whose database holds a demo already: seeding is idempotent, so when a test asks for two variants
#: (e.g. `demo_september_open` and a fixture that needs `demo`), the first one seeded is the one it gets.
_SEEDED_FOR: list[str] = [""]


def seed_once(request: pytest.FixtureRequest, variant: str, seed: Callable[[], None]) -> None:
    """Give the test's database the demo of `variant`, as `seed` makes it (run once per session)."""
    if _SEEDED_FOR[0] == request.node.nodeid:
        return
    _SEEDED_FOR[0] = request.node.nodeid
    snapshot = _DEMO_SNAPSHOTS.get(variant)
    if snapshot is None:
        seed()
        db.session.commit()
        _DEMO_SNAPSHOTS[variant] = _take_snapshot()
    else:
        _restore_snapshot(snapshot)


def _take_snapshot() -> Any:
    if db.engine.dialect.name == "sqlite":
        db.session.remove()
        db.engine.dispose()
        target = Path(tempfile.mkdtemp(prefix="demo-")) / "demo.db"
        shutil.copyfile(str(db.engine.url.database), target)
        return target
    tables: dict[str, bytes] = {}
    with db.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        cursor = raw.cursor()  # type: ignore[union-attr]
        names = [row[0] for row in cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for name in names:
            if name in KEEP_TABLES:
                continue
            with cursor.copy(f'COPY "{name}" TO STDOUT (FORMAT binary)') as copy:
                tables[name] = b"".join(bytes(chunk) for chunk in copy)
        sequences = list(
            cursor.execute(
                "SELECT sequencename, last_value FROM pg_sequences "
                "WHERE schemaname = 'public' AND last_value IS NOT NULL"
            )
        )
        raw.rollback()  # type: ignore[union-attr]
    return tables, sequences


def _restore_snapshot(snapshot: Any) -> None:
    db.session.remove()
    if db.engine.dialect.name == "sqlite":
        db.engine.dispose()
        shutil.copyfile(snapshot, str(db.engine.url.database))
        return
    tables, sequences = snapshot
    with db.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        cursor = raw.cursor()  # type: ignore[union-attr]
        # as a replica: no triggers (search vectors, generations, append-only guards) and no foreign-key
        # checks while the rows go back exactly as they were
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"TRUNCATE {', '.join(f'{chr(34)}{name}{chr(34)}' for name in tables)} CASCADE")
        for name, data in tables.items():
            with cursor.copy(f'COPY "{name}" FROM STDIN (FORMAT binary)') as copy:
                copy.write(data)
        for sequence, value in sequences:
            cursor.execute("SELECT setval(%s, %s, true)", (sequence, value))
        raw.commit()  # type: ignore[union-attr]


@pytest.fixture
def demo(app: Flask, request: pytest.FixtureRequest) -> None:
    """The demo data of `flask seed-demo` (with `every_buyer_debits`: both buyers pay by debit)."""
    from marketplace.seed import seed_demo_data

    _payment_ways(request)
    seed_once(request, f"demo{_ways(request)}", seed_demo_data)


@pytest.fixture
def demo_september_open(app: Flask, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """The demo one close earlier: August billed and closed, September billed but still open (for tests that
    close September themselves; months close in order, so nothing after it is closed either)."""
    import marketplace.seed as seed

    _payment_ways(request)

    close = seed.close_period

    def close_august_only(actor: Any, period: str, reason: str = "") -> Any:
        return close(actor, period, reason) if period == "2026-08" else None

    monkeypatch.setattr(seed, "close_period", close_august_only)
    seed_once(request, f"demo_september_open{_ways(request)}", seed.seed_demo_data)


_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = "demo-passwort") -> None:
    """Log in through the real login form (CSRF token included)."""
    page = client.get("/login")
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(page.text)})
    assert response.status_code == 302, response.text


def post_form(client: FlaskClient, page_url: str, action: str, data: dict[str, Any]) -> Any:
    """Open `page_url`, take its CSRF token and post `data` to `action` (as a browser would)."""
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    return client.post(action, data={**data, "csrf_token": csrf_token(page.text)})


@pytest.fixture
def token_for(app: Flask) -> Callable[[str], str]:
    """A fresh API token for the user with this e-mail."""
    from marketplace.members.operations import create_api_token
    from marketplace.members.queries import user_by_email

    def make(email: str, read_only: bool = False) -> str:
        user = user_by_email(email)
        assert user is not None
        _token, plain = create_api_token(user, "test", read_only=read_only)
        db.session.commit()
        return plain

    return make


class Api:
    """Calls the API as a given token holder."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.post(path, json=json, headers=self.headers, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.patch(path, json=json, headers=self.headers, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.put(path, json=json, headers=self.headers, **kwargs)


@pytest.fixture
def api_as(client: FlaskClient, token_for: Callable[[str], str]) -> Callable[[str], Api]:
    def make(email: str) -> Api:
        return Api(client, token_for(email))

    return make


@pytest.fixture
def create_member(app: Flask) -> Callable[..., Any]:
    """Factory: a member with a clearing account (and users via `create_user`)."""
    from marketplace.admission import admit_member as op
    from marketplace.members.models import MemberKind

    counter = iter(range(1, 10_000))

    def make(name: str | None = None, kind: MemberKind = MemberKind.MUNICIPALITY, **kw: Any) -> Any:
        member = op(None, name=name or f"Gemeinde {next(counter)}", kind=kind, **kw)
        db.session.commit()
        return member

    return make


@pytest.fixture
def create_user(app: Flask) -> Callable[..., Any]:
    from marketplace.members.operations import create_user as op

    def make(member: Any, email: str, roles: list[Any], password: str = "demo-passwort") -> Any:
        user = op(None, member=member, email=email, name=email.split("@")[0], password=password, roles=roles)
        db.session.commit()
        return user

    return make


requires_postgres = pytest.mark.skipif(BACKEND != "postgresql", reason="needs PostgreSQL (TEST_DATABASE_URL)")


@pytest.fixture
def live_server(app: Flask) -> Iterator[Any]:
    """The test's application behind a real HTTP server on a free port (tests/live_server.py): for
    streamed downloads and whatever else the test client cannot show."""
    from tests.live_server import serve

    with serve(app) as server:
        yield server


def release_invoices(period: str | None = None, *, ids: list[int] | None = None, status: str = "released") -> list[int]:
    """The buyers' finance staff release (or, with ``status="objected"``, object to) pending invoices: those of
    `period` (or of every month), or exactly `ids`. Commits; returns the ids it changed.

    A stand-in for the release operation until its pages and API are on main; it sets what that operation
    sets (status, who of the buyer's finance staff decided, when)."""
    from sqlalchemy import select

    from marketplace.core.timeutil import utcnow
    from marketplace.members.models import Role, User
    from marketplace.settlement.models import DocumentType, Invoice, ReleaseStatus

    statement = select(Invoice).where(Invoice.type_code == DocumentType.INVOICE).order_by(Invoice.id)
    if ids is not None:
        statement = statement.where(Invoice.id.in_(ids))
    else:
        statement = statement.where(Invoice.release_status == ReleaseStatus.PENDING)
        if period is not None:
            statement = statement.where(Invoice.period == period)
    changed = []
    for invoice in db.session.scalars(statement):
        finance = next(
            (
                u
                for u in db.session.scalars(select(User).where(User.member_id == invoice.buyer_id))
                if Role.MEMBER_FINANCE in u.roles
            ),
            None,
        )
        invoice.release_status = ReleaseStatus(status)
        invoice.release_decided_at = utcnow()
        invoice.release_decided_by_id = finance.id if finance is not None else None
        if status == ReleaseStatus.OBJECTED:
            invoice.objection_reason = "Leistung nicht wie berechnet erbracht."
        changed.append(invoice.id)
    db.session.commit()
    return changed
