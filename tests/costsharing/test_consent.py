"""Joining a cost-sharing plan is an invitation the member's staff accept or decline: nothing is charged
before acceptance, the key is applied over those who accepted, members already in and the operator are not
offered, and the invitation is on the member's start page and in its e-mail."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from marketplace.core.errors import Conflict, PermissionDenied
from marketplace.costsharing import operations as ops
from marketplace.costsharing.models import Advance, AllocationKey, ParticipantState
from marketplace.costsharing.queries import expected_share, share_rows
from marketplace.extensions import db
from marketplace.notifications.models import NotificationKind, OutboxMessage
from tests.conftest import csrf_token, login
from tests.costsharing.conftest import accept, member, user

KDZ = "anbieter@kdz-mainz.example"


@pytest.fixture
def plan(app, demo, shared_service):
    """120.000,00 € a year shared equally; Wiesbaden and the Landkreis invited from 1 January 2026."""
    plan = ops.create_plan(user(KDZ), shared_service(), 2026, 12_000_000, AllocationKey.EQUAL)
    ops.add_participant(user(KDZ), plan, member("Stadt Wiesbaden"), date(2026, 1, 1))
    ops.add_participant(user(KDZ), plan, member("Landkreis Darmstadt-Dieburg"), date(2026, 1, 1))
    db.session.commit()
    return plan


def _advances(member_name: str) -> list[Advance]:
    return list(db.session.scalars(select(Advance).where(Advance.member_id == member(member_name).id)))


def test_nothing_is_charged_before_acceptance(plan, bill):
    assert all(p.state is ParticipantState.INVITED for p in plan.participants)
    assert share_rows(plan) == []
    bill("2026-10")
    assert _advances("Stadt Wiesbaden") == [] and _advances("Landkreis Darmstadt-Dieburg") == []
    accept(plan, "Stadt Wiesbaden")
    db.session.commit()
    bill("2026-11")
    assert [(a.period, a.amount_cents) for a in _advances("Stadt Wiesbaden")] == [("2026-11", 1_000_000)]
    assert _advances("Landkreis Darmstadt-Dieburg") == []  # still only invited


def test_shares_are_recomputed_over_those_who_accept_or_decline(plan):
    wiesbaden = plan.participant_of(member("Stadt Wiesbaden").id)
    landkreis = plan.participant_of(member("Landkreis Darmstadt-Dieburg").id)
    # alone with nobody accepted yet: Wiesbaden would carry the whole 120.000,00 €
    assert expected_share(plan, wiesbaden) == (pytest.approx(100), 12_000_000)
    accept(plan, "Stadt Wiesbaden")
    assert [r.planned_cents for r in share_rows(plan)] == [12_000_000]
    # the Landkreis is shown what it would carry with Wiesbaden: half
    assert expected_share(plan, landkreis)[1] == 6_000_000
    accept(plan, "Landkreis Darmstadt-Dieburg")
    assert sorted(r.planned_cents for r in share_rows(plan)) == [6_000_000, 6_000_000]


def test_declining_charges_nothing_and_leaves_the_others_the_whole_cost(plan, bill):
    from marketplace.costsharing.operations import decline_invitation

    accept(plan, "Stadt Wiesbaden")
    landkreis = plan.participant_of(member("Landkreis Darmstadt-Dieburg").id)
    decline_invitation(user("einkauf@ladadi.example"), landkreis)
    db.session.commit()
    assert [r.participant.member.name for r in share_rows(plan)] == ["Stadt Wiesbaden"]
    bill("2026-11")
    assert _advances("Landkreis Darmstadt-Dieburg") == []
    with pytest.raises(Conflict, match="bereits beantwortet"):
        ops.accept_invitation(user("einkauf@ladadi.example"), landkreis)
    # invited again, it may accept after all
    ops.add_participant(user(KDZ), plan, member("Landkreis Darmstadt-Dieburg"), date(2026, 6, 1))
    assert landkreis.state is ParticipantState.INVITED


def test_only_the_invited_members_staff_answer(plan):
    wiesbaden = plan.participant_of(member("Stadt Wiesbaden").id)
    for outsider in (KDZ, "einkauf@ladadi.example", "betrieb@kopit.example"):
        with pytest.raises(PermissionDenied):
            ops.accept_invitation(user(outsider), wiesbaden)
    with pytest.raises(Conflict, match="bereits eingeladen"):
        ops.add_participant(user(KDZ), plan, member("Stadt Wiesbaden"), date(2026, 2, 1))
    with pytest.raises(Conflict, match="Betreiber"):
        ops.add_participant(user(KDZ), plan, member("KOPIT eG"), date(2026, 2, 1))


def test_the_member_is_told_and_answers_from_its_start_page(app, plan):
    mails = list(
        db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == NotificationKind.BILLING,
                OutboxMessage.subject.like("Einladung zur Kostenteilung%"),
            )
        )
    )
    to_wiesbaden = [m for m in mails if m.recipient.endswith("@wiesbaden.example")]
    assert {m.recipient for m in to_wiesbaden} == {"einkauf@wiesbaden.example", "kasse@wiesbaden.example"}
    body = to_wiesbaden[0].body
    assert "120.000,00 €" in body or "60.000,00 €" in body or re.search(r"\d+\.\d{3},\d{2} €", body), body
    assert re.search(rf"https?://\S+/cost-sharing/{plan.id}\b", body)

    client = app.test_client()
    login(client, "einkauf@wiesbaden.example")
    start = client.get("/").text
    assert 'data-kind="costsharing.invitation"' in start and f'href="/cost-sharing/{plan.id}"' in start
    page = client.get(f"/cost-sharing/{plan.id}")
    text = page.text.replace("\xa0", " ")
    assert "Erwarteter Jahresanteil bei den geplanten Kosten: 120.000,00 € (100,00 %)" in text
    assert "nichts berechnet" in text
    answered = client.post(f"/cost-sharing/{plan.id}/invitation/accept", data={"csrf_token": csrf_token(page.text)})
    assert answered.status_code == 302
    db.session.expire_all()
    assert plan.participant_of(member("Stadt Wiesbaden").id).state is ParticipantState.ACCEPTED
    assert 'data-kind="costsharing.invitation"' not in client.get("/").text
    # the Landkreis now sees half
    other = app.test_client()
    login(other, "einkauf@ladadi.example")
    text = other.get(f"/cost-sharing/{plan.id}").text.replace("\xa0", " ")
    assert "Erwarteter Jahresanteil bei den geplanten Kosten: 60.000,00 € (50,00 %)" in text
    # the provider hears the answer
    assert db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.recipient == KDZ, OutboxMessage.subject.like("%zugestimmt"))
    )


def test_a_stranger_cannot_answer_through_the_page(app, plan):
    client = app.test_client()
    login(client, "anbieter@ekom21.example")
    assert client.get(f"/cost-sharing/{plan.id}").status_code == 404
    page = client.get("/")
    response = client.post(f"/cost-sharing/{plan.id}/invitation/accept", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 404
