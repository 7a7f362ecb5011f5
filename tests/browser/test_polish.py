"""Issue 16's polish in a real browser: the favicon, focus on the answer after a form was sent, tables and
charts on a 390 px phone, the warning before the login lockout, and axe on the new and changed pages at
1280 and 390 px."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import login
from tests.browser.test_accessibility import axe_violations

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
OPERATOR = "betrieb@kopit.example"


def _focused(page) -> str:
    return page.evaluate("() => document.activeElement ? document.activeElement.className : ''")


def test_the_favicon_is_served_and_linked(page, base_url):
    response = page.request.get(f"{base_url}/favicon.ico")
    assert response.status == 200 and response.headers["content-type"].startswith("image/")
    assert response.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page.goto("/")
    href = page.locator("link[rel=icon]").first.get_attribute("href")
    assert page.request.get(f"{base_url}{href}").status == 200


def test_after_a_refused_form_the_focus_is_on_the_error_summary(page):
    page.goto("/login")
    page.get_by_label("E-Mail-Adresse").fill("niemand@example.org")
    page.get_by_label("Passwort").fill("falsch-falsch")
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_load_state()
    assert "lb-error-summary" in _focused(page)


def test_after_a_saved_form_the_focus_is_on_the_message(new_page):
    page = new_page()
    login(page, OPERATOR)
    assert "kern-alert" in _focused(page)  # "Willkommen, …" after the login form
    page.goto("/admin/members")
    page.get_by_role("link", name=re.compile(r"^Stammdaten\s+Stadt Wiesbaden")).click()
    page.get_by_role("button", name="Stammdaten speichern").click()
    page.wait_for_url(re.compile(r"/admin/members/\d+/data$"))
    assert "kern-alert" in _focused(page)
    assert "Die Stammdaten von „Stadt Wiesbaden“ sind gespeichert." in page.inner_text("main")


def test_lists_reflow_and_nothing_widens_the_page_on_a_phone(new_page):
    page = new_page(viewport=PHONE)
    login(page, OPERATOR)
    for path in ("/bookings?as=all", "/admin/audit", "/admin/members", "/ledger", "/settlements"):
        page.goto(path)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide"
    page.goto("/bookings?as=all")
    header = page.locator("table.lb-table-stack thead").first
    assert header.bounding_box() is None or header.bounding_box()["height"] <= 1  # column names move into the cells
    first_row = page.locator("table.lb-table-stack tbody tr").first
    assert first_row.bounding_box()["width"] <= PHONE["width"]


def test_wide_tables_scroll_inside_their_box_and_chart_labels_stay_readable(new_page):
    page = new_page(viewport=PHONE)
    login(page, OPERATOR)
    page.goto("/ledger")
    boxes = page.locator(".kern-table-responsive").all()
    assert boxes
    for box in boxes:
        overflow = box.evaluate("el => getComputedStyle(el).overflowX")
        assert overflow in ("auto", "scroll")
    label = page.locator("svg.lb-chart text").first
    assert label.bounding_box()["height"] >= 11, "chart labels must stay readable at 390 px"


def test_a_warning_comes_before_the_lockout_and_the_lock_page_offers_a_new_password(page):
    email = "vergesslich@example.org"
    texts = []
    for _attempt in range(5):
        page.goto("/login")
        page.get_by_label("E-Mail-Adresse").fill(email)
        page.get_by_label("Passwort").fill("immer-noch-falsch")
        page.get_by_role("button", name="Anmelden").click()
        page.wait_for_load_state()
        texts.append(page.inner_text("main"))
    assert "Noch 2 Versuche" in texts[2] and "Noch 1 Versuch," in texts[3]
    page.goto("/login")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill("immer-noch-falsch")
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_load_state()
    assert "vorübergehend gesperrt" in page.inner_text("main")
    assert page.get_by_role("link", name="Passwort vergessen?").count() == 1


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, PHONE], ids=["1280", "390"])
def test_new_and_changed_pages_have_no_wcag_violations_at_both_widths(new_page, viewport):
    operator = new_page(viewport=viewport)
    login(operator, OPERATOR)
    violations = []
    for path in (
        "/bookings?as=all",
        "/admin/members",
        "/admin/audit",
        "/ledger",
        "/settlements",
        "/services?q=Hosting",
    ):
        operator.goto(path)
        violations += axe_violations(operator)
    operator.goto("/bookings?as=all")
    operator.locator("main table a").first.click()
    violations += axe_violations(operator)
    operator.goto("/admin/members")
    operator.get_by_role("link", name=re.compile(r"^Stammdaten\s+Landkreis")).click()
    violations += axe_violations(operator)
    operator.get_by_label("IBAN").fill("DE00 0000")
    operator.get_by_role("button", name="Stammdaten speichern").click()
    operator.wait_for_load_state()
    assert operator.locator(".lb-error-summary").is_visible()
    violations += axe_violations(operator)
    operator.goto("/invoices")
    invoice = operator.locator("main table a", has_text=re.compile(r"^LB-")).first
    if invoice.count():
        invoice.click()
        violations += axe_violations(operator)

    provider = new_page(viewport=viewport)
    login(provider, "anbieter@kdz-mainz.example")
    provider.goto("/services/new")
    violations += axe_violations(provider)
    provider.get_by_label("Umsatzsteuer", exact=True).select_option("O")
    assert provider.get_by_label("Rechtsgrundlage").is_visible()
    assert not provider.get_by_label("Befreiungsgrund (VATEX-Code)").is_visible()
    provider.get_by_label("Umsatzsteuer", exact=True).select_option("S")
    assert not provider.get_by_label("Rechtsgrundlage").is_visible()
    assert not violations, "\n".join(violations)
