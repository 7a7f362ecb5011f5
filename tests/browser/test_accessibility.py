"""Accessibility (BITV 2.0 / WCAG 2.1 A and AA) in a real browser.

- axe-core on every page a person can reach by following links, for each kind of user (the crawl finds
  pages others add later, one page per URL pattern), and on the form states with errors;
- the legal pages and the feedback channel are linked from the footer of every page;
- one journey done with the keyboard only (Tab and Enter, typing into fields; Shift+Tab only to step back
  through the segments of a date field): log in, find a service and request it.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: Links that change state, leave the HTML pages or are not pages at all.
SKIP = re.compile(r"^/(logout|sprache/|api/|static/|healthz)|\.(xml|csv|pdf|zip)$|/(download|export|xrechnung|pain)")
MAX_PAGES = 40


def axe_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    found = []
    for violation in results.response["violations"]:
        targets = [", ".join(node["target"]) for node in violation["nodes"]][:5]
        found.append(f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return found


def _pattern(path: str) -> str:
    return re.sub(r"/\d+", "/<id>", path)


#: URL patterns already checked in this session by an earlier role; pages whose content depends on the role
#: (the start page, a service page with the owner's forms, the ledger) are checked for every role.
CHECKED: set[str] = set()
PER_ROLE = re.compile(r"^/$|^/services/<id>$|^/bookings/<id>$|^/ledger")


def crawl(page, start: str = "/") -> list[str]:
    """Visit every same-site page reachable by links (one per URL pattern) and collect axe violations."""
    origin = urlsplit(page.url or "http://x").netloc
    queue, seen_patterns, violations = [start], set(), []
    while queue and len(seen_patterns) < MAX_PAGES:
        target = queue.pop(0)
        path = urlsplit(target).path
        key = _pattern(path)
        if key in seen_patterns or SKIP.search(path) or (key in CHECKED and not PER_ROLE.search(key)):
            continue
        seen_patterns.add(key)
        CHECKED.add(key)
        response = page.goto(target)
        if response is None or "text/html" not in (response.headers.get("content-type") or ""):
            continue
        assert response.status < 500, f"{target} answered {response.status}"
        violations += axe_violations(page)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            absolute = urlsplit(urljoin(page.url, href))
            if absolute.netloc == origin and absolute.scheme.startswith("http"):
                queue.append(absolute.path + (f"?{absolute.query}" if absolute.query else ""))
        origin = urlsplit(page.url).netloc
    return violations


@pytest.mark.parametrize(
    "email",
    [
        None,
        "einkauf@wiesbaden.example",
        "anbieter@kdz-mainz.example",
        "kasse@wiesbaden.example",
        "betrieb@kopit.example",
    ],
    ids=["anonymous", "buyer", "provider", "member-finance", "operator"],
)
def test_every_reachable_page_has_no_wcag_violations(new_page, email):
    page = new_page()
    if email:
        login(page, email)
    else:
        page.goto("/")
    violations = crawl(page)
    assert not violations, "\n".join(violations)


def test_pages_in_english_have_no_wcag_violations(new_page):
    page = new_page()
    login(page, "anbieter@kdz-mainz.example")
    page.get_by_role("link", name="English").click()
    violations = []
    for path in ("/", "/services", "/services/mine", "/bookings", "/impressum", "/barrierefreiheit"):
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == "en"
        violations += axe_violations(page)
    assert not violations, "\n".join(violations)


def _offer_stale_month(select, period: str) -> None:
    """A month select as a page loaded earlier would show it: with `period` still offered and chosen."""
    select.evaluate("(s, p) => { s.add(new Option(p, p)); s.value = p; }", period)


def _submit_and_check(page, button: str) -> list[str]:
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()
    summary = page.locator(".lb-error-summary, .kern-error").first
    assert summary.is_visible(), f"no error shown on {page.url}"
    return axe_violations(page)


def test_forms_with_errors_have_no_wcag_violations(new_page):
    violations = []

    anonymous = new_page()
    anonymous.goto("/login")
    violations += _submit_and_check(anonymous, "Anmelden")

    provider = new_page()
    login(provider, "anbieter@kdz-mainz.example")
    provider.goto("/services/new")
    violations += axe_violations(provider)
    provider.get_by_label("Preis je Einheit in Euro (netto)").fill("12,345")
    violations += _submit_and_check(provider, "Speichern")

    buyer = new_page()
    login(buyer, "einkauf@wiesbaden.example")
    buyer.goto("/services")
    buyer.locator("main a[href^='/services/']").filter(has_not_text="anbieten").first.click()
    buyer.get_by_label("Menge").fill("0")
    violations += _submit_and_check(buyer, "Anfrage senden")

    finance = new_page()
    login(finance, "betrieb@kopit.example")
    finance.goto("/ledger")
    billing = finance.locator("form[action$='/ledger/billing']")
    # a page loaded before August was closed still offers it: the server says why it refuses
    _offer_stale_month(billing.get_by_label("Monat"), "2026-08")
    violations += _submit_and_check(finance, "Monat abrechnen")

    # Closing a month without the confirmation, a settlement for a malformed month, an empty admission.
    finance.goto("/ledger")
    close_link = finance.get_by_role("link", name=re.compile(r"^Monat (\d{4}-\d{2}|\w+ \d{4}) abschließen")).first
    if close_link.count():
        close_link.click()
        violations += axe_violations(finance)
        violations += _submit_and_check(finance, re.compile(r"^Monat \d{4}-\d{2} abschließen$"))
    finance.goto("/settlements")
    _offer_stale_month(finance.get_by_label("Abgeschlossener Monat"), "2026-10")
    violations += _submit_and_check(finance, "Positionen berechnen")
    finance.goto("/admin")
    if finance.get_by_role("button", name="Aufnehmen").count():
        violations += _submit_and_check(finance, "Aufnehmen")

    assert not violations, "\n".join(violations)


def test_category_pages_have_no_wcag_violations(new_page):
    """The operator's category list (with an empty create form sent), its rename page and both states of the
    delete confirmation: a category no service carries, and one that services use (deleting is refused)."""
    operator = new_page()
    login(operator, "betrieb@kopit.example")
    operator.goto("/admin/categories")
    violations = axe_violations(operator)
    violations += _submit_and_check(operator, "Kategorie anlegen")
    edit = operator.get_by_role("link", name=re.compile(r"^Umbenennen")).first.get_attribute("href")
    unused = operator.get_by_role("link", name=re.compile(r"^Löschen")).first.get_attribute("href")
    for path in (edit, unused, edit.replace("/edit", "/delete")):  # the first category (hosting) is in use
        operator.goto(path)
        violations += axe_violations(operator)
    assert "nicht gelöscht werden" in operator.inner_text("main")
    assert not violations, "\n".join(violations)


def test_error_summary_links_to_the_fields(page):
    page.goto("/login")
    page.get_by_role("button", name="Anmelden").click()
    link = page.locator(".lb-error-summary a").first
    assert link.inner_text().startswith("E-Mail-Adresse")
    link.click()
    assert page.evaluate("document.activeElement.id") == "email"
    assert page.get_by_label("E-Mail-Adresse").get_attribute("aria-invalid") == "true"


@pytest.mark.parametrize("path", ["/", "/login", "/impressum", "/services", "/nicht-vorhanden"])
def test_footer_of_every_page_links_the_legal_pages(page, path):
    if path == "/services":
        login(page, "einkauf@wiesbaden.example")
    page.goto(path)
    footer = page.locator("footer")
    for name, href in [
        ("Impressum", "/impressum"),
        ("Datenschutzerklärung", "/datenschutz"),
        ("Erklärung zur Barrierefreiheit", "/barrierefreiheit"),
    ]:
        assert footer.get_by_role("link", name=name, exact=True).get_attribute("href") == href


def test_accessibility_statement_offers_a_feedback_channel_naming_the_page(page):
    page.goto("/impressum")
    page.locator("footer").get_by_role("link", name="Barriere melden").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Erklärung zur Barrierefreiheit"
    assert page.get_by_role("heading", name="Barrieren melden: Feedback und Kontakt").is_visible()
    mail = page.locator("#feedback-mail").get_attribute("href")
    assert mail.startswith("mailto:barrierefreiheit@kopit.example?subject=")
    assert "impressum" in mail  # the page the barrier is on travels into the message
    assert "Schlichtungsverfahren" in page.inner_text("main")
    for path, heading in [("/impressum", "Impressum"), ("/datenschutz", "Datenschutzerklärung")]:
        page.goto(path)
        assert page.get_by_role("heading", level=1).inner_text() == heading


def _tab_to(page, predicate: str, limit: int = 60) -> None:
    """Press Tab until the focused element satisfies the JS `predicate(el)`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {predicate})(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached an element with {predicate}")


def test_keyboard_only_login_search_and_request(page):
    page.goto("/")
    # The first Tab reaches the skip link, which moves focus to the main content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Zum Inhalt springen"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "inhalt"

    _tab_to(page, "el.tagName === 'A' && el.textContent.trim() === 'Anmelden'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/login")
    _tab_to(page, "el.id === 'email'")
    page.keyboard.type("einkauf@wiesbaden.example")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type("demo-passwort")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)

    _tab_to(page, "el.tagName === 'A' && el.getAttribute('href') === '/services'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/services")
    _tab_to(page, "el.id === 'q'")
    page.keyboard.type("Server")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=Server"))
    _tab_to(page, "el.tagName === 'A' && /^\\/services\\/\\d+$/.test(el.getAttribute('href'))")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/services/\d+$"))

    _tab_to(page, "el.name === 'quantity'")
    assert page.evaluate("document.activeElement.value") == "1"  # the default quantity stays
    _tab_to(page, "el.name === 'starts_on'")
    page.keyboard.type("01122026")  # a date input takes the digits in the order of the browser's locale
    if page.evaluate("document.activeElement.value") != "2026-12-01":  # headless Chromium: MM DD YYYY
        page.keyboard.press("Shift+Tab")  # back through the segments: year, day, month
        page.keyboard.press("Shift+Tab")
        page.keyboard.type("12012026")
    assert page.evaluate("document.activeElement.value") == "2026-12-01"
    _tab_to(page, "el.tagName === 'BUTTON' && el.textContent.trim() === 'Anfrage senden'")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"  # focus is visible
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/bookings/\d+$"))
    assert "Ihre Anfrage ist beim Anbieter eingegangen." in page.inner_text("main")


@pytest.mark.parametrize("email", ["betrieb@kopit.example", "anbieter@kdz-mainz.example"])
def test_pages_reflow_on_a_phone_without_sideways_scrolling(new_page, email):
    """WCAG 1.4.10: at 320 CSS pixels the page scrolls only vertically (wide tables scroll in their own box)."""
    page = new_page(viewport={"width": 320, "height": 800})
    login(page, email)
    too_wide = []
    for path in ("/", "/services", "/services/mine", "/bookings", "/ledger", "/settlements", "/invoices", "/admin"):
        response = page.goto(path)
        if response.status >= 400:
            continue
        width = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if width > 1:
            too_wide.append(f"{path}: {width}px wider than the screen")
    assert not too_wide, too_wide
