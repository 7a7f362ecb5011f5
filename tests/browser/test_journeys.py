"""Whole journeys in German, in a real browser, through the pages people use.

Provider publishes a service, a buyer requests it, the provider accepts, operator finance bills the
current month (today is pinned to 2026-11-16) and sees the pro-rata charge and balances summing to 0,00 €.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from marketplace.extensions import db
from tests.browser.conftest import login
from tests.conftest import release_invoices

pytestmark = pytest.mark.browser

PROVIDER = "anbieter@kdz-mainz.example"
BUYER = "einkauf@wiesbaden.example"
FINANCE = "betrieb@kopit.example"


def publish_service(page, title: str, price: str, category_index: int = 1) -> str:
    """As a provider: offer a monthly service; returns the service page's path."""
    page.goto("/services/mine")
    page.get_by_role("link", name="Leistung anbieten").first.click()
    page.get_by_label("Titel").fill(title)
    page.get_by_label("Beschreibung").fill("Betrieb eines virtuellen Servers im kommunalen Rechenzentrum.")
    page.get_by_label("Kategorie").select_option(index=category_index)
    page.get_by_label("Abrechnungseinheit").select_option("month")
    page.get_by_label("Preis je Einheit in Euro (netto)").fill(price)
    page.get_by_role("button", name="Speichern").click()
    page.wait_for_url(re.compile(r"/services/\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == title
    assert f"Die Leistung „{title}“ ist angelegt." in page.inner_text("main")
    return urlsplit(page.url).path


def request_service(page, title: str, quantity: int, starts_on: str) -> str:
    """As a buyer: find the service by searching the catalogue and request it; returns the booking path."""
    page.goto("/services")
    page.get_by_role("searchbox").first.fill(title)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"[?&]q="))
    page.get_by_role("link", name=title).first.click()
    page.get_by_label("Menge").fill(str(quantity))
    page.get_by_label("Beginn").fill(starts_on)
    page.get_by_label("Nachricht an den Anbieter").fill("Für das Bürgerbüro, bitte ab Mitte November.")
    page.get_by_role("button", name="Anfrage senden").click()
    page.wait_for_url(re.compile(r"/bookings/\d+$"))
    assert "Ihre Anfrage ist beim Anbieter eingegangen." in page.inner_text("main")
    return "/bookings/" + page.url.rsplit("/", 1)[1]


def bill_month(page, period: str) -> None:
    """As operator finance on /ledger: the billing run for one month."""
    billing = page.locator("form[action$='/ledger/billing']")
    billing.get_by_label("Monat").select_option(period)
    billing.get_by_role("button", name="Monat abrechnen").click()
    page.wait_for_url(re.compile(r"/ledger"))


def test_login_shows_the_start_page_with_name(page):
    login(page, BUYER)
    assert page.get_by_role("heading", level=1).inner_text().startswith("Guten Tag")
    assert page.locator("html").get_attribute("lang") == "de"
    assert "Stadt Wiesbaden" in page.inner_text("header")


def test_wrong_password_is_refused_in_german(page):
    page.goto("/login")
    page.get_by_label("E-Mail-Adresse").fill("niemand@example.org")
    page.get_by_label("Passwort").fill("falsch-falsch")
    page.get_by_role("button", name="Anmelden").click()
    summary = page.get_by_role("alert").first
    assert "E-Mail-Adresse oder Passwort sind falsch." in summary.inner_text()


def test_publish_request_accept_and_bill_the_month(as_user):
    title = f"Testserver {uuid.uuid4().hex[:6]}"

    provider = as_user(PROVIDER)
    publish_service(provider, title, "123,45")

    buyer = as_user(BUYER)
    booking_path = request_service(buyer, title, quantity=2, starts_on="2026-11-16")
    assert "Angefragt" in buyer.inner_text("main")

    # The provider sees the request among the open ones and accepts it.
    provider.goto("/bookings?as=provider&status=requested")
    provider.get_by_role("link", name=booking_path.rsplit("/", 1)[1], exact=True).click()
    provider.get_by_role("button", name="Annehmen").click()
    assert "Die Anfrage ist angenommen." in provider.inner_text("main")
    provider.goto(booking_path)
    assert "123,45\xa0€" in provider.inner_text("main")  # the price snapshot

    # Operator finance bills November: 2 × 123,45 € × 15/30 days (16–30 Nov) = 123,45 €.
    finance = as_user(FINANCE)
    finance.goto("/ledger")
    bill_month(finance, "2026-11")
    finance.wait_for_url(re.compile(r"/ledger$"))
    assert "Abrechnung November 2026:" in finance.inner_text("main")

    journal = finance.locator("table", has=finance.locator("caption", has_text=re.compile(r"^Journal$")))
    journal_rows = journal.locator("tbody tr", has_text=title)
    amounts = sorted(row.locator("td.kern-table__cell--numeric").inner_text() for row in journal_rows.all())
    assert amounts == ["-123,45\xa0€", "123,45\xa0€"] or amounts == ["\u2212123,45\xa0€", "123,45\xa0€"], amounts
    assert finance.locator("#saldo-summe").inner_text() == "0,00\xa0€"

    # A second run for the same month finds nothing new for this booking.
    bill_month(finance, "2026-11")
    assert "nichts Neues abzurechnen" in finance.inner_text("main")
    assert journal.locator("tbody tr", has_text=title).count() == 2


