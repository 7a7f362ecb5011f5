"""Admitting a member opens its ledger accounts in the same step (members itself knows no ledger)."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.admission import admit_member
from marketplace.extensions import db
from marketplace.ledger.models import Account, AccountKind
from marketplace.members.models import Member, MemberKind
from marketplace.members.operations import create_member
from tests.conftest import csrf_token, login


def _kinds(member_id: int) -> set[AccountKind]:
    return set(db.session.scalars(select(Account.kind).where(Account.member_id == member_id)))


def test_a_member_is_admitted_with_its_accounts_the_operator_with_bank_and_transit(app):
    town = admit_member(None, name="Gemeinde Musterhausen", kind=MemberKind.MUNICIPALITY)
    operator = admit_member(None, name="Betreiber eG", kind=MemberKind.OPERATOR, is_operator=True)
    assert _kinds(town.id) == {AccountKind.CLEARING}
    assert _kinds(operator.id) == {AccountKind.CLEARING, AccountKind.BANK, AccountKind.IN_TRANSIT}
    assert _kinds(create_member(None, name="Nur Stammdaten", kind=MemberKind.COUNTY).id) == set()


def test_the_admin_page_admits_a_member_with_its_clearing_account(app, demo, client):
    login(client, "betrieb@kopit.example")
    page = client.get("/admin/members")
    created = client.post(
        "/admin/members",
        data={
            "name": "Stadt Mainz",
            "kind": "municipality",
            "street": "Jockel-Fuchs-Platz 1",
            "postcode": "55116",
            "city": "Mainz",
            "csrf_token": csrf_token(page.text),
        },
    )
    assert created.status_code == 302
    member = db.session.scalar(select(Member).where(Member.name == "Stadt Mainz"))
    assert _kinds(member.id) == {AccountKind.CLEARING}
