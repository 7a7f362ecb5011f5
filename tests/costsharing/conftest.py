"""Fixtures for cost sharing: services shared at cost, plans, members taking part, months billed."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.members.models import Member, User
from tests.taxdata import O_TAX


def user(email: str) -> User:
    found = db.session.scalar(select(User).where(User.email == email))
    assert found is not None, email
    return found


def member(name: str) -> Member:
    found = db.session.scalar(select(Member).where(Member.name == name))
    assert found is not None, name
    return found


def consenting_user(of: Member) -> User:
    """A user of `of` who may answer a cost-sharing invitation (a buyer is made for members without one)."""
    from marketplace.costsharing.models import CONSENTING_ROLES
    from marketplace.members.models import Role
    from marketplace.members.operations import create_user

    for candidate in db.session.scalars(select(User).where(User.member_id == of.id).order_by(User.id)):
        if candidate.has_role(*CONSENTING_ROLES):
            return candidate
    slug = "".join(ch for ch in of.name.lower() if ch.isalnum())
    return create_user(
        None,
        member=of,
        email=f"einkauf@{slug}.example",
        name="Eike Einkauf",
        password="demo-passwort",
        roles=[Role.BUYER],
    )


def accept(plan: Any, name: str) -> Any:
    """The member's staff accept the plan's invitation."""
    from marketplace.costsharing.operations import accept_invitation

    participant = plan.participant_of(member(name).id)
    return accept_invitation(consenting_user(participant.member), participant)


def enrol(actor: User, plan: Any, who: Member, joins_on: Any, **terms: Any) -> Any:
    """The provider invites `who` and its staff accept: the member takes part."""
    from marketplace.costsharing.operations import accept_invitation, add_participant

    participant = add_participant(actor, plan, who, joins_on, **terms)
    return accept_invitation(consenting_user(who), participant)


@pytest.fixture
def shared_service(app: Any) -> Callable[..., Any]:
    """A service its provider runs for a group at cost (price 0 in the catalogue: the plan carries it)."""
    from marketplace.catalogue.models import ServiceStatus, Unit, VatCategory
    from marketplace.catalogue.operations import ServiceInput, create_service

    def make(
        provider_email: str = "anbieter@kdz-mainz.example",
        vat: VatCategory = VatCategory.NOT_TAXABLE,
        title: str = "Gemeinsames Kommunalnetz",
    ) -> Any:
        service = create_service(
            user(provider_email),
            ServiceInput(
                title=title,
                description="Betrieb des gemeinsamen Netzes; die Kosten tragen die Teilnehmer.",
                category="operations",
                unit=Unit.MONTH,
                unit_price=Decimal("0"),
                vat_category=vat,
                status=ServiceStatus.PUBLISHED,
                **(O_TAX if vat is VatCategory.NOT_TAXABLE else {}),
            ),
        )
        db.session.commit()
        return service

    return make


@pytest.fixture
def bill(app: Any) -> Callable[[str], Any]:
    """Run the regular billing run for a month as the operator (one commit)."""
    from marketplace.monthend.billing import run_billing

    def run(period: str) -> Any:
        result = run_billing(user("betrieb@kopit.example"), period)
        db.session.commit()
        return result

    return run


@pytest.fixture
def close(app: Any) -> Callable[[str], None]:
    from marketplace.monthend.close import close_period

    def run(period: str) -> None:
        close_period(user("betrieb@kopit.example"), period)
        db.session.commit()

    return run


def ledger_total() -> int:
    from marketplace.ledger.models import Account

    return db.session.scalar(select(func.coalesce(func.sum(Account.balance_cents), 0)))


def verify_ledger() -> None:
    """The ledger's own verification (chain and cached balances) must pass, and all balances sum to 0."""
    from marketplace.ledger import queries

    report = queries.verify_ledger()
    assert report.ok, report
    assert ledger_total() == 0


@pytest.fixture(scope="session")
def einvoice_validator() -> Any:
    """The settlement's three-layer XRechnung validation (XSD, EN 16931, German rules), compiled once."""
    from tests.settlement.einvoice import make_validator

    return make_validator()


@pytest.fixture
def assert_valid_xrechnung(einvoice_validator: Any) -> Callable[[bytes], None]:
    def check(xml: bytes) -> None:
        errors = einvoice_validator.errors(xml)
        assert errors == {layer: [] for layer in errors}, errors

    return check
