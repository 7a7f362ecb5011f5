"""Random sequences of the whole month cycle against the real app (HTTP API, each role as itself) and database:
record usage (provider), confirm and dispute it (buyer), resolve the correction cases (operator finance), bill,
close, release or object to invoices (the buyer's member finance), settle and approve (two operator finance
people); with request and accept from the ledger machine, whose setup and invariants this reuses.

After every step, besides the ledger machine's invariants (`verify_ledger()`: chain, zero sums, cached
balances; replaying any cause creates nothing; nothing posted into a closed month):

* money is conserved: all balances sum to 0 and every transfer sums to 0;
* each usage record is billed at most once net of reversals. Its charges are the transfer with the key
  `charge:<booking>:<month>` and, for each correction case about it, `correction:<case>`; each of those
  counts +1, each reversal of one of them -1. "At most once" means that sum is 0 or 1 at every moment: a
  corrected case reverses the old charge before it (re-)charges the corrected quantity, a rejected case
  changes nothing, and no charge is reversed twice. (An objection to a whole invoice opens a case without a
  usage record; its re-charge replaces the invoice's charges, which it reverses, so the same sum over the
  usage record drops to 0 and never exceeds 1.) Across all keys: every transfer is reversed at most once;
* settled amounts equal released documents: every document a settlement lists is a released invoice or a
  credit note (released at issue) of its month or before, in no other settlement; each member's position and
  payment advice is the sum of its documents signed from the member's side (the provider receives the
  amount due, the buyer pays it), so no pending or objected invoice is in any settlement; and every
  document released before a settlement of its month (or a later one) was created is in a settlement;
* no response is a 500; every answer is one the API documents for that call (200/201/409/422).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from sqlalchemy import func, select

from marketplace.bookings.models import COMMITTED_STATUSES, Booking, UsageRecord
from marketplace.corrections.models import CorrectionCase
from marketplace.extensions import db
from marketplace.ledger.models import Transfer
from marketplace.members.models import Member, Role
from marketplace.members.operations import create_api_token, create_user
from marketplace.settlement.models import (
    DocumentType,
    Invoice,
    PaymentAdvice,
    ReleaseStatus,
    Settlement,
    SettlementDocument,
    SettlementPosition,
)
from tests.ledger.test_state_machine import CLOSABLE, PERIODS, LedgerMachine

ANSWERS = {200, 201, 409, 422}


class CycleMachine(LedgerMachine):
    """The ledger machine's exchange and rules, plus the month cycle's roles and steps.

    Hand reversals are left out: the correction cases reverse charges here, and the ledger machine's
    bookkeeping of what may be reversed by hand does not know about them."""

    services = LedgerMachine.services

    @initialize(target=services)
    def fresh_exchange(self) -> object:
        made = LedgerMachine.fresh_exchange(self)
        # the buyers' finance staff, and the operator's second pair of eyes
        for key, member_key, role in [
            ("c1", "b1", Role.MEMBER_FINANCE),
            ("c2", "b2", Role.MEMBER_FINANCE),
            ("second", "finance", Role.OPERATOR_FINANCE),
        ]:
            user = create_user(
                None,
                member=db.session.get(Member, self.members[member_key]),
                email=f"{key}@test.example",
                name=key,
                password="x" * 12,
                roles=[role],
            )
            self.tokens[key] = create_api_token(user, "sm")[1]
        db.session.commit()
        self.cash_of = {self.members["b1"]: "c1", self.members["b2"]: "c2"}
        self.buyer_of = {self.members["b1"]: "b1", self.members["b2"]: "b2"}
        # September is billed: close it, so that its invoices wait for release and it may be settled; and
        # October's hours are recorded (in review until the buyer answers)
        self.close("2026-09", "")
        hours = db.session.scalar(select(UsageRecord.booking_id).order_by(UsageRecord.id))
        status, body = self.answer("p2", f"/api/v1/bookings/{hours}/usage", {"period": "2026-10", "quantity": "7.5"})
        assert status == 201, body
        return made

    # publishing and declining are the ledger machine's business; here they would only dilute the cycle
    def publish(self, *args: object, **kwargs: object) -> int:  # type: ignore[override]
        return LedgerMachine.publish(self, *args, **kwargs)  # type: ignore[arg-type]

    def decline(self, data: st.DataObject) -> None:  # type: ignore[override]
        raise NotImplementedError

    # closing with a reason more often, so that usage still in review does not keep every month open
    @rule(period=st.sampled_from(CLOSABLE))
    def close_month(self, period: str) -> None:
        self.close(period, "Verbrauch wird nachberechnet")

    def answer(self, who: str, path: str, body: object = None) -> tuple[int, dict]:
        status, answered = self.call(who, path, body)
        assert status in ANSWERS, (path, status, answered)
        return status, answered

    # hand reversals: not rules here (see the class docstring)
    def reverse(self, data: st.DataObject) -> None:  # type: ignore[override]
        raise NotImplementedError

    def reverse_transfer(self, data: st.DataObject) -> None:  # type: ignore[override]
        raise NotImplementedError

    # --- usage: the provider records, the buyer confirms or disputes ------------------------------------

    @rule(data=st.data(), period=st.sampled_from(PERIODS), quarters=st.integers(0, 400))
    def usage(self, data: st.DataObject, period: str, quarters: int) -> None:  # type: ignore[override]
        """The provider records (or re-records) a month's usage through the API."""
        booking = self._booking(data)
        row = db.session.get(Booking, booking)
        if row.unit is None or row.unit.value == "month" or row.status not in COMMITTED_STATUSES:
            return
        # a closed month's usage may still be recorded (it is charged in an open month), so 201 or 409 there too
        status, body = self.answer(
            self._provider(booking),
            f"/api/v1/bookings/{booking}/usage",
            {"period": period, "quantity": f"{Decimal(quarters) / 4}"},
        )
        assert status in {201, 409, 422}, body

    def _usage(self, data: st.DataObject) -> tuple[int, str] | None:
        db.session.rollback()
        rows = db.session.execute(
            select(UsageRecord.id, Booking.buyer_id)
            .join(Booking, Booking.id == UsageRecord.booking_id)
            .order_by(UsageRecord.id)
        ).all()
        if not rows:
            return None
        usage_id, buyer_id = data.draw(st.sampled_from(rows))
        return usage_id, self.buyer_of[buyer_id]

    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        picked = self._usage(data)
        if picked is not None:
            status, body = self.answer(picked[1], f"/api/v1/usage/{picked[0]}/confirm")
            assert status in {200, 409}, body

    @rule(data=st.data())
    def dispute(self, data: st.DataObject) -> None:
        picked = self._usage(data)
        if picked is not None:
            status, body = self.answer(picked[1], f"/api/v1/usage/{picked[0]}/dispute", {"reason": "Zu viel"})
            assert status in {200, 201, 409}, body

    # --- corrections: operator finance decides ------------------------------------------------------------

    @precondition(lambda self: db.session.scalar(select(func.count()).select_from(CorrectionCase)))
    @rule(
        data=st.data(),
        decision=st.sampled_from(["corrected", "corrected", "rejected"]),
        quarters=st.none() | st.integers(0, 400),
        cents=st.integers(1, 2_000_000),
    )
    def resolve(self, data: st.DataObject, decision: str, quarters: int | None, cents: int) -> None:
        """Mostly an open case (a decided one must answer 409); usage with a quantity, an invoice with an
        amount, each left out now and then (422 when the case needs it)."""
        db.session.rollback()
        cases = db.session.execute(
            select(CorrectionCase.id, CorrectionCase.usage_record_id, CorrectionCase.status).order_by(CorrectionCase.id)
        ).all()
        open_ = [row for row in cases if row.status.value == "open"]
        case_id, usage_id, _status = data.draw(st.sampled_from(open_ if open_ and data.draw(st.booleans()) else cases))
        body: dict[str, object] = {"decision": decision, "note": "Geprüft"}
        if decision == "corrected" and usage_id is not None and quarters is not None:
            body["quantity"] = f"{Decimal(quarters) / 4}"
        if decision == "corrected" and usage_id is None and data.draw(st.integers(0, 4)):
            body["amount"] = f"{Decimal(cents) / 100:.2f}"
        status, answered = self.answer("finance", f"/api/v1/corrections/{case_id}/resolve", body)
        assert status in {200, 409, 422}, answered

    # the same action twice (swarm testing switches rules off at random): cases should get decided
    @precondition(lambda self: db.session.scalar(select(func.count()).select_from(CorrectionCase)))
    @rule(data=st.data(), quarters=st.integers(0, 400), cents=st.integers(1, 2_000_000))
    def correct(self, data: st.DataObject, quarters: int, cents: int) -> None:
        self.resolve(data, "corrected", quarters, cents)

    # --- invoices: the buyer's member finance releases or objects -----------------------------------------

    def _invoice(self, data: st.DataObject) -> tuple[int, str] | None:
        db.session.rollback()
        rows = db.session.execute(select(Invoice.id, Invoice.buyer_id).order_by(Invoice.id)).all()
        if not rows:
            return None
        invoice_id, buyer_id = data.draw(st.sampled_from(rows))
        return invoice_id, self.cash_of[buyer_id]

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        picked = self._invoice(data)
        if picked is not None:
            status, body = self.answer(picked[1], f"/api/v1/invoices/{picked[0]}/release")
            assert status in {200, 409}, body

    # released more often than objected to, so that settlements carry released documents
    @rule(data=st.data())
    def release_invoice(self, data: st.DataObject) -> None:
        self.release(data)

    @rule(data=st.data())
    def object(self, data: st.DataObject) -> None:
        picked = self._invoice(data)
        if picked is not None:
            status, body = self.answer(picked[1], f"/api/v1/invoices/{picked[0]}/object", {"reason": "Falsch"})
            assert status in {201, 409}, body

    # --- settlements: one operator finance person creates, the other approves ------------------------------

    @rule(period=st.sampled_from(CLOSABLE))
    def settle(self, period: str) -> None:
        status, body = self.answer("finance", "/api/v1/settlements", {"period": period})
        if period not in self.closed_at:
            assert status == 409, body
        if status == 201:
            status, approved = self.answer("second", f"/api/v1/settlements/{body['id']}/approve")
            assert status == 200, approved

    @rule(period=st.sampled_from(CLOSABLE))
    def settle_month(self, period: str) -> None:
        self.settle(period)

    # --- invariants ------------------------------------------------------------------------------------------

    @invariant()
    def each_usage_billed_at_most_once(self) -> None:
        if not hasattr(self, "app"):
            return
        db.session.rollback()
        try:
            transfers = db.session.execute(select(Transfer.id, Transfer.idempotency_key, Transfer.reverses_id)).all()
            key_of = {tid: key for tid, key, _ in transfers}
            reversals: dict[int, int] = {}
            for _tid, _key, reverses in transfers:
                if reverses is not None:
                    reversals[reverses] = reversals.get(reverses, 0) + 1
            assert all(n == 1 for n in reversals.values()), reversals
            live = {key: 1 - reversals.get(tid, 0) for tid, key in key_of.items()}
            cases: dict[int, list[int]] = {}
            for case_id, usage_id in db.session.execute(
                select(CorrectionCase.id, CorrectionCase.usage_record_id).where(
                    CorrectionCase.usage_record_id.is_not(None)
                )
            ):
                cases.setdefault(usage_id, []).append(case_id)
            for usage_id, booking_id, period in db.session.execute(
                select(UsageRecord.id, UsageRecord.booking_id, UsageRecord.period)
            ):
                keys = [f"charge:{booking_id}:{period}"] + [f"correction:{c}" for c in cases.get(usage_id, [])]
                net = sum(live.get(key, 0) for key in keys)
                assert net in {0, 1}, (usage_id, {key: live.get(key) for key in keys})
        finally:
            db.session.rollback()

    @invariant()
    def settled_amounts_are_released_documents(self) -> None:
        if not hasattr(self, "app"):
            return
        db.session.rollback()
        try:
            for settlement in db.session.scalars(select(Settlement).order_by(Settlement.period)):
                due: dict[int, int] = {}
                listed = set()
                for document in db.session.scalars(
                    select(SettlementDocument).where(SettlementDocument.settlement_id == settlement.id)
                ):
                    invoice = document.invoice
                    listed.add(invoice.id)
                    assert invoice.release_status is ReleaseStatus.RELEASED, (settlement.period, invoice.id)
                    assert invoice.period <= settlement.period, (settlement.period, invoice.id)
                    sign = -1 if invoice.type_code is DocumentType.CREDIT_NOTE else 1
                    amount = sign * (invoice.net_cents + invoice.vat_cents - invoice.prepaid_cents)
                    assert document.provider_amount_cents == amount, (settlement.period, invoice.id)
                    due[invoice.provider_id] = due.get(invoice.provider_id, 0) + amount
                    due[invoice.buyer_id] = due.get(invoice.buyer_id, 0) - amount
                positions = dict(
                    db.session.execute(
                        select(SettlementPosition.member_id, SettlementPosition.amount_cents).where(
                            SettlementPosition.settlement_id == settlement.id
                        )
                    ).all()
                )
                assert positions == {m: a for m, a in due.items() if a}, (settlement.period, positions, due)
                advised = dict(
                    db.session.execute(
                        select(PaymentAdvice.member_id, PaymentAdvice.position_cents).where(
                            PaymentAdvice.settlement_id == settlement.id
                        )
                    ).all()
                )
                assert {m: a for m, a in advised.items() if a} == positions, (settlement.period, advised)
            # every document released before a settlement of its month (or a later one) was created is in one
            settled = set(db.session.scalars(select(SettlementDocument.invoice_id)))
            latest = db.session.scalar(select(func.max(Settlement.created_at)))
            if latest is not None:
                for invoice in db.session.scalars(
                    select(Invoice).where(Invoice.release_status == ReleaseStatus.RELEASED)
                ):
                    created = db.session.scalar(
                        select(func.min(Settlement.created_at)).where(Settlement.period >= invoice.period)
                    )
                    released = invoice.release_decided_at or invoice.created_at
                    if created is not None and released < created:
                        assert invoice.id in settled, (invoice.id, invoice.period)
        finally:
            db.session.rollback()


@pytest.mark.timeout(180)
def test_month_cycle_state_machine(database_template):
    CycleMachine.template = database_template
    CycleMachine.TestCase.settings = settings(
        max_examples=10,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
    )
    CycleMachine.TestCase().runTest()
