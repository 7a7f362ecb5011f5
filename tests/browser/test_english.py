"""The English interface: chosen with one link, kept for the session, no German left in the interface.

Data that people typed (service titles, member names) stays as typed; what must be English is every text the
application itself says. Two checks catch German: no translated German message of the catalogue appears on
the page, and the interface's own elements (labels, buttons, table headers, navigation, footer, hints,
messages) contain no common German word.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tests.browser.conftest import login

pytestmark = pytest.mark.browser

CATALOGUE = Path(__file__).resolve().parents[2] / "marketplace" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
GERMAN_WORDS = re.compile(
    r"\b(Bitte|bitte|und|der|die|das|für|mit|nicht|Sie|Ihre|Ihr|ist|oder|Leistung\w*|Buchung\w*|Anfrage\w*|"
    r"Konto|Konten|Rechnung\w*|Monat|Abrechnung\w*|Anmelden|Abmelden|Speichern|Suchen|Zurück|Weiter|Betrag|"
    r"Saldo|Summe|Mitglied\w*|Anbieter|Abnehmer|Verrechnung\w*|Zahlung\w*|Datenschutz\w*|Barriere\w*)\b"
)
#: The interface's own elements; data (titles, names, descriptions) lives elsewhere on the page.
CHROME = "label, button, thead th, caption, nav, footer, legend, .kern-hint, .kern-alert, .kern-error, title"
PAGES = {
    "anbieter@kdz-mainz.example": ["/", "/services", "/services/mine", "/services/new", "/bookings?as=provider"],
    "einkauf@wiesbaden.example": ["/", "/services", "/bookings", "/profile"],
    "betrieb@kopit.example": ["/", "/ledger", "/settlements", "/invoices"],
    None: ["/", "/login", "/impressum", "/datenschutz", "/barrierefreiheit"],
}


def german_messages() -> list[str]:
    """Catalogue messages long enough to be unmistakable whose English differs from the German."""
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    found = []
    for message in catalogue:
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        english = message.string if isinstance(message.string, str) else message.string[0]
        if msgid and "%(" not in msgid and len(msgid) >= 12 and english and english != msgid:
            found.append(msgid)
    return found


def german_in(page, messages: list[str]) -> list[str]:
    # Text the ledger stores in German (booking texts) is marked lang="de" (WCAG 3.1.2) and is data, not interface.
    text = page.evaluate(
        """() => { const parts = [...document.body.querySelectorAll('[lang="de"]')];
                   const shown = parts.map((element) => element.style.display);
                   parts.forEach((element) => { element.style.display = 'none'; });
                   const text = document.body.innerText;
                   parts.forEach((element, i) => { element.style.display = shown[i]; });
                   return text; }"""
    )
    problems = [f"{page.url}: message {m!r}" for m in messages if m in text]
    for element in page.locator(CHROME).all():
        content = element.inner_text() if element.is_visible() else ""
        for word in set(GERMAN_WORDS.findall(content)):
            problems.append(f"{page.url}: German word {word!r} in {content[:80]!r}")
    title = page.title()
    problems += [f"{page.url}: German word {w!r} in the title" for w in set(GERMAN_WORDS.findall(title))]
    return problems


@pytest.mark.parametrize("email", list(PAGES), ids=["provider", "buyer", "operator", "anonymous"])
def test_english_pages_show_no_german(new_page, email):
    messages = german_messages()
    page = new_page()
    if email:
        login(page, email)
    page.goto("/")
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    problems = []
    for path in PAGES[email]:
        response = page.goto(path)
        if response.status == 404:  # a page another area has not built yet
            continue
        assert page.locator("html").get_attribute("lang") == "en"
        problems += german_in(page, messages)
    assert not problems, "\n".join(sorted(set(problems)))


def test_english_form_errors_and_back_to_german(page):
    page.goto("/login")
    page.get_by_role("link", name="English").click()
    page.get_by_role("button", name="Log in").click()
    assert "Please enter your email address." in page.inner_text("main")
    assert not german_in(page, german_messages())
    # The choice goes back to German with one link, on the same page.
    page.get_by_role("link", name="Deutsch").click()
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.url.endswith("/login")
    assert page.get_by_role("heading", level=1).inner_text() == "Anmelden"


def test_errors_from_the_operations_are_english_too(page):
    """A refused upload (checked by content in the catalogue's operation) explains itself in English."""
    login(page, "anbieter@kdz-mainz.example")
    page.get_by_role("link", name="English").click()
    page.goto("/services/mine")
    page.locator("main a[href^='/services/']").filter(has_text=re.compile(r"^(?!Offer)")).first.click()
    upload = page.locator("form[action$='/documents']")
    upload.get_by_label("Name").fill("Service description")
    upload.locator("input[type=file]").set_input_files(
        {"name": "leistung.pdf", "mimeType": "application/pdf", "buffer": b"<html>not a PDF</html>"}
    )
    upload.get_by_role("button", name="Upload document").click()
    main = page.inner_text("main")
    assert "Only PDF files are allowed; this file is not a PDF." in main
    assert "Nur PDF-Dateien" not in main
