"""Configuration choices and the schema: migrations are the only way a schema is made."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from config import ConfigurationError, load_config
from marketplace import create_app
from marketplace.extensions import db


def test_production_refuses_to_start_without_secret_key_and_database(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="SECRET_KEY and DATABASE_URL"):
        create_app("production")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        load_config("production")


def test_production_starts_with_both(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    app = create_app("production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SECRET_KEY"] == "s" * 40


def test_unknown_configuration_name_is_refused(monkeypatch):
    monkeypatch.setenv("MARKETPLACE_CONFIG", "staging")
    with pytest.raises(ConfigurationError, match="development, testing, production"):
        load_config()


def test_migrated_schema_equals_the_models(app):
    """`flask db upgrade` from empty yields exactly the models: no pending autogenerate difference."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            # services_fts*: the search index kept by triggers (FTS5 on SQLite, tsvector on PostgreSQL)
            opts={"compare_type": True, "include_name": lambda name, *_: not str(name).startswith("services_fts")},
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_ledger_is_append_only_in_the_database(app, demo):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for statement in (
        "UPDATE postings SET amount_cents = amount_cents + 1",
        "DELETE FROM postings",
        "UPDATE transfers SET description = 'x'",
        "DELETE FROM transfers",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
