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
    from marketplace.monthend.billing import run_billing
    from marketplace.monthend.close import close_period

    def close(period: str, bill: bool = True, reason: str = "") -> None:
        """`reason` closes past usage still in review or disputed (it is billed later)."""
        operator = user("betrieb@kopit.example")
        if bill:
            run_billing(operator, period)
            db.session.commit()
        close_period(operator, period, reason)
        db.session.commit()

    return close


@pytest.fixture
def close_through(close_month: Callable[[str], None]) -> Callable[[str], list[str]]:
    """Bill and close, in order, every month from the demo's first through `period` that is still open
    (whatever the demo data closed already); returns the months it closed."""
    from marketplace.ledger.models import Period, PeriodStatus

    def close(period: str) -> list[str]:
        closed = set(db.session.scalars(select(Period.period).where(Period.status == PeriodStatus.CLOSED)))
        year, month = (int(part) for part in (min(closed) if closed else period).split("-"))
        done = []
        while f"{year:04d}-{month:02d}" <= period:
            current = f"{year:04d}-{month:02d}"
            if current not in closed:  # the demo's first hours of November are still in review
                close_month(current, reason="Verbrauch in Prüfung wird nachberechnet")
                done.append(current)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return done

    return close


@pytest.fixture
def set_today(app: Any) -> Callable[[str], None]:
    def pin(day: str) -> None:
        app.config["MARKETPLACE_TODAY"] = day

    return pin


@pytest.fixture(scope="session")
def einvoice_validator() -> Any:
    """XSD + EN 16931 + German XRechnung rules, compiled once per session."""
    from tests.settlement.einvoice import GERMAN_UBL_XSL, make_validator

    validator = make_validator()
    if validator.german is None:
        import warnings

        warnings.warn(
            f"German XRechnung rules not found at {GERMAN_UBL_XSL}: that layer (BR-DE-*) is skipped; "
            "XSD and EN 16931 still run",
            stacklevel=1,
        )
    return validator


@pytest.fixture
def assert_valid_xrechnung(einvoice_validator: Any) -> Callable[[bytes], None]:
    def check(xml: bytes) -> None:
        errors = einvoice_validator.errors(xml)
        assert errors == {layer: [] for layer in errors}, errors

    return check


@pytest.fixture(autouse=True)
def every_document_is_valid_xrechnung(request: pytest.FixtureRequest) -> Any:
    """After each test that used a database: every invoice and credit note it produced passes all layers."""
    if "app" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("app")  # set up before this fixture's teardown runs, torn down after it
    validator = request.getfixturevalue("einvoice_validator")
    yield
    from marketplace.settlement.models import Invoice
    from marketplace.settlement.xrechnung import render

    db.session.rollback()
    failures = {}
    for invoice in db.session.scalars(select(Invoice).order_by(Invoice.id)):
        errors = validator.errors(render(invoice))
        if any(errors.values()):
            failures[invoice.number] = errors
    assert failures == {}
