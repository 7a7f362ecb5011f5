"""Ledger test helpers: raw SQL that bypasses the append-only triggers, and shortcuts to ledger state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select, text

from marketplace.extensions import db
from marketplace.ledger.models import Account, Posting, Transfer

LEDGER_TABLES = ("transfers", "postings")


def _sqlite_trigger_sql() -> dict[str, str]:
    rows = db.session.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('transfers', 'postings')")
    )
    return dict(rows.all())


@contextmanager
def triggers_disabled() -> Iterator[None]:
    """Switch the append-only triggers off, as an attacker with table rights could, and back on after.

    PostgreSQL: ``ALTER TABLE ... DISABLE TRIGGER``; SQLite has no such switch, so the triggers are
    dropped and recreated from their stored SQL.
    """
    if db.engine.dialect.name == "postgresql":
        for table in LEDGER_TABLES:
            db.session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
        db.session.commit()
        try:
            yield
        finally:
            db.session.rollback()
            for table in LEDGER_TABLES:
                db.session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only"))
            db.session.commit()
    else:
        saved = _sqlite_trigger_sql()
        assert saved, "no append-only triggers found"
        for name in saved:
            db.session.execute(text(f"DROP TRIGGER {name}"))
        db.session.commit()
        try:
            yield
        finally:
            db.session.rollback()
            for sql in saved.values():
                db.session.execute(text(sql))
            db.session.commit()


def balance_sum() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(Account.balance_cents), 0))))


def transfer_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Transfer)))


def posting_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Posting)))
