"""Settlements created at the same moment on PostgreSQL, through the HTTP API: a document is covered by one
settlement only, and every settlement that was made still adds up (positions = their documents =
instructions), whichever request came first."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.members.queries import user_by_email
from marketplace.monthend.close import close_period
from marketplace.settlement.models import Invoice, PaymentAdvice, Settlement, SettlementDocument
from tests.concurrency.conftest import Call, assert_ledger_whole, together, token
from tests.conftest import release_invoices, requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.timeout(180)]

OPERATOR, SECOND = "betrieb@kopit.example", "pruefung@kopit.example"


def close_september() -> None:
    from marketplace.ledger.models import Period, PeriodStatus

    september = db.session.get(Period, "2026-09")
    if september is None or september.status is not PeriodStatus.CLOSED:
        close_period(user_by_email(OPERATOR), "2026-09")  # the demo billed September already
        db.session.commit()


def assert_each_document_settled_once_and_every_settlement_adds_up() -> None:
    db.session.remove()
    rows = db.session.scalar(select(func.count()).select_from(SettlementDocument))
    distinct = db.session.scalar(select(func.count(func.distinct(SettlementDocument.invoice_id))))
    assert rows == distinct, "a document is in two settlements"
    for settlement in db.session.scalars(select(Settlement)):
        sums: dict[int, int] = defaultdict(int)
        for document in db.session.scalars(
            select(SettlementDocument).where(SettlementDocument.settlement_id == settlement.id)
        ):
            sums[document.invoice.provider_id] += document.provider_amount_cents
            sums[document.invoice.buyer_id] -= document.provider_amount_cents
        advices = {a.member_id: a.position_cents for a in settlement.advices}
        assert advices == dict(sums)
        assert {p.member_id: p.amount_cents for p in settlement.positions} == {m: a for m, a in sums.items() if a}
        net: dict[int, int] = defaultdict(int)
        for instruction in settlement.instructions:
            net[instruction.creditor_member_id] += instruction.amount_cents
            net[instruction.debtor_member_id] -= instruction.amount_cents
            assert instruction.debtor_advice.member_id == instruction.debtor_member_id
            assert instruction.creditor_advice.member_id == instruction.creditor_member_id
        assert {m: a for m, a in net.items() if a} == {m: a for m, a in sums.items() if a}
    assert db.session.scalar(select(func.count()).select_from(PaymentAdvice)) == sum(
        len(s.advices) for s in db.session.scalars(select(Settlement))
    )


@pytest.mark.parametrize("delays", [(0, 0), (0, 0.02), (0.02, 0)])
def test_settlements_of_two_months_at_once_never_share_a_document(wide_app, delays):
    close_september()
    release_invoices()
    released = set(db.session.scalars(select(Invoice.id)))
    calls = [
        Call("/api/v1/settlements", token(OPERATOR), {"period": "2026-08"}, delay=delays[0]),
        Call("/api/v1/settlements", token(SECOND), {"period": "2026-09"}, delay=delays[1]),
    ]
    august, september = together(wide_app, calls)
    assert september.status == 201, september.body
    # August either came first (and September took the rest) or found its documents taken by September
    assert august.status in (201, 409), august.body
    assert_each_document_settled_once_and_every_settlement_adds_up()
    assert set(db.session.scalars(select(SettlementDocument.invoice_id))) == released
    if august.status == 201:
        assert {d["invoice_id"] for d in _documents(august.body)} <= set(
            db.session.scalars(select(Invoice.id).where(Invoice.period == "2026-08"))
        )
    assert_ledger_whole()


def test_the_same_month_settled_by_several_operators_at_once_is_settled_once(wide_app):
    close_september()
    release_invoices()
    calls = [Call("/api/v1/settlements", token(email), {"period": "2026-09"}) for email in (OPERATOR, SECOND) * 3]
    answers = together(wide_app, calls)
    assert Counter(a.status for a in answers) == {201: 1, 409: 5}, [a.body for a in answers]
    assert_each_document_settled_once_and_every_settlement_adds_up()
    assert_ledger_whole()


def _documents(settlement: dict) -> list[dict]:
    db.session.remove()
    found = db.session.get(Settlement, settlement["id"])
    return [
        {"invoice_id": d.invoice_id}
        for d in db.session.scalars(select(SettlementDocument).where(SettlementDocument.settlement_id == found.id))
    ]
