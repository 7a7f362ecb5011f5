"""On PostgreSQL: billing runs and true-ups of the same plan at the same moment.

The billing run locks the year's open plans before it charges advances, the true-up locks its plan before
it reads the advances: whichever comes second sees the first one's result. So each participant carries
exactly its final share, however the threads interleave, and nothing deadlocks or fails with a 500.
"""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from marketplace.core.errors import Conflict
from marketplace.costsharing import operations as ops
from marketplace.costsharing.models import AllocationKey, CostSharingPlan, TrueUp
from marketplace.extensions import db
from marketplace.ledger.models import Account, Posting, Transfer
from marketplace.members.operations import create_api_token
from tests.conftest import make_app, requires_postgres
from tests.costsharing.conftest import enrol, member, user, verify_ledger
from tests.taxdata import O_TAX

pytestmark = [requires_postgres, pytest.mark.timeout(120)]
THREADS = 8


@pytest.fixture
def wide_app(database_url):
    application = make_app(database_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": THREADS + 4, "max_overflow": 4})
    with application.app_context():
        from marketplace.seed import seed_demo_data

        seed_demo_data()
        db.session.commit()
        yield application
        db.session.remove()
        db.engine.dispose()


def test_billing_runs_and_true_ups_at_once_charge_each_share_exactly_once(wide_app):
    from marketplace.catalogue.models import ServiceStatus, Unit, VatCategory
    from marketplace.catalogue.operations import ServiceInput, create_service
    from marketplace.monthend.billing import run_billing

    kdz = user("anbieter@kdz-mainz.example")
    service = create_service(
        kdz,
        ServiceInput(
            title="Gemeinsames Kommunalnetz",
            description="Netz",
            category="operations",
            unit=Unit.MONTH,
            unit_price=Decimal("0"),
            vat_category=VatCategory.NOT_TAXABLE,
            status=ServiceStatus.PUBLISHED,
            **O_TAX,
        ),
    )
    # the year after the plan's, so it may be trued up; its last two months are the demo's open ones (the demo
    # closed every month up to September 2026, and nothing is charged behind a closed month)
    wide_app.config["MARKETPLACE_TODAY"] = "2027-01-10"
    plan = ops.create_plan(kdz, service, 2026, 1_000_000, AllocationKey.EQUAL)
    for name in ("Stadt Wiesbaden", "Landkreis Darmstadt-Dieburg", "ekom21"):
        enrol(kdz, plan, member(name), date(2026, 11, 1))  # two months keep the test short
    db.session.commit()
    run_billing(user("betrieb@kopit.example"), "2026-11")
    db.session.commit()
    operator = user("betrieb@kopit.example")
    token = create_api_token(operator, "threads")[1]
    db.session.commit()
    plan_id = plan.id
    db.session.remove()

    barrier = threading.Barrier(THREADS)
    outcomes: list[Any] = [None] * THREADS

    def bill(index: int) -> None:
        client = wide_app.test_client()
        barrier.wait(timeout=30)
        response = client.post(
            "/api/v1/billing-runs", json={"period": "2026-12"}, headers={"Authorization": f"Bearer {token}"}
        )
        outcomes[index] = response.status_code

    def true_up(index: int) -> None:
        with wide_app.app_context():
            target = db.session.get(CostSharingPlan, plan_id)
            provider = user("anbieter@kdz-mainz.example")
            barrier.wait(timeout=30)
            try:
                ops.true_up(provider, target, 1_100_000)
                db.session.commit()
                outcomes[index] = "trued up"
            except Conflict:
                db.session.rollback()
                outcomes[index] = "conflict"
            except Exception as exc:  # reported by the assertion below
                outcomes[index] = repr(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=true_up if i % 4 == 0 else bill, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a thread hangs (deadlock?)"
    assert outcomes.count("trued up") == 1 and outcomes.count("conflict") == 1, outcomes
    assert all(code in (200, 201) for code in outcomes if isinstance(code, int)), outcomes

    entries = db.session.scalars(select(TrueUp).where(TrueUp.plan_id == plan_id)).all()
    assert sum(e.final_cents for e in entries) == 1_100_000
    for entry in entries:
        carried = db.session.scalar(
            select(func.sum(Posting.amount_cents))
            .join(Transfer, Transfer.id == Posting.transfer_id)
            .join(Account, Account.id == Posting.account_id)
            .where(
                Account.member_id == entry.member_id,
                (Transfer.idempotency_key.like(f"advance:{plan_id}:%"))
                | (Transfer.idempotency_key.like(f"trueup:{plan_id}:%")),
            )
        )
        assert -carried == entry.final_cents
    verify_ledger()
