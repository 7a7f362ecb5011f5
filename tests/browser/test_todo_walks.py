"""Each role's start page is a to-do list: walked in Chromium to the action and back, the money shown on the
booking, receivables and invoice pages checked against the ledger to the cent, and every new page checked
with axe at 1280 and 390 pixels wide."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from tests.browser.conftest import login
from tests.browser.test_accessibility import axe_violations
from tests.conftest import release_invoices

pytestmark = pytest.mark.browser

WIDTHS = (1280, 390)


def axe_at_both_widths(page) -> list[str]:
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        found += [f"[{width}px] {v}" for v in axe_violations(page)]
    page.set_viewport_size({"width": 1280, "height": 900})
    return found


def todos(page) -> list[tuple[str, str, str]]:
    """(kind, href, text) of the start page's to-dos."""
    page.goto("/")
    items = page.locator("#todos li.lb-todo")
    return [
        (
            item.get_attribute("data-kind"),
            item.locator("a").get_attribute("href"),
            item.locator("a").inner_text(),
        )
        for item in items.all()
    ]


def _cents(text: str) -> int:
    cleaned = text.replace("\xa0", "").replace("€", "").replace(".", "").replace("\u2212", "-").strip()
    sign = -1 if cleaned.startswith("-") else 1
    euros, _sep, cents = cleaned.lstrip("-").partition(",")
    return sign * (int(euros or 0) * 100 + int((cents or "0").ljust(2, "0")))


@pytest.mark.parametrize(
    ("email", "kind"),
    [
        ("anbieter@kdz-mainz.example", "booking.request"),
        ("einkauf@wiesbaden.example", None),
        ("kasse@wiesbaden.example", None),
        ("betrieb@kopit.example", None),
    ],
    ids=["provider", "buyer", "member-finance", "operator"],
)
def test_each_role_walks_its_todos_to_the_action_and_back(new_page, email, kind):
    page = new_page()
    login(page, email)
    page.goto("/")
    violations = axe_at_both_widths(page)
    items = todos(page)
    if kind is not None:
        assert any(k == kind for k, _h, _t in items), items
    for item_kind, href, text in items[:4]:
        page.goto("/")
        page.get_by_role("link", name=text, exact=True).first.click()
        page.wait_for_load_state()
        assert urlpath(page.url) == urlpath(href), (item_kind, page.url, href)
        assert page.locator("h1").count() == 1
        violations += axe_at_both_widths(page)
        page.go_back()
        page.wait_for_load_state()
        assert page.locator("#todo-heading").is_visible()
    assert not violations, "\n".join(violations)


GERMAN_MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli")
GERMAN_MONTHS += ("August", "September", "Oktober", "November", "Dezember")


def month_label_de(period: str) -> str:
    """ "2026-09" as the pages write it: "September 2026"."""
    year, month = period.split("-")
    return f"{GERMAN_MONTHS[int(month) - 1]} {year}"


def urlpath(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url).split("#")[0].split("?")[0]


