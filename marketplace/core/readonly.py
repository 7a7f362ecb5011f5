"""Requests that only read run without an explicit transaction on PostgreSQL.

psycopg opens every transaction with a BEGIN round trip of its own and Flask-SQLAlchemy ends it with a
ROLLBACK: two of the four round trips of a cached catalogue search. Under PostgreSQL's READ COMMITTED each
statement sees what was committed before it began, inside a transaction or not, so a request that only
reads gets the same answers without one. Views opt in with `@reads_only` (the catalogue search and its API
twin); a single-statement write such as an API token's "last used" stamp still commits on its own. The
connection goes back to the pool with its usual isolation level. SQLite keeps its transactions: there
every one is a BEGIN IMMEDIATE (marketplace/extensions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, request

from marketplace.extensions import db

View = TypeVar("View", bound=Callable[..., object])
_MARK = "reads_only"


def reads_only(view: View) -> View:
    """Mark a view (as registered, i.e. outermost below the route) as one whose GET requests only read."""
    setattr(view, _MARK, True)
    return view


def init_app(app: Flask) -> None:
    @app.before_request
    def read_without_transaction() -> None:
        if request.method not in ("GET", "HEAD") or request.endpoint is None:
            return
        view = app.view_functions.get(request.endpoint)
        if not getattr(view, _MARK, False) or db.engine.dialect.name != "postgresql":
            return
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
