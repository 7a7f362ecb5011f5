"""Row locks whose rows are read under the lock.

`SELECT ... FOR UPDATE` waits for the rows, but SQLAlchemy's identity map hands back an object the session
loaded before unchanged: a status or balance checked after the lock would be the one from before another
transaction committed. Every lock in this code base goes through `locked()`, which also refreshes such
objects (``populate_existing``), so whatever a write checks or updates after its lock is current.

On SQLite (no FOR UPDATE) every write transaction starts with ``BEGIN IMMEDIATE`` (see extensions.py), so
writers run one at a time and the refresh is harmless.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

T = TypeVar("T", bound=Any)


def locked(statement: Select[T], *of: Any, skip_locked: bool = False, read: bool = False) -> Select[T]:
    """`statement` as ``SELECT ... FOR UPDATE [OF of]`` that replaces what the session holds of its rows.

    `skip_locked` for queues (each worker takes other rows), `read` for a shared lock (``FOR SHARE``).
    """
    return statement.with_for_update(of=list(of) or None, skip_locked=skip_locked, read=read).execution_options(
        populate_existing=True
    )