def test_second_approver_finds_the_settlement_on_the_start_page(new_page, live_app):
    operator = new_page()
    login(operator, "betrieb@kopit.example")
    items = todos(operator)
    if any(kind == "period.awaiting_release" for kind, _h, _t in items):
        # a closed month whose invoices the buyers have not certified yet is no month to settle: the to-do
        # leads to the releases; once the buyers' finance staff released them, the month is to settle
        assert all(h == "/releases" for k, h, _t in items if k == "period.awaiting_release"), items
        with live_app.app_context():
            release_invoices()
            db.session.remove()
        items = todos(operator)
        assert not any(kind == "period.awaiting_release" for kind, _h, _t in items), items
    # the earliest month first, as an operator settles them in order (items of one day have no fixed order)
    settle = sorted(
        (item for item in items if item[0] == "period.settle"),
        key=lambda item: re.search(r"period=(\d{4}-\d{2})", item[1]).group(1),
    )
    if not settle:
        pytest.skip("every closed month is settled already")
    period = re.search(r"period=(\d{4}-\d{2})", settle[0][1]).group(1)
    operator.get_by_role("link", name=settle[0][2], exact=True).click()
    # the form offers the closed months without a settlement by name, the to-do's month chosen
    assert operator.get_by_label("Abgeschlossener Monat").input_value() == period
    operator.get_by_role("button", name="Positionen berechnen").click()
    operator.wait_for_url(re.compile(r"/settlements/\d+$"))
    settlement_path = urlpath(operator.url)
    assert not [i for i in todos(operator) if i[0] == "settlement.approve"]  # four eyes: not the creator's

    second = new_page()
    login(second, "pruefung@kopit.example")
    approve = [i for i in todos(second) if i[0] == "settlement.approve" and i[1] == settlement_path]
    assert approve, todos(second)
    second.get_by_role("link", name=approve[0][2], exact=True).click()
    violations = axe_at_both_widths(second)
    second.get_by_role("button", name="Freigeben (zweite Person)").click()
    assert f"Verrechnung {month_label_de(period)} freigegeben." in second.inner_text("main")
    after = [i[0] for i in todos(second) if i[1] == settlement_path]
    assert after == ["settlement.pay"], after  # approved: no longer to approve, now to pay
    assert not violations, "\n".join(violations)


def test_money_on_booking_receivables_and_invoice_pages_agrees_with_the_ledger(new_page, live_app):
    from marketplace.bookings.models import Booking
    from marketplace.catalogue.models import Service
    from marketplace.ledger.models import Transfer, TransferKind
    from marketplace.members.models import Member
    from marketplace.settlement.models import Invoice

    with live_app.app_context():
        vm = db.session.scalar(
            select(Booking)
            .join(Service, Service.id == Booking.service_id)
            .join(Member, Member.id == Booking.buyer_id)
            .where(Service.title == "Virtueller Server (Standard)", Member.name == "Stadt Wiesbaden")
        )
        booking_id, provider_id = vm.id, vm.service.provider_id
        ledger: dict[str, int] = {}
        for transfer in db.session.scalars(
            select(Transfer).where(Transfer.booking_id == booking_id, Transfer.kind == TransferKind.CHARGE)
        ):
            ledger[transfer.period] = ledger.get(transfer.period, 0) + transfer.amount_cents
        invoice = db.session.scalar(select(Invoice).where(Invoice.buyer_id == vm.buyer_id).order_by(Invoice.id))
        invoice_id, invoice_gross = invoice.id, invoice.gross_cents
        provider_charges = {}
        for period, buyer_id, amount in db.session.execute(
            select(Transfer.period, Booking.buyer_id, Transfer.amount_cents)
            .join(Booking, Booking.id == Transfer.booking_id)
            .join(Service, Service.id == Booking.service_id)
            .where(Service.provider_id == provider_id, Transfer.kind == TransferKind.CHARGE)
        ):
            provider_charges[(buyer_id, period)] = provider_charges.get((buyer_id, period), 0) + amount
        db.session.remove()

    buyer = new_page()
    login(buyer, "einkauf@wiesbaden.example")
    buyer.goto(f"/bookings/{booking_id}")
    shown = {
        row.get_attribute("data-period"): _cents(row.locator("td[data-net]").inner_text())
        for row in buyer.locator("#abrechnung ~ div table tbody tr").all()
    }
    assert shown == ledger
    violations = axe_at_both_widths(buyer)
    assert "4 × 89,00\xa0€ = 356,00\xa0€ netto" in buyer.inner_text("main")

    # the buyer opens the month's invoice from the booking page: the same gross as the ledger's document
    buyer.goto(f"/invoices/{invoice_id}")
    assert _cents(buyer.locator("#brutto").inner_text()) == invoice_gross
    violations += axe_at_both_widths(buyer)
    buyer.goto("/invoices")
    violations += axe_at_both_widths(buyer)

    provider = new_page()
    login(provider, "anbieter@kdz-mainz.example")
    provider.goto("/receivables")
    rows = provider.locator("main table tbody tr").all()
    on_page = {
        (int(row.get_attribute("data-buyer")), row.get_attribute("data-period")): _cents(
            row.locator("td[data-net]").inner_text()
        )
        for row in rows
    }
    assert {key: value for key, value in on_page.items() if value} == provider_charges
    violations += axe_at_both_widths(provider)
    assert not violations, "\n".join(violations)


