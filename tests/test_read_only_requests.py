"""The catalogue search runs without an explicit transaction on PostgreSQL, and nothing else does.

Saving psycopg's BEGIN and the closing ROLLBACK is two of a cached search's four round trips. What must
hold: only the views marked `@reads_only` run that way, the pooled connection comes back to the next
request with its transactions, and a single-statement write of such a request (the API token's "last
used" stamp) still lands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from marketplace.extensions import db
from marketplace.members.models import ApiToken
from tests.conftest import BACKEND, login, requires_postgres

BUYER = "einkauf@wiesbaden.example"


@contextmanager
def autocommit_seen() -> Iterator[list[bool]]:
    """Whether each statement executed meanwhile ran on a connection in autocommit mode."""
    seen: list[bool] = []

    def record(conn, _cursor, _statement, _params, _context, _executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append(bool(conn.connection.dbapi_connection.autocommit))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@requires_postgres
def test_search_page_and_api_read_without_transaction(app, demo, api_as):
    client = app.test_client()
    login(client, BUYER)
    api = api_as(BUYER)
    with autocommit_seen() as seen:
        assert client.get("/services?q=server").status_code == 200
    assert seen and all(seen)
    api.get("/api/v1/services?q=server")  # the token's first use stamps it and commits; then it reads only
    with autocommit_seen() as seen:
        assert api.get("/api/v1/services?q=server").status_code == 200
    assert seen and all(seen)


@requires_postgres
def test_other_pages_and_writes_keep_their_transactions(app, demo, api_as):
    client = app.test_client()
    login(client, BUYER)
    client.get("/services?q=server")  # leaves its connection in the pool
    with autocommit_seen() as seen:
        assert client.get("/bookings").status_code == 200
        assert client.get("/services/1").status_code == 200
    assert seen and not any(seen)
    api = api_as(BUYER)
    with autocommit_seen() as seen:
        response = api.post("/api/v1/bookings", json={"service_id": 1, "quantity": 1, "starts_on": "2026-12-01"})
    assert response.status_code == 201, response.get_json()
    assert seen and not any(seen)


@requires_postgres
def test_the_token_stamp_of_a_search_request_is_stored(app, demo, api_as):
    api = api_as(BUYER)
    db.session.execute(ApiToken.__table__.update().values(last_used_at=None))
    db.session.commit()
    assert api.get("/api/v1/services?q=server").status_code == 200
    db.session.expire_all()
    assert all(stamp is not None for stamp in db.session.scalars(select(ApiToken.last_used_at)))


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite only")
def test_sqlite_searches_keep_their_transactions(app, demo):
    """SQLite's transactions are BEGIN IMMEDIATE (extensions.py); the marker must not touch them."""
    client = app.test_client()
    login(client, BUYER)
    statements: list[str] = []
    event.listen(db.engine, "begin", lambda conn: statements.append("begin"))
    assert client.get("/services?q=server").status_code == 200
    assert statements == ["begin"]
