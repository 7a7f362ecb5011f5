"""Closing the same month twice at once (two operators, one click each): one close issues the invoices,
the other is refused; numbers stay gap-free and no charge is invoiced twice."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from marketplace.core.errors import Conflict
from marketplace.extensions import db
from marketplace.monthend.billing import run_billing
from marketplace.monthend.close import close_period
from marketplace.settlement.models import Invoice, InvoiceLine
from tests.settlement.conftest import user


def test_two_closes_at_once_issue_each_invoice_once(app, demo_september_open):
    run_billing(user("betrieb@kopit.example"), "2026-09")
    db.session.commit()
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def close(email: str) -> None:
        barrier.wait(timeout=30)
        with app.app_context():
            try:
                close_period(user(email), "2026-09")
                db.session.commit()
                outcomes.append("closed")
            except Conflict:
                db.session.rollback()
                outcomes.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=close, args=(e,)) for e in ("betrieb@kopit.example", "pruefung@kopit.example")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["closed", "conflict"]
    lines = db.session.scalar(select(func.count()).select_from(InvoiceLine))
    distinct = db.session.scalar(select(func.count(func.distinct(InvoiceLine.transfer_id))))
    assert lines == distinct
    for provider_id in db.session.scalars(select(Invoice.provider_id).distinct()):
        sequences = sorted(db.session.scalars(select(Invoice.sequence).where(Invoice.provider_id == provider_id)))
        assert sequences == list(range(1, len(sequences) + 1))
