"""A municipal finance clerk reconciles the member statement in Chromium: from a statement line to the invoice
behind it and back, the amounts agreeing to the cent; from the line to its payment advice and back. The pages
pass axe at 1280 and 390 pixels wide.

The live server's database is shared by every browser test of the session: the test takes a settlement that
an earlier test made, or settles the earliest month it can (as the operator would)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.extensions import db
from tests.browser.conftest import login
from tests.browser.test_todo_walks import _cents, axe_at_both_widths, urlpath
from tests.conftest import release_invoices

pytestmark = pytest.mark.browser

CLERK = "kasse@wiesbaden.example"


def _settled_statement(live_app) -> tuple[int, str]:
    """(member, month) of a statement of Stadt Wiesbaden with a settled invoice on it; settles a month first
    where no settlement covers one of its invoices yet."""
    from marketplace.ledger.models import Transfer
    from marketplace.members.models import Member, User
    from marketplace.settlement.models import Invoice, InvoiceLine, SettlementDocument
    from marketplace.settlement.operations import approve_settlement, create_settlement
    from marketplace.settlement.queries import settleable_periods

    with live_app.app_context():
        wiesbaden = db.session.scalar(select(Member.id).where(Member.name == "Stadt Wiesbaden"))
        settled = (
            select(Transfer.period)
            .join(InvoiceLine, InvoiceLine.transfer_id == Transfer.id)
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
            .join(SettlementDocument, SettlementDocument.invoice_id == Invoice.id)
            .where(Invoice.buyer_id == wiesbaden)
            .order_by(Transfer.period)
        )
        month = db.session.scalar(settled)
        if month is None:
            release_invoices()
            operator = db.session.scalar(select(User).where(User.email == "betrieb@kopit.example"))
            second = db.session.scalar(select(User).where(User.email == "pruefung@kopit.example"))
            settlement = create_settlement(operator, min(settleable_periods()))
            approve_settlement(second, settlement)
            db.session.commit()
            month = db.session.scalar(settled)
        db.session.remove()
    assert month is not None
    return wiesbaden, month


def _line_amount(row) -> int:
    cell = row.locator("td[data-cents]")
    shown = _cents(cell.inner_text())
    assert shown == int(cell.get_attribute("data-cents"))
    return shown


def test_from_the_statement_to_the_invoice_and_the_advice_and_back(new_page, live_app):
    member, month = _settled_statement(live_app)
    statement_path = f"/ledger/statements/{member}/{month}"
    clerk = new_page()
    login(clerk, CLERK)
    clerk.goto(statement_path)
    assert clerk.get_by_role("heading", level=1).inner_text().startswith("Kontoauszug ")
    violations = axe_at_both_widths(clerk)

    # the first line with an invoice behind it
    row = clerk.locator("#buchungen tr[data-transfer-id]", has=clerk.locator("a[data-document='invoice']")).first
    booking = row.get_attribute("data-transfer-id")
    amount = _line_amount(row)
    number = row.locator("a[data-document='invoice']").inner_text()
    row.locator("a[data-document='invoice']").click()
    clerk.wait_for_url(re.compile(r"/invoices/\d+#(pos-\d+|ust)$"))
    assert number.split()[-1] in clerk.get_by_role("heading", level=1).inner_text()
    anchor = clerk.url.rsplit("#", 1)[1]
    target = clerk.locator(f"#{anchor}")
    cell = target if target.get_attribute("data-cents") is not None else target.locator("td[data-cents]")
    assert _cents(cell.inner_text()) == abs(amount)  # the document's line shows the statement's amount
    assert "verrechnet mit Zahlungsavis ZA-" in clerk.locator("#verrechnung").inner_text()
    violations += axe_at_both_widths(clerk)

    # back to the statement of the month in which the invoice is booked: the same line is there
    clerk.locator(f"#kontoauszug a[href='{statement_path}']").click()
    clerk.wait_for_url(re.compile(re.escape(statement_path) + "$"))
    row = clerk.locator(f"#buchung-{booking}")
    assert _line_amount(row) == amount

    # on to the payment advice that settled it, and back from there
    advice = row.locator("a[data-document='advice']")
    advice_number = advice.inner_text()
    advice.click()
    clerk.wait_for_url(re.compile(r"/settlements/\d+/advices/\d+$"))
    assert advice_number in clerk.get_by_role("heading", level=1).inner_text()
    violations += axe_at_both_widths(clerk)
    clerk.locator(f"#kontoauszug-belege a[href='{statement_path}']").click()
    clerk.wait_for_url(re.compile(re.escape(statement_path) + "$"))
    assert urlpath(clerk.url) == statement_path
    assert not violations, "\n".join(violations)
