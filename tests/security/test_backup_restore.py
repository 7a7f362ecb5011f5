"""Backup and restore as docs/OPERATIONS.md describes them: pg_dump a seeded database, restore it into an
empty one, and `flask ledger verify` passes there (hash chain and cached balances intact)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.conftest import requires_postgres

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("members", "users", "services", "bookings", "transfers", "postings", "accounts", "invoices")

pytestmark = requires_postgres


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        existing = {row[0] for row in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))}
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES if t in existing}
    engine.dispose()
    return counts


@pytest.fixture
def empty_database(database_url: str):
    """A fresh database next to the test database, dropped afterwards."""
    source = make_url(database_url)
    name = f"{source.database}_restore"
    admin = create_engine(source.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield source.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.skipif(not shutil.which("pg_dump"), reason="needs pg_dump and pg_restore (postgresql-client)")
def test_dump_restore_into_an_empty_database_and_verify_the_ledger(app, demo, database_url, empty_database, tmp_path):
    from marketplace.extensions import db

    db.session.remove()
    dump = tmp_path / "leistungsboerse.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}", _libpq(database_url)],
        check=True,
        capture_output=True,
    )
    assert dump.stat().st_size > 0
    subprocess.run(
        ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "-d", _libpq(empty_database), str(dump)],
        check=True,
        capture_output=True,
    )

    assert _counts(empty_database) == _counts(database_url)
    assert _counts(empty_database)["transfers"] > 0

    env = {**os.environ, "DATABASE_URL": empty_database, "MARKETPLACE_CONFIG": "development", "PYTHONPATH": str(ROOT)}
    verify = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "ledger", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # The append-only protection came back with the data: a restored posting cannot be changed.
    engine = create_engine(empty_database)
    with pytest.raises(Exception, match=r"(?i)append|not allowed|verboten|ledger"), engine.begin() as conn:
        conn.execute(text("UPDATE postings SET amount_cents = amount_cents + 1"))
    engine.dispose()