def test_cancel_shows_a_confirmation_first(new_page):
    buyer = new_page()
    login(buyer, "einkauf@wiesbaden.example")
    buyer.goto("/bookings?as=buyer&status=active")
    buyer.locator("main table a[href^='/bookings/']").first.click()
    booking_path = urlpath(buyer.url)
    buyer.get_by_role("button", name="Kündigung prüfen").click()
    assert buyer.get_by_role("heading", level=1).inner_text().startswith("Kündigung bestätigen")
    assert "Die Buchung endet mit Ablauf des" in buyer.inner_text("main")
    violations = axe_at_both_widths(buyer)
    buyer.get_by_role("link", name="Abbrechen – die Buchung bleibt bestehen").click()
    assert urlpath(buyer.url) == booking_path
    assert "Gekündigt" not in buyer.locator("main .kern-badge").first.inner_text()
    assert not violations, "\n".join(violations)


def test_cost_sharing_invitation_is_answered_from_the_start_page(new_page, live_app):
    from marketplace.catalogue.models import ServiceStatus, Unit, VatCategory
    from marketplace.catalogue.operations import ServiceInput, create_service
    from marketplace.costsharing import operations as ops
    from marketplace.costsharing.models import AllocationKey
    from marketplace.members.models import Member, User
    from tests.taxdata import O_TAX

    with live_app.app_context():
        kdz = db.session.scalar(select(User).where(User.email == "anbieter@kdz-mainz.example"))
        service = create_service(
            kdz,
            ServiceInput(
                title="Gemeinsames Kommunalnetz (Browsertest)",
                description="Betrieb des gemeinsamen Netzes; die Kosten tragen die Teilnehmer.",
                category="operations",
                unit=Unit.MONTH,
                unit_price=Decimal(0),
                vat_category=VatCategory.NOT_TAXABLE,
                status=ServiceStatus.PUBLISHED,
                **O_TAX,
            ),
        )
        plan = ops.create_plan(kdz, service, 2027, 12_000_000, AllocationKey.EQUAL)
        wiesbaden = db.session.scalar(select(Member).where(Member.name == "Stadt Wiesbaden"))
        ops.add_participant(kdz, plan, wiesbaden, date(2027, 1, 1))
        db.session.commit()
        plan_path = f"/cost-sharing/{plan.id}"
        db.session.remove()

    buyer = new_page()
    login(buyer, "einkauf@wiesbaden.example")
    invitation = [i for i in todos(buyer) if i[0] == "costsharing.invitation" and i[1] == plan_path]
    assert invitation
    buyer.get_by_role("link", name=invitation[0][2], exact=True).click()
    assert "120.000,00\xa0€ (100,00 %)" in buyer.locator("#erwarteter-anteil").inner_text()
    violations = axe_at_both_widths(buyer)
    buyer.get_by_role("button", name="Ablehnen").click()
    assert "Ihrer Stelle wird nichts berechnet" in buyer.inner_text("main")
    assert not [i for i in todos(buyer) if i[1] == plan_path]

    provider = new_page()
    login(provider, "anbieter@kdz-mainz.example")
    provider.goto(plan_path)
    assert "abgelehnt am" in provider.inner_text("main")
    offered = provider.locator("#p-member_id option").all_inner_texts()
    assert "KOPIT eG" not in offered and "KDZ Mainz" not in offered and "Stadt Wiesbaden" in offered  # may ask again
    violations += axe_at_both_widths(provider)
    assert not violations, "\n".join(violations)
