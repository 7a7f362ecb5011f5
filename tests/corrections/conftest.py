"""Fixtures of the correction and release tests: the settlement's month close, and every invoice and credit
note a test produces checked as XRechnung (the settlement's fixtures, imported)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from marketplace.ledger.models import Period, PeriodStatus
from marketplace.settlement.models import Invoice
from tests.concurrency.conftest import wide_app  # noqa: F401 - fixture of the race tests
from tests.settlement.conftest import (  # noqa: F401 - fixtures
    close_month,
    einvoice_validator,
    every_document_is_valid_xrechnung,
    set_today,
    user,
)

OPERATOR, SECOND = "betrieb@kopit.example", "pruefung@kopit.example"
KDZ, EKOM = "anbieter@kdz-mainz.example", "anbieter@ekom21.example"
WI_BUYER, WI_CASH = "einkauf@wiesbaden.example", "kasse@wiesbaden.example"
LA_BUYER, LA_CASH = "einkauf@ladadi.example", "kasse@ladadi.example"


@pytest.fixture
def ensure_closed(app: Any, request: pytest.FixtureRequest) -> Any:
    """Bill and close a month unless the demo closed it already."""
    bill_and_close = request.getfixturevalue("close_month")

    def close(period: str) -> None:
        db.session.rollback()
        row = db.session.get(Period, period)
        if row is None or row.status is not PeriodStatus.CLOSED:
            bill_and_close(period)

    return close


def invoices_of(buyer_email: str, period: str, credit_notes: bool = False) -> list[Invoice]:
    db.session.rollback()
    buyer = user(buyer_email).member_id
    return list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.buyer_id == buyer, Invoice.period == period)
            .where(Invoice.credited_invoice_id.is_not(None) if credit_notes else Invoice.credited_invoice_id.is_(None))
            .order_by(Invoice.id)
        )
    )


def audit(action: str, object_id: int | None = None) -> list[AuditEvent]:
    db.session.rollback()
    statement = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    if object_id is not None:
        statement = statement.where(AuditEvent.object_id == object_id)
    return list(db.session.scalars(statement))


def first(items: list[Any]) -> Any:
    assert items, "nothing found"
    return items[0]
