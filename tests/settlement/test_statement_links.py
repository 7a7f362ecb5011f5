"""The member statement as a municipal finance clerk reconciles with it: every line of a settled month leads
to the document behind it (invoice or credit note, payment advice, settlement, payment), which shows the same
amount to the cent; the invoice, the advice and the settlement lead back to the statements of the months in
which they are booked; and nobody reaches another member's documents or statements that way.

The month is built on the demo as an operator runs it: September and October billed and closed, every
invoice released, October settled (covering August to October), one instruction paid directly, the others
collected by SEPA direct debit through the operator (a Stripe impostor) and paid out to the creditors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from lxml import html as lxml_html
from sqlalchemy import select

from marketplace.bookings.models import Booking
from marketplace.catalogue.models import Service
from marketplace.extensions import db
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.members.models import Member, Role, User
from marketplace.settlement.models import Invoice, ReleaseStatus
from tests.conftest import csrf_token, login
from tests.payments.conftest import API_KEY, WEBHOOK_SECRET, fault_server  # noqa: F401 - the Stripe impostor

OPERATOR = "betrieb@kopit.example"
SETTLED_MONTHS = ("2026-08", "2026-09", "2026-10")
PAYMENT_MONTH = "2026-11"  # today is 2026-11-16: payments are booked in the current month


def cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


def member_id(name: str) -> int:
    return db.session.scalar(select(Member.id).where(Member.name == name))


def bill_and_close(api, period: str) -> None:
    assert api.post("/api/v1/billing-runs", json={"period": period}).status_code in (200, 201)
    closed = api.post(f"/api/v1/periods/{period}/close", json={"reason": "Verbrauch in Prüfung folgt"})
    assert closed.status_code == 200, closed.text


def signed_webhook(client, event: dict) -> None:
    raw = json.dumps(event).encode()
    now = int(time.time())
    signature = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.".encode() + raw, hashlib.sha256).hexdigest()
    response = client.post(
        "/api/v1/payments/stripe/webhook",
        data=raw,
        headers={"Stripe-Signature": f"t={now},v1={signature}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


def page(client, path: str):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return lxml_html.fromstring(response.text)


def statement_rows(client, member: int, period: str) -> list[dict]:
    """The lines of a statement: transfer id, amount and the documents it links to (kind → href)."""
    tree = page(client, f"/ledger/statements/{member}/{period}")
    rows = []
    for row in tree.xpath('//table[@id="buchungen"]//tr[@data-transfer-id]'):
        links = {a.get("data-document"): a.get("href") for a in row.xpath(".//a[@data-document]")}
        rows.append(
            {
                "transfer": int(row.get("data-transfer-id")),
                "cents": int(row.xpath("./td[@data-cents]")[0].get("data-cents")),
                "links": links,
                "text": " ".join(a.text_content() for a in row.xpath(".//a[@data-document]")),
            }
        )
    return rows


def amount_at(client, href: str) -> int:
    """The amount the linked page shows at the link's anchor: an invoice line's or the VAT's net, a payment's."""
    url = urlsplit(href)
    tree = page(client, url.path)
    [target] = tree.xpath(f'//*[@id="{url.fragment}"]')
    cells = [target] if target.get("data-cents") is not None else target.xpath(".//td[@data-cents]")
    assert len(cells) == 1, (href, cells)
    return int(cells[0].get("data-cents"))


def links_back(client, path: str) -> set[str]:
    """The statements a document page links to."""
    return {a.get("href") for a in page(client, path).xpath("//a[@data-statement]")}


@pytest.fixture
def settled_and_paid(app, client, demo_september_open, api_as, fault_server):  # noqa: F811
    """October settled and paid in all three ways; returns the settlement as the API shows it."""
    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    operator = api_as(OPERATOR)
    bill_and_close(operator, "2026-09")
    # in October a September charge is reversed: October's close issues the credit note
    app.config["MARKETPLACE_TODAY"] = "2026-10-20"
    charge = db.session.scalars(
        select(Transfer).where(Transfer.period == "2026-09", Transfer.kind == TransferKind.CHARGE).order_by(Transfer.id)
    ).first()
    reversed_ = operator.post(f"/api/v1/ledger/transfers/{charge.id}/reverse", json={"reason": "Doppelt berechnet"})
    assert reversed_.status_code == 201, reversed_.text
    app.config["MARKETPLACE_TODAY"] = "2026-11-16"
    bill_and_close(operator, "2026-10")
    for invoice in db.session.scalars(select(Invoice).where(Invoice.release_status == ReleaseStatus.PENDING)):
        invoice.release_status = ReleaseStatus.RELEASED  # the buyers' finance staff certified them
    db.session.commit()
    settlement = operator.post("/api/v1/settlements", json={"period": "2026-10"}).get_json()
    approved = api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert len(settlement["instructions"]) >= 2
    direct = settlement["instructions"][0]
    login(client, OPERATOR)
    form = client.get(f"/settlements/{settlement['id']}")
    booked = client.post(
        f"/settlements/{settlement['id']}/instructions/{direct['id']}/direct",
        data={"csrf_token": csrf_token(form.text)},
    )
    assert booked.status_code == 302
    for payment in operator.post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()["payments"]:
        intent = payment["payment_intent_id"]
        signed_webhook(
            client,
            {
                "id": f"evt_{intent}",
                "type": "payment_intent.succeeded",
                "data": {"object": {"id": intent, "amount": cents(payment["amount"])}},
            },
        )
    settlement = operator.get(f"/api/v1/settlements/{settlement['id']}").get_json()
    assert settlement["status"] == "paid"
    return settlement


def finance_clerk(app, create_user, member: int):
    """A client logged in as finance staff of `member` (the demo's, or one made for a member without)."""
    clerk = db.session.scalars(select(User).where(User.member_id == member)).all()
    email = next((u.email for u in clerk if Role.MEMBER_FINANCE in u.roles), None)
    if email is None:
        email = f"kasse-{member}@example.org"
        create_user(db.session.get(Member, member), email, [Role.MEMBER_FINANCE])
    other = app.test_client()
    login(other, email)
    return other


def test_every_line_of_a_settled_month_leads_to_its_document_and_back(app, settled_and_paid, create_user):
    settlement = settled_and_paid
    members = sorted({p["member_id"] for p in settlement["positions"]})
    kopit = member_id("KOPIT eG")
    operator = app.test_client()
    login(operator, OPERATOR)
    ways, anchors = set(), set()
    for member in [*members, kopit]:
        clerk = operator if member == kopit else finance_clerk(app, create_user, member)
        checked = 0
        for period in (*SETTLED_MONTHS, PAYMENT_MONTH):
            statement = f"/ledger/statements/{member}/{period}"
            for line in statement_rows(clerk, member, period):
                links = line["links"]
                where = (member, period, line)
                # the document behind the line, with the line's amount to the cent
                document = links.get("invoice") or links.get("payment")
                assert document, where
                assert amount_at(clerk, document) == abs(line["cents"]), where
                # settled: the member's payment advice and the settlement, each leading back to this statement
                assert links.get("advice") and links.get("settlement"), where
                if "invoice" in links:
                    assert statement in links_back(clerk, urlsplit(links["invoice"]).path), where
                    invoice_id = int(urlsplit(links["invoice"]).path.rsplit("/", 1)[1])
                    advice = page(clerk, links["advice"])
                    assert advice.xpath(f'//tr[@data-invoice-id="{invoice_id}"]'), where  # listed on the advice
                    anchors.add(urlsplit(links["invoice"]).fragment.split("-")[0])
                    if line["text"].startswith("Gutschrift"):
                        anchors.add("credit note")
                else:
                    ways.add(urlsplit(links["payment"]).fragment)
                # the advice is the member's own; on the operator's statement (its collecting and bank accounts)
                # that of the member the money came from or went to, leading to that member's statement
                advice_member = int(links["advice"].rsplit("/", 1)[1])
                assert advice_member == member or member == kopit, where
                back = f"/ledger/statements/{advice_member}/{period}"
                assert back in links_back(clerk, links["advice"]), where
                assert back in links_back(clerk, links["settlement"]), where
                checked += 1
        assert checked, member
    # every way of paying came by: a direct payment, the debits, the payouts (debtors' and creditors' lines)
    assert len(ways) >= 3
    # and every kind of document line: an invoice's position, its VAT, a credit note's position
    assert anchors == {"pos", "ust", "credit note"}, anchors


def test_another_member_reaches_none_of_them(app, settled_and_paid, create_member, create_user):
    wiesbaden = member_id("Stadt Wiesbaden")
    clerk = app.test_client()
    login(clerk, "kasse@wiesbaden.example")
    targets = set()
    for period in (*SETTLED_MONTHS, PAYMENT_MONTH):
        targets.add(f"/ledger/statements/{wiesbaden}/{period}")
        for line in statement_rows(clerk, wiesbaden, period):
            targets |= {urlsplit(href).path for kind, href in line["links"].items() if kind != "settlement"}
    settlements = {f"/settlements/{settled_and_paid['id']}"}
    assert any(t.startswith("/invoices/") for t in targets) and any("/advices/" in t for t in targets)

    outsider = create_member("Gemeinde Außen")
    create_user(outsider, "kasse@aussen.example", [Role.MEMBER_FINANCE])
    stranger = app.test_client()
    login(stranger, "kasse@aussen.example")
    for path in targets | settlements:
        if path.startswith("/settlements/") and "/advices/" not in path:
            continue  # the settlement page is checked below
        assert stranger.get(path).status_code in (403, 404), path
    for path in settlements:
        assert stranger.get(path).status_code in (403, 404), path

    # the Landkreis takes part in the same settlement: its own part only, nothing of Wiesbaden's
    ladadi = app.test_client()
    login(ladadi, "kasse@ladadi.example")
    for path in targets:
        if "/advices/" in path or path.startswith("/ledger/") or path.startswith("/invoices/"):
            assert ladadi.get(path).status_code in (403, 404), path
    shown = page(ladadi, next(iter(settlements)))
    for row in shown.xpath('//tr[starts-with(@id, "zahlung-")]'):
        assert "Stadt Wiesbaden" not in row.text_content()
    assert f"/ledger/statements/{wiesbaden}/" not in lxml_html.tostring(shown, encoding="unicode")


def test_the_invoice_says_with_which_advice_it_was_settled_and_how_it_was_paid(app, settled_and_paid):
    wiesbaden = member_id("Stadt Wiesbaden")
    advice = f"ZA-2026-10-{wiesbaden}"
    invoice = db.session.scalars(
        select(Invoice).where(Invoice.buyer_id == wiesbaden, Invoice.period == "2026-10").order_by(Invoice.id)
    ).first()
    clerk = app.test_client()
    login(clerk, "kasse@wiesbaden.example")
    tree = page(clerk, f"/invoices/{invoice.id}")
    settled = tree.get_element_by_id("verrechnung").text_content()
    assert f"verrechnet mit Zahlungsavis {advice} (Verrechnung Oktober 2026)" in " ".join(settled.split())
    assert tree.xpath(f'//*[@id="verrechnung"]//a[text()="{advice}"]')
    paid = " ".join(tree.get_element_by_id("zahlung").text_content().split())
    assert ("Direktzahlung an" in paid or "SEPA-Lastschrift" in paid) and " am " in paid, paid
    assert f"/ledger/statements/{wiesbaden}/2026-10" in links_back(clerk, f"/invoices/{invoice.id}")

    # the buyer reads the same invoice without finance's pages: no way to the statement or the advice
    buyer = app.test_client()
    login(buyer, "einkauf@wiesbaden.example")
    tree = page(buyer, f"/invoices/{invoice.id}")
    assert advice in tree.get_element_by_id("verrechnung").text_content()
    assert not tree.xpath("//a[@data-statement]")
    assert not tree.xpath('//a[contains(@href, "/advices/")]')
    assert buyer.get(f"/ledger/statements/{wiesbaden}/2026-10").status_code in (403, 404)


def test_the_csv_names_the_advice_of_a_collected_debit_too(app, settled_and_paid):
    operator = app.test_client()
    login(operator, OPERATOR)
    debtors = {i["debtor_member_id"] for i in settled_and_paid["instructions"][1:]}
    for debtor in debtors:
        lines = operator.get(f"/ledger/statements/{debtor}/{PAYMENT_MONTH}.csv").data.decode("utf-8-sig")
        payments = [line for line in lines.split("\r\n") if ";Zahlung geleistet;" in line]
        assert payments and all(f";ZA-2026-10-{debtor};" in line for line in payments), payments


def test_lines_without_a_document_yet_say_why(app, client, demo, api_as):
    """An open month's charges wait for their invoice, a reversal of an invoiced charge for its credit note,
    and a charge reversed before its month closed stands on no document at all: each line says which."""
    operator = api_as(OPERATOR)
    assert operator.post("/api/v1/billing-runs", json={"period": "2026-11"}).status_code in (200, 201)
    november = db.session.scalars(
        select(Transfer).where(Transfer.period == "2026-11", Transfer.kind == TransferKind.CHARGE).order_by(Transfer.id)
    ).all()
    september = db.session.scalars(
        select(Transfer).where(Transfer.period == "2026-09", Transfer.kind == TransferKind.CHARGE).order_by(Transfer.id)
    ).first()
    assert len(november) >= 2 and september is not None
    pair, invoiced = november[0], september
    for transfer in (pair, invoiced):
        assert (
            operator.post(f"/api/v1/ledger/transfers/{transfer.id}/reverse", json={"reason": "Test"}).status_code == 201
        )
    reversals = dict(
        db.session.execute(select(Transfer.reverses_id, Transfer.id).where(Transfer.reverses_id.is_not(None))).all()
    )
    providers = set(
        db.session.scalars(
            select(Service.provider_id)
            .join(Booking, Booking.service_id == Service.id)
            .where(Booking.id.in_([pair.booking_id, invoiced.booking_id]))
        )
    )
    login(client, OPERATOR)
    seen = {}
    for member in providers:
        tree = page(client, f"/ledger/statements/{member}/2026-11")
        for row in tree.xpath('//table[@id="buchungen"]//tr[@data-transfer-id]'):
            seen[int(row.get("data-transfer-id"))] = " ".join(row.xpath("./td")[5].text_content().split())
    assert seen[pair.id] == f"ohne Rechnung: storniert mit Buchung {reversals[pair.id]}"
    assert seen[reversals[pair.id]] == f"ohne Gutschrift: storniert Buchung {pair.id} vor der Rechnung"
    assert seen[reversals[invoiced.id]] == "Beleg folgt mit dem Monatsabschluss"
    assert "Rechnung folgt mit dem Monatsabschluss" in seen.values()
