"""Fixtures for invoices and settlements: closing months as the operator would, and reading documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.members.models import User


def user(email: str) -> User:
    found = db.session.scalar(select(User).where(User.email == email))
    assert found is not None, email
    return found


@pytest.fixture
def close_month(app: Any) -> Callable[[str], None]:
    """Bill and close a month through the operations the operator's buttons call (one commit each)."""
    from marketplace.ledger.billing import run_billing
    from marketplace.ledger.operations import close_period

    def close(period: str, bill: bool = True) -> None:
        operator = user("betrieb@kopit.example")
        if bill:
            run_billing(period, operator)
            db.session.commit()
        close_period(period, operator)
        db.session.commit()

    return close


@pytest.fixture
def set_today(app: Any) -> Callable[[str], None]:
    def pin(day: str) -> None:
        app.config["MARKETPLACE_TODAY"] = day

    return pin
