"""Threads against PostgreSQL: each thread its own test client (so its own session and connection) against one
app with a pool wide enough for all of them; a barrier releases them together, an optional delay per call
staggers them by a few milliseconds so that one operation lands inside the other's transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.ledger.models import Account, Period, PeriodStatus, Posting, Transfer
from marketplace.ledger.queries import verify_ledger
from marketplace.members.operations import create_api_token
from marketplace.members.queries import user_by_email
from tests.conftest import csrf_token, login, make_app, seed_once

POOL = 24


@pytest.fixture
def wide_app(database_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The demo one close earlier (August closed, September billed and open: the month the races close) on an
    app whose pool has room for every thread at once (plus the test's own session)."""
    application = make_app(database_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": POOL, "max_overflow": 4})
    with application.app_context():
        import marketplace.seed as seed

        close = seed.close_period
        monkeypatch.setattr(
            seed,
            "close_period",
            lambda actor, period, reason="": close(actor, period, reason) if period == "2026-08" else None,
        )
        seed_once(request, "demo_september_open", seed.seed_demo_data)
        yield application
        db.session.remove()
        db.engine.dispose()


def token(email: str) -> str:
    plain = create_api_token(user_by_email(email), "Parallel-Test")[1]
    db.session.commit()
    return plain


@dataclass(frozen=True)
class Call:
    """One HTTP call of a thread: method, path, JSON body, token, and how long to wait after the barrier."""

    path: str
    token: str = ""
    body: Any = None
    delay: float = 0.0
    method: str = "POST"
    #: For an HTML form instead of the API: who logs in, and the page whose CSRF token the form carries.
    login: str = ""
    form_page: str = ""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


def together(app: Flask, calls: list[Call]) -> list[Answer]:
    """Run every call in its own thread, released together; no thread may raise, hang or get a 500."""
    db.session.remove()  # the test's own transaction must not hold any lock
    barrier = threading.Barrier(len(calls))
    answers: list[Answer | BaseException | None] = [None] * len(calls)

    def worker(index: int, call: Call) -> None:
        client = app.test_client()
        form: dict[str, Any] = {}
        if call.login:  # log in and fetch the form's CSRF token before the start, as a person would have
            login(client, call.login)
            form = {**(call.body or {}), "csrf_token": csrf_token(client.get(call.form_page).text)}
        barrier.wait(timeout=30)
        if call.delay:
            time.sleep(call.delay)
        try:
            if call.login:
                response = client.post(call.path, data=form)
            else:
                response = client.open(
                    call.path, method=call.method, json=call.body, headers={"Authorization": f"Bearer {call.token}"}
                )
            answers[index] = Answer(response.status_code, response.get_json(silent=True))
        except BaseException as exc:  # reported below, with the others
            answers[index] = exc

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a thread hangs (deadlock?)"
    failures = [a for a in answers if not isinstance(a, Answer) or a.status >= 500]
    assert not failures, failures
    return answers  # type: ignore[return-value]


def assert_ledger_whole() -> None:
    """What `flask ledger verify` checks (chain, zero sums, cached balances, total), and the same sums read
    straight from the tables, plus: nothing was posted into a month after that month was closed."""
    db.session.remove()
    report = verify_ledger()
    assert report.ok, report.problems
    assert db.session.scalar(select(func.coalesce(func.sum(Account.balance_cents), 0))) == 0
    per_account = select(Posting.account_id, func.sum(Posting.amount_cents)).group_by(Posting.account_id)
    sums = dict(db.session.execute(per_account).all())
    for account in db.session.scalars(select(Account)):
        assert account.balance_cents == int(sums.get(account.id, 0)), f"account {account.id}"
    late = db.session.execute(
        select(Transfer.id, Transfer.period)
        .join(Period, Period.period == Transfer.period)
        .where(Period.status == PeriodStatus.CLOSED, Transfer.created_at > Period.closed_at)
    ).all()
    assert not late, f"posted into a month after its close: {late}"


def user_id(email: str) -> int:
    return user_by_email(email).id


Calls = Callable[..., list[Call]]
