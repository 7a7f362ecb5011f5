"""Random sequences of publish, request, accept, decline, usage, bill, reverse and close against the real
app (HTTP API) and database; after every step the ledger's invariants must hold.

Invariants checked after each step: all balances sum to 0; every cached balance equals the sum of its
postings; every transfer sums to 0 and its amount is the sum of its positive postings; the hash chain
verifies; replaying the cause of any transfer creates nothing; every booking is charged at most once per
month; nothing was posted into a month after it closed; no capacity is exceeded; no response is a 500.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, precondition, rule
from sqlalchemy import func, select

from marketplace.admission import admit_member as create_member
from marketplace.bookings.models import COMMITTED_STATUSES, Booking, UsageRecord
from marketplace.catalogue.models import Service
from marketplace.extensions import db
from marketplace.ledger.models import Account, Period, PeriodStatus, Posting, Transfer
from marketplace.ledger.operations import TransferSpec, post_transfers
from marketplace.ledger.queries import verify_ledger
from marketplace.members.models import MemberKind, Role
from marketplace.members.operations import create_api_token, create_user
from tests.conftest import BACKEND, _reset_postgres, make_app
from tests.taxdata import O_TAX

PERIODS = ["2026-09", "2026-10", "2026-11"]
CLOSABLE = ["2026-09", "2026-10"]
STARTS = [date(2026, 9, 1), date(2026, 9, 17), date(2026, 10, 31), date(2026, 11, 16), date(2026, 11, 30)]
ALLOWED = {200, 201, 409}
#: When usage was entered: long enough before today (2026-11-16) to be deemed accepted, or still in review.
ENTERED = [datetime(2026, 10, 1, 9, tzinfo=UTC), datetime(2026, 11, 10, 9, tzinfo=UTC)]


class LedgerMachine(RuleBasedStateMachine):
    """One fresh database per example; the API is called as each member's users would."""

    template: str = ""  # set by the test: the migrated template (SQLite path or PostgreSQL URL)

    services = Bundle("services")

    @initialize(target=services)
    def fresh_exchange(self) -> object:
        if BACKEND == "postgresql":
            _reset_postgres(self.template)
            url = self.template
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="ledger-sm-")
            path = Path(self.tmpdir) / "db.sqlite"
            shutil.copyfile(self.template, path)
            url = f"sqlite:///{path}"
        self.app = make_app(url)
        self.ctx = self.app.app_context()
        self.ctx.push()
        self.client = self.app.test_client()
        operator = create_member(None, name="Betreiber", kind=MemberKind.OPERATOR, is_operator=True)
        self.tokens: dict[str, str] = {}
        self.members: dict[str, int] = {}
        for key, member, roles in [
            ("finance", operator, [Role.OPERATOR_FINANCE]),
            ("p1", create_member(None, name="Rechenzentrum A", kind=MemberKind.DATA_CENTRE), [Role.PROVIDER]),
            ("p2", create_member(None, name="Rechenzentrum B", kind=MemberKind.DATA_CENTRE), [Role.PROVIDER]),
            ("b1", create_member(None, name="Stadt A", kind=MemberKind.MUNICIPALITY), [Role.BUYER]),
            ("b2", create_member(None, name="Kreis B", kind=MemberKind.COUNTY), [Role.BUYER]),
        ]:
            user = create_user(
                None, member=member, email=f"{key}@test.example", name=key, password="x" * 12, roles=roles
            )
            self.tokens[key] = create_api_token(user, "sm")[1]
            self.members[key] = member.id
        db.session.commit()
        self.reversed: set[int] = set()
        self.closed_at: dict[str, object] = {}
        self.billed: set[str] = set()
        self.provider_of: dict[int, str] = {}
        # some material from the start, so that most sequences reach billing, reversing and closing
        monthly = self.publish("p1", "month", 8900, 3)
        hourly = self.publish("p2", "hour", 9500, None)
        self._accept(self._request(monthly, "b1", 2, date(2026, 9, 1), None))
        hours = self._request(hourly, "b2", 1, date(2026, 9, 17), None)
        self._accept(hours)
        # entered on 1 October: its review period is over, so the first run bills it
        db.session.add(UsageRecord(booking_id=hours, period="2026-09", quantity=Decimal("12.5"), entered_at=ENTERED[0]))
        db.session.commit()
        self._request(monthly, "b2", 1, date(2026, 10, 31), 20)
        self._bill("2026-09")
        return multiple(monthly, hourly)

    def teardown(self) -> None:
        if hasattr(self, "ctx"):
            db.session.remove()
            db.engine.dispose()
            self.ctx.pop()
        if hasattr(self, "tmpdir"):
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def call(self, who: str, path: str, body: object = None) -> tuple[int, dict]:
        db.session.rollback()  # never hold a lock (or SQLite's write lock) while the app works
        response = self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.tokens[who]}"})
        assert response.status_code != 500, response.get_json()
        return response.status_code, response.get_json()

    # --- rules ---------------------------------------------------------------------------------------

    @rule(
        target=services,
        provider=st.sampled_from(["p1", "p2"]),
        unit=st.sampled_from(["month", "hour"]),
        price=st.integers(1, 500_000),
        capacity=st.none() | st.integers(1, 3),
    )
    def publish(self, provider: str, unit: str, price: int, capacity: int | None) -> int:
        status, body = self.call(
            provider,
            "/api/v1/services",
            {
                "title": f"Leistung {price}",
                "category": "hosting",
                "unit": unit,
                "unit_price": f"{Decimal(price) / 100:.2f}",
                "vat_category": "O",
                "capacity": capacity,
                **O_TAX,
            },
        )
        assert status == 201, body
        self.provider_of[body["id"]] = provider
        return body["id"]

    @rule(
        service=services,
        buyer=st.sampled_from(["b1", "b2"]),
        quantity=st.integers(1, 3),
        starts_on=st.sampled_from(STARTS),
        days=st.none() | st.integers(0, 70),
        accept_now=st.booleans(),
    )
    def request(
        self, service: int, buyer: str, quantity: int, starts_on: date, days: int | None, accept_now: bool
    ) -> None:
        booking_id = self._request(service, buyer, quantity, starts_on, days)
        if accept_now:
            self._accept(booking_id)

    def _request(self, service: int, buyer: str, quantity: int, starts_on: date, days: int | None) -> int:
        ends_on = None if days is None else date.fromordinal(starts_on.toordinal() + days)
        if starts_on >= date(2026, 11, 16):
            status, body = self.call(
                buyer,
                "/api/v1/bookings",
                {
                    "service_id": service,
                    "quantity": quantity,
                    "starts_on": starts_on.isoformat(),
                    "ends_on": ends_on.isoformat() if ends_on else None,
                },
            )
            assert status == 201, body
            return body["id"]
        # history: a request made back then (the API refuses past starts, as it should)
        from marketplace.members.models import User
        from marketplace.seed import _past_booking

        db.session.rollback()
        user = db.session.scalar(select(User).where(User.email == f"{buyer}@test.example"))
        booking = _past_booking(user, db.session.get(Service, service), starts_on, quantity, ends_on)
        db.session.commit()
        return booking.id

    def _provider(self, booking_id: int) -> str:
        booking = db.session.get(Booking, booking_id)
        return self.provider_of[booking.service_id]

    def _booking(self, data: st.DataObject) -> int:
        db.session.rollback()
        return data.draw(st.sampled_from(db.session.scalars(select(Booking.id).order_by(Booking.id)).all()))

    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        self._accept(self._booking(data))

    def _accept(self, booking: int) -> None:
        status, body = self.call(self._provider(booking), f"/api/v1/bookings/{booking}/accept")
        assert status in {200, 409}, body

    @rule(data=st.data())
    def decline(self, data: st.DataObject) -> None:
        booking = self._booking(data)
        status, body = self.call(self._provider(booking), f"/api/v1/bookings/{booking}/decline", {})
        assert status in {200, 409}, body

    @rule(
        data=st.data(),
        period=st.sampled_from(PERIODS),
        quantity=st.integers(0, 20_000),
        entered=st.sampled_from(ENTERED),
    )
    def usage(self, data: st.DataObject, period: str, quantity: int, entered: datetime) -> None:
        booking = self._booking(data)
        row = db.session.get(Booking, booking)
        if row.unit is None or row.unit.value == "month" or row.status not in COMMITTED_STATUSES:
            return
        exists = db.session.scalar(
            select(UsageRecord.id).where(UsageRecord.booking_id == booking, UsageRecord.period == period)
        )
        if exists is None:
            db.session.add(
                UsageRecord(booking_id=booking, period=period, quantity=Decimal(quantity) / 4, entered_at=entered)
            )
        db.session.commit()

    @rule(period=st.sampled_from(PERIODS))
    def bill(self, period: str) -> None:
        self._bill(period)

    # the same action twice: swarm testing switches rules off at random, and billing feeds most others
    @rule(period=st.sampled_from(PERIODS))
    def bill_month(self, period: str) -> None:
        self._bill(period)

    def _bill(self, period: str) -> None:
        status, body = self.call("finance", "/api/v1/billing-runs", {"period": period})
        if period in self.closed_at:
            assert status == 409, body
        else:
            assert status == 201, body
            self.billed.add(period)

    @precondition(lambda self: db.session.scalar(select(func.count()).select_from(Transfer)))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        self._reverse(data)

    @precondition(lambda self: db.session.scalar(select(func.count()).select_from(Transfer)))
    @rule(data=st.data())
    def reverse_transfer(self, data: st.DataObject) -> None:
        self._reverse(data)

    def _reverse(self, data: st.DataObject) -> None:
        db.session.rollback()
        rows = db.session.execute(select(Transfer.id, Transfer.kind).order_by(Transfer.id)).all()
        transfer_id, kind = data.draw(st.sampled_from(rows))
        status, body = self.call(
            "finance", f"/api/v1/ledger/transfers/{transfer_id}/reverse", {"reason": "Zufallsstorno"}
        )
        if kind.value != "charge" or transfer_id in self.reversed:  # only charges are reversed by hand
            assert status == 409, body
        else:
            assert status == 201, body
            self.reversed.add(transfer_id)
            assert body["reverses_transfer_id"] == transfer_id

    @rule(period=st.sampled_from(CLOSABLE), reason=st.sampled_from(["", "Verbrauch wird nachberechnet"]))
    def close(self, period: str, reason: str) -> None:
        status, body = self.call("finance", f"/api/v1/periods/{period}/close", {"reason": reason})
        if period in self.closed_at:
            assert status == 409, body
        elif status == 409:
            # refused only with what is outstanding; a reason overrides usage in review and disputes only
            kinds = {item["kind"] for item in body["outstanding"]}
            assert kinds, body
            if reason:
                assert kinds - {"usage_in_review", "usage_disputed"}, body
            if any(p < period and p not in self.closed_at for p in CLOSABLE):
                assert "earlier_month_open" in kinds, body
        else:
            assert status == 200, body
            assert all(p in self.closed_at for p in CLOSABLE if p < period), "closed past an open month"
            self.closed_at[period] = db.session.get(Period, period).closed_at

    # --- invariants ----------------------------------------------------------------------------------

    @invariant()
    def ledger_holds(self) -> None:
        if not hasattr(self, "app"):
            return
        db.session.rollback()
        try:
            assert db.session.scalar(select(func.coalesce(func.sum(Account.balance_cents), 0))) == 0
            sums = dict(
                db.session.execute(
                    select(Posting.account_id, func.sum(Posting.amount_cents)).group_by(Posting.account_id)
                ).all()
            )
            for account_id, cached in db.session.execute(select(Account.id, Account.balance_cents)):
                assert cached == sums.get(account_id, 0), account_id
            unbalanced = db.session.execute(
                select(Posting.transfer_id).group_by(Posting.transfer_id).having(func.sum(Posting.amount_cents) != 0)
            ).all()
            assert not unbalanced
            report = verify_ledger()
            assert report.ok, report.problems
            charge_keys = db.session.scalars(select(Transfer.idempotency_key)).all()
            assert len(charge_keys) == len(set(charge_keys))
            for period, closed_at in self.closed_at.items():
                assert db.session.get(Period, period).status is PeriodStatus.CLOSED
                late = db.session.scalar(
                    select(func.count())
                    .select_from(Transfer)
                    .where(Transfer.period == period, Transfer.created_at > closed_at)
                )
                assert late == 0, period
            for service_id, capacity in db.session.execute(select(Service.id, Service.capacity)):
                if capacity is None:
                    continue
                for day in STARTS:
                    held = db.session.scalar(
                        select(func.coalesce(func.sum(Booking.quantity), 0)).where(
                            Booking.service_id == service_id,
                            Booking.status.in_(COMMITTED_STATUSES),
                            Booking.starts_on <= day,
                            (Booking.ends_on.is_(None)) | (Booking.ends_on >= day),
                        )
                    )
                    assert held <= capacity, (service_id, day)
        finally:
            db.session.rollback()

    @invariant()
    def replaying_any_cause_creates_nothing(self) -> None:
        if not hasattr(self, "app"):
            return
        db.session.rollback()
        try:
            specs = [
                TransferSpec(
                    idempotency_key=t.idempotency_key,
                    kind=t.kind,
                    period=t.period,
                    description=t.description,
                    postings=tuple((p.account_id, p.amount_cents) for p in t.postings),
                    booking_id=t.booking_id,
                    reverses_id=t.reverses_id,
                )
                for t in db.session.scalars(select(Transfer).order_by(Transfer.id))
            ]
            if specs:
                result = post_transfers(specs, None)
                assert result.created == 0
                assert result.replayed == len(specs)
            rerun = sorted(self.billed - set(self.closed_at))
        finally:
            db.session.rollback()
        for period in rerun:
            # a billing run replayed right after itself creates nothing new
            status, first = self.call("finance", "/api/v1/billing-runs", {"period": period})
            assert status == 201, first
            status, second = self.call("finance", "/api/v1/billing-runs", {"period": period})
            assert (status, second["transfers_created"], second["total"]) == (201, 0, "0.00"), second


@pytest.mark.timeout(180)
def test_ledger_state_machine(database_template):
    LedgerMachine.template = database_template
    LedgerMachine.TestCase.settings = settings(
        max_examples=6,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        derandomize=True,
    )
    LedgerMachine.TestCase().runTest()
