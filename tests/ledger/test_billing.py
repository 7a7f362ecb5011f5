"""Billing in full: pro rata by day for monthly services, metered from usage records, once per booking and
month, from the CLI with a progress bar, in batches, audited."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.core.models import AuditEvent
from marketplace.extensions import db
from marketplace.ledger import operations
from marketplace.ledger.models import Transfer
from marketplace.ledger.queries import verify_ledger
from marketplace.monthend.models import BillingRun


def cli(app, *args):
    db.session.remove()
    return app.test_cli_runner().invoke(args=list(args))


def charge(booking_id: int, period: str) -> int | None:
    return db.session.scalar(
        select(Transfer.amount_cents).where(Transfer.idempotency_key == f"charge:{booking_id}:{period}")
    )


def test_cli_billing_run_charges_each_booking_once(app, demo):
    result = cli(app, "billing", "run", "2026-10", "--as", "betrieb@kopit.example")
    assert result.exit_code == 0, result.output
    assert "Abrechnung 2026-10" in result.output  # the progress bar
    created = int(re.search(r"(\d+) Buchungen erstellt", result.output).group(1))
    assert created >= 6
    # recurring, pro rata by day: the service desk ended on 15 October: 1,450.00 × 15/31 = 701.6129 → 701.61
    assert charge(5, "2026-10") == 70161
    # recurring, whole month: 2 virtual servers at 89.00
    assert charge(4, "2026-10") == 17800
    # metered from usage records: 350 licences at 4.50, 5,120 GB at 0.04, 12.5 hours at 95.00
    assert charge(2, "2026-10") == 157500
    assert charge(3, "2026-10") == 20480
    assert charge(6, "2026-10") == 118750
    again = cli(app, "billing", "run", "2026-10")
    assert again.exit_code == 0, again.output
    assert "0 Buchungen erstellt" in again.output
    runs = db.session.scalars(select(BillingRun).where(BillingRun.period == "2026-10").order_by(BillingRun.id)).all()
    assert [run.transfers_created for run in runs] == [created, 0]
    audits = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "billing.run")).all()
    assert audits[-2].data["period"] == "2026-10" and audits[-2].data["created"] == created
    assert audits[-2].actor_id is not None
    assert verify_ledger().ok


@pytest.mark.parametrize(
    ("period", "message"),
    [("2026-12", "Zukunft"), ("2026-08", "abgeschlossen"), ("2026-13", "JJJJ-MM"), ("Oktober", "JJJJ-MM")],
)
def test_cli_billing_refuses_future_closed_and_malformed_months(app, demo, period, message):
    before = db.session.scalar(select(db.func.count()).select_from(Transfer))
    result = cli(app, "billing", "run", period)
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalar(select(db.func.count()).select_from(Transfer)) == before


def test_cli_billing_unknown_actor(app, demo):
    result = cli(app, "billing", "run", "2026-10", "--as", "niemand@example.org")
    assert result.exit_code != 0
    assert "Kein Benutzer" in result.output


def test_writes_go_in_batches_and_keep_the_chain(app, demo, monkeypatch):
    from marketplace.members.queries import user_by_email
    from marketplace.monthend.billing import run_billing

    monkeypatch.setattr(operations, "WRITE_BATCH", 2)
    seen: list[tuple[int, int]] = []
    run = run_billing(
        user_by_email("betrieb@kopit.example"), "2026-10", progress=lambda n, total: seen.append((n, total))
    )
    db.session.commit()
    assert run.transfers_created >= 6
    assert all(n <= 2 for n, _total in seen)
    assert sum(n for n, _total in seen) == seen[0][1]
    ids = db.session.scalars(select(Transfer.id).order_by(Transfer.id)).all()
    assert ids == list(range(1, len(ids) + 1))  # gap-free chain positions
    assert verify_ledger().ok


def test_billing_run_from_the_api(api_as, demo):
    operator = api_as("betrieb@kopit.example")
    first = operator.post("/api/v1/billing-runs", json={"period": "2026-10"})
    assert first.status_code == 201
    assert first.get_json()["transfers_created"] >= 6
    assert re.match(r"^\d+\.\d{2}$", first.get_json()["total"])
    second = operator.post("/api/v1/billing-runs", json={"period": "2026-10"})
    assert (second.status_code, second.get_json()["transfers_created"], second.get_json()["total"]) == (201, 0, "0.00")
    assert api_as("kasse@wiesbaden.example").post("/api/v1/billing-runs", json={"period": "2026-10"}).status_code == 403