def _cents(text: str) -> int:
    """'−1.234,56 €' → -123456 (the German format the pages show)."""
    cleaned = text.replace("\xa0", "").replace("€", "").replace(".", "").replace("\u2212", "-").strip()
    return round(float(cleaned.replace(",", ".")) * 100) if cleaned else 0


def test_invoice_download_settle_and_approve_by_a_second_person(as_user, live_app):
    """The demo's closed month (2026-08): its invoices, their XRechnung, a settlement and four-eyes approval."""
    with live_app.app_context():  # the buyers' finance staff certified August's invoices
        release_invoices("2026-08")
        db.session.remove()
    finance = as_user(FINANCE)
    finance.goto("/settlements")
    finance.get_by_role("link", name="Rechnungen und Gutschriften (XRechnung)").click()
    finance.wait_for_url(re.compile(r"/invoices"))
    number_link = finance.locator("main table a", has_text=re.compile(r"^LB-")).first
    number = number_link.inner_text().strip()
    number_link.click()
    assert number in finance.get_by_role("heading", level=1).inner_text()
    gross = finance.locator("#brutto").inner_text()
    assert gross.endswith("€") and _cents(gross) > 0
    with finance.expect_download() as download_info:
        finance.get_by_role("link", name=re.compile("XRechnung")).first.click()
    xml = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert xml.lstrip().startswith("<?xml") and number in xml
    assert "urn:cen.eu:en16931:2017" in xml  # an EN 16931 invoice (XRechnung)

    # Settle the closed month: positions sum to zero; the creator cannot approve it alone.
    finance.goto("/settlements")
    finance.get_by_label("Abgeschlossener Monat").select_option("2026-08")
    finance.get_by_role("button", name="Positionen berechnen").click()
    finance.wait_for_url(re.compile(r"/settlements/\d+$"))
    assert "Verrechnung August 2026 angelegt" in finance.inner_text("main")
    positions = [_cents(cell.inner_text()) for cell in finance.locator("td[data-member-id]").all()]
    assert positions and sum(positions) == 0
    # each member's payment advice lists the documents behind its position, and they add up
    assert finance.locator('[data-reconciled="yes"]').count() == len(positions)
    assert finance.locator('[data-reconciled="no"]').count() == 0
    finance.get_by_role("link", name=re.compile(r"^Zahlungsavis zum Drucken")).first.click()
    finance.wait_for_url(re.compile(r"/settlements/\d+/advices/\d+$"))
    assert "Zahlungsavis ZA-2026-08-" in finance.get_by_role("heading", level=1).inner_text()
    finance.get_by_role("link", name="Zurück zur Verrechnung August 2026").click()
    finance.wait_for_url(re.compile(r"/settlements/\d+$"))
    assert finance.get_by_role("button", name="Freigeben (zweite Person)").count() == 0
    assert "Vier-Augen-Prinzip" in finance.inner_text("main")
    settlement_path = urlsplit(finance.url).path

    second = as_user("pruefung@kopit.example")
    second.goto(settlement_path)
    second.get_by_role("button", name="Freigeben (zweite Person)").click()
    assert "Verrechnung August 2026 freigegeben." in second.inner_text("main")
    assert second.locator("#status").inner_text() == "Freigegeben"


def test_bill_and_close_the_month_then_read_the_statement(as_user):
    """Operator finance bills October and closes the months up to it; member finance reads its statement."""
    finance = as_user(FINANCE)
    finance.goto("/ledger")
    bill_month(finance, "2026-10")
    assert "Abrechnung Oktober 2026:" in finance.inner_text("main")
    for _month, name in (("2026-09", "September 2026"), ("2026-10", "Oktober 2026")):  # in order; August is closed
        link = finance.get_by_role("link", name=f"Monat {name} abschließen …")
        if not link.count():
            continue
        link.click()
        assert finance.get_by_role("heading", level=1).inner_text() == f"Monat {name} abschließen"
        finance.get_by_role("button", name=f"Monat {name} abschließen").click()  # without the confirmation
        assert "Bitte bestätigen Sie den Abschluss." in finance.inner_text("main")
        finance.get_by_label("Ich habe den Monat geprüft. Danach kann nichts mehr in ihn gebucht werden.").check()
        finance.get_by_role("button", name=f"Monat {name} abschließen").click()
        finance.wait_for_url(re.compile(r"/ledger"))
        assert f"Der Monat {name} ist abgeschlossen." in finance.inner_text("main")
    assert finance.locator("#saldo-summe").inner_text() == "0,00\xa0€"  # VAT of the invoices posted, still zero
    finance.goto("/invoices?period=2026-10")
    assert finance.locator("main table a", has_text=re.compile(r"^LB-")).count() > 0

    # Stadt Wiesbaden's finance officer opens its statement for October.
    clerk = as_user("kasse@wiesbaden.example")
    clerk.goto("/ledger?period=2026-10")
    clerk.get_by_role("link", name="Kontoauszug Oktober 2026 ansehen und drucken").click()
    statement = clerk.inner_text("main")
    assert "Kontoauszug Oktober 2026" in statement and "Stadt Wiesbaden" in statement
    assert re.search(r"\d,\d\d\xa0€", statement)
