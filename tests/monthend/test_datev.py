"""The DATEV Buchungsstapel read back as a tax adviser's import would read it.

The file is parsed here with pandas and with this test's own reading of the EXTF format, not with the
writer's code: line 1 is the header (``EXTF``, version 700, category 21 ``Buchungsstapel``, format version
13, ..., field 14 the Sachkontenlänge, 15/16 the batch's first and last day, 27 the chart), line 2 the
names of the 125 booking fields, then the bookings (``;``, decimal comma, cp1252). Its meaning is read as
DATEV reads it: the amount is booked on "Konto" with the S/H flag and the opposite on "Gegenkonto"; BU key
3 adds 19 % output VAT, 9 deducts 19 % input VAT, taking the tax out of the gross amount; the SKR's
automatic revenue accounts (SKR 03 8300-8499, SKR 04 4300-4499) take 19 % or 7 % out of whatever is booked
on them; personal accounts have one digit more than the Sachkonten (debtors 10000-69999, creditors
70000-99999).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import time
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.members.models import Member, User
from marketplace.settlement.models import Invoice, ReleaseStatus
from tests.conftest import csrf_token, login
from tests.payments.conftest import API_KEY, WEBHOOK_SECRET, fault_server  # noqa: F401 - the Stripe impostor

#: The first booking fields of a Buchungsstapel, in their order, and where the Leistungsdatum stands.
LEADING_FIELDS = [
    "Umsatz (ohne Soll/Haben-Kz)",
    "Soll/Haben-Kennzeichen",
    "WKZ Umsatz",
    "Kurs",
    "Basis-Umsatz",
    "WKZ Basis-Umsatz",
    "Konto",
    "Gegenkonto (ohne BU-Schlüssel)",
    "BU-Schlüssel",
    "Belegdatum",
    "Belegfeld 1",
    "Belegfeld 2",
    "Skonto",
    "Buchungstext",
]
LEISTUNGSDATUM_FIELD = 115  # 1-based, as the format description counts
AUTOMATIC_REVENUE = {"03": range(8300, 8500), "04": range(4300, 4500)}
OUTPUT_VAT_19, INPUT_VAT_19 = "3", "9"
TEXT = {
    "Konto": str,
    "Gegenkonto (ohne BU-Schlüssel)": str,
    "BU-Schlüssel": str,
    "Belegdatum": str,
    "Belegfeld 1": str,
    "Umsatz (ohne Soll/Haben-Kz)": str,
    "Leistungsdatum": str,
    "Beleginfo - Inhalt 1": str,
}


def read_extf(raw: bytes) -> tuple[list[str], pd.DataFrame]:
    """Header fields and the bookings of an EXTF Buchungsstapel, with `cents` (int) and `signed` (cents,
    positive for Soll on Konto) added; amounts never pass through a float."""
    text = raw.decode("cp1252")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    header = next(csv.reader(io.StringIO(text.split("\r\n")[0]), delimiter=";", quotechar='"'))
    assert header[:5] == ["EXTF", "700", "21", "Buchungsstapel", "13"]
    assert len(header) == 31
    frame = pd.read_csv(
        io.BytesIO(raw),
        sep=";",
        decimal=",",
        encoding="cp1252",
        skiprows=1,
        dtype=TEXT,
        keep_default_na=False,
    ).copy()
    columns = list(frame.columns)
    assert len(columns) == 125
    assert columns[: len(LEADING_FIELDS)] == LEADING_FIELDS
    assert columns[LEISTUNGSDATUM_FIELD - 1] == "Leistungsdatum"
    frame["cents"] = [int(Decimal(value.replace(",", ".")) * 100) for value in frame["Umsatz (ohne Soll/Haben-Kz)"]]
    assert (frame["cents"] > 0).all()
    assert set(frame["Soll/Haben-Kennzeichen"]) <= {"S", "H"}
    frame["signed"] = [
        c if flag == "S" else -c for c, flag in zip(frame["cents"], frame["Soll/Haben-Kennzeichen"], strict=True)
    ]
    assert (frame["WKZ Umsatz"] == "EUR").all()
    return header, frame


def account_sums(frame: pd.DataFrame) -> dict[str, int]:
    """Each account's balance (Soll positive) over the bookings: Konto gets the signed amount, Gegenkonto
    its opposite (BU-keyed tax is split off the Gegenkonto side, which does not matter for personal and
    money accounts)."""
    sums: dict[str, int] = defaultdict(int)
    for konto, gegen, signed in zip(
        frame["Konto"], frame["Gegenkonto (ohne BU-Schlüssel)"], frame["signed"], strict=True
    ):
        sums[konto] += signed
        sums[gegen] -= signed
    return dict(sums)


def member_id(name: str) -> int:
    return db.session.scalar(select(Member.id).where(Member.name == name))


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def bill_and_close(app, api_as, period: str, today: str | None = None) -> None:
    if today:
        app.config["MARKETPLACE_TODAY"] = today
    operator = api_as("betrieb@kopit.example")
    billed = operator.post("/api/v1/billing-runs", json={"period": period})
    assert billed.status_code in (200, 201), billed.text
    # the demo's first hours of November are still in review when November closes: billed later (audited)
    closed = operator.post(f"/api/v1/periods/{period}/close", json={"reason": "Verbrauch in Prüfung folgt"})
    assert closed.status_code == 200, closed.text


def export(client, member: int, period: str) -> bytes:
    response = client.get(f"/ledger/exports/datev/{member}/{period}.csv")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Disposition"].endswith(f'EXTF_Buchungsstapel_{member}_{period}.csv"')
    return response.data


def invoices(api_as) -> list[dict]:
    items, page = [], 1
    while True:
        body = api_as("betrieb@kopit.example").get(f"/api/v1/invoices?page={page}&per_page=100").get_json()
        items += body["items"]
        if len(items) >= body["total"]:
            return items
        page += 1


def release_all() -> None:
    """The buyers' finance staff certify every pending invoice ("sachlich und rechnerisch richtig"), which
    a settlement needs; a stand-in until the release has its operation on main."""
    for invoice in db.session.scalars(select(Invoice).where(Invoice.release_status == ReleaseStatus.PENDING)):
        invoice.release_status = ReleaseStatus.RELEASED
    db.session.commit()


def cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


@pytest.fixture
def exempt_training(app, demo, api_as):
    """ekom21 offers an exempt (E) training that Stadt Wiesbaden books from today on (2026-11-16), and
    enters Wiesbaden's November storage (taxable, S); KDZ Mainz's services are not taxable (O)."""
    provider = api_as("anbieter@ekom21.example")
    bookings = provider.get("/api/v1/bookings?as=provider").get_json()["items"]
    [storage] = [b for b in bookings if b["unit_price"] == "0.04"]
    usage = provider.post(f"/api/v1/bookings/{storage['id']}/usage", json={"period": "2026-11", "quantity": "20480"})
    assert usage.status_code == 201, usage.text
    # Wiesbaden confirms it, so November's run bills it (usage in review waits for its period's end)
    confirmed = api_as("einkauf@wiesbaden.example").post(f"/api/v1/usage/{usage.get_json()['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    created = provider.post(
        "/api/v1/services",
        json={
            "title": "Schulung Datenschutz für Beschäftigte",
            "description": "Monatliche Präsenzschulung, von der Umsatzsteuer befreit.",
            "category": "training",
            "unit": "month",
            "unit_price": "600.00",
            "vat_category": "E",
            "vat_rate": "0.00",
            "vatex_code": "VATEX-EU-132-1I",
            "capacity": 10,
            "status": "published",
        },
    )
    assert created.status_code == 201, created.text
    booking = api_as("einkauf@wiesbaden.example").post(
        "/api/v1/bookings", json={"service_id": created.get_json()["id"], "quantity": 1, "starts_on": "2026-11-16"}
    )
    assert booking.status_code == 201, booking.text
    accepted = provider.post(f"/api/v1/bookings/{booking.get_json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text


def test_documents_book_per_tax_category_on_the_counterpartys_personal_account(
    app, client, demo_september_open, api_as, exempt_training
):
    """November's close issues invoices in all three tax categories (on 2026-12-01); December is exported
    once it is closed. The provider books revenue, the buyer expense, each on the other's personal account
    with the document number in Belegfeld 1; S documents carry the VAT key, O and E revenue never sits on an
    account that would take VAT out of it."""
    bill_and_close(app, api_as, "2026-09")
    bill_and_close(app, api_as, "2026-10")
    # October's storage (taxable) was wrong: reversed in November, credited at November's close
    operator = api_as("betrieb@kopit.example")
    october = operator.get("/api/v1/ledger/transfers?period=2026-10&per_page=100").get_json()["items"]
    [storage] = {
        t["transfer_id"]: t for t in october if t["kind"] == "charge" and "Objektspeicher" in t["description"]
    }.values()
    reversed_ = operator.post(
        f"/api/v1/ledger/transfers/{storage['transfer_id']}/reverse", json={"reason": "Falsche Menge"}
    )
    assert reversed_.status_code == 201, reversed_.text
    bill_and_close(app, api_as, "2026-11", today="2026-12-01")
    bill_and_close(app, api_as, "2026-12", today="2027-01-04")
    ekom, wiesbaden = member_id("ekom21"), member_id("Stadt Wiesbaden")
    ladadi = member_id("Landkreis Darmstadt-Dieburg")
    december = [i for i in invoices(api_as) if i["issue_date"].startswith("2026-12")]
    assert {i["vat_category"] for i in december} == {"S", "O", "E"}
    assert [i["vat_category"] for i in december if i["type_code"] == "381"] == ["S"]

    login(client, "betrieb@kopit.example")
    revenue_accounts: dict[str, set[str]] = defaultdict(set)
    for member in (ekom, wiesbaden, ladadi, member_id("KDZ Mainz")):
        header, frame = read_extf(export(client, member, "2026-12"))
        assert header[13] == "4" and header[14] == "20261201" and header[15] == "20261231"
        assert header[26] == "03"
        mine = [i for i in december if member in (i["provider"]["id"], i["buyer"]["id"])]
        assert mine, member
        # every document once, by its number, on its issue date, with its gross amount
        assert sorted(frame["Belegfeld 1"]) == sorted(i["number"] for i in mine)
        for document in mine:
            [row] = frame[frame["Belegfeld 1"] == document["number"]].to_dict("records")
            assert row["cents"] == cents(document["gross"])
            assert row["Belegdatum"] == "0112"
            # the service month's last day (a credit note's: its invoice's)
            assert row["Leistungsdatum"] == "".join(reversed(document["service_end"].split("-")))
            assert document["service_end"] == ("2026-10-31" if document["type_code"] == "381" else "2026-11-30")
            credit_note = document["type_code"] == "381"
            konto, gegen, key = row["Konto"], row["Gegenkonto (ohne BU-Schlüssel)"], row["BU-Schlüssel"]
            if document["provider"]["id"] == member:
                assert konto == str(10000 + document["buyer"]["id"])  # the buyer's debtor account
                assert row["Soll/Haben-Kennzeichen"] == ("H" if credit_note else "S")
                assert int(gegen) not in AUTOMATIC_REVENUE["03"], row  # never an automatic VAT account
                if document["vat_category"] == "S":
                    assert key == OUTPUT_VAT_19
                    # DATEV takes the tax out of the gross amount: it must be the document's VAT
                    vat = (Decimal(row["cents"]) * 19 / 119).quantize(Decimal(1), rounding=ROUND_HALF_UP)
                    assert vat == cents(document["vat"]) and vat > 0
                else:
                    assert key == "" and cents(document["vat"]) == 0
                    assert cents(document["gross"]) == cents(document["net"])
            else:
                assert konto == str(70000 + document["provider"]["id"])  # the provider's creditor account
                assert row["Soll/Haben-Kennzeichen"] == ("S" if credit_note else "H")
                assert key == (INPUT_VAT_19 if document["vat_category"] == "S" else "")  # input VAT only
        for document in mine:
            if document["provider"]["id"] == member:
                [account] = frame[frame["Belegfeld 1"] == document["number"]]["Gegenkonto (ohne BU-Schlüssel)"]
                revenue_accounts[document["vat_category"]].add(account)
    # one revenue account per tax category, none of them automatic
    assert revenue_accounts == {"S": {"8200"}, "O": {"8290"}, "E": {"8110"}}


def test_skr04_and_per_member_overrides(app, client, demo_september_open, api_as, exempt_training):
    """One member keeps SKR 04 books with its own consultant and client numbers and its own account for a
    counterparty; the others stay on the SKR 03 default."""
    bill_and_close(app, api_as, "2026-09")
    bill_and_close(app, api_as, "2026-10")
    bill_and_close(app, api_as, "2026-11", today="2026-12-01")
    bill_and_close(app, api_as, "2026-12", today="2027-01-04")
    ekom, wiesbaden = member_id("ekom21"), member_id("Stadt Wiesbaden")
    app.config["DATEV_ACCOUNTS"] = {
        "members": {
            str(wiesbaden): {
                "chart": "04",
                "consultant_number": 29098,
                "client_number": 55003,
                "counterparty_accounts": {str(ekom): {"creditor": "70777"}},
            }
        }
    }
    login(client, "kasse@wiesbaden.example")
    header, frame = read_extf(export(client, wiesbaden, "2026-12"))
    assert header[26] == "04" and header[10:12] == ["29098", "55003"]
    assert set(frame["Konto"]) == {"70777", str(70000 + member_id("KDZ Mainz"))}
    assert set(frame["Gegenkonto (ohne BU-Schlüssel)"]) == {"6300"}  # expense, no automatic function
    assert set(frame["BU-Schlüssel"]) == {INPUT_VAT_19, ""}
    client = app.test_client()
    login(client, "betrieb@kopit.example")
    kdz = member_id("KDZ Mainz")
    header, frame = read_extf(export(client, ekom, "2026-12"))
    assert header[26] == "03"
    assert set(frame["Gegenkonto (ohne BU-Schlüssel)"]) == {"8200", "8110"}
    app.config["DATEV_ACCOUNTS"] = {"chart": "04"}
    revenue = set()
    for provider in (ekom, kdz):
        header, frame = read_extf(export(client, provider, "2026-12"))
        assert header[26] == "04"
        assert set(frame["Konto"]) <= {str(10000 + wiesbaden), str(10000 + member_id("Landkreis Darmstadt-Dieburg"))}
        revenue |= set(frame["Gegenkonto (ohne BU-Schlüssel)"])
    assert revenue == {"4200", "4290", "4110"}
    for account in revenue:
        assert int(account) not in AUTOMATIC_REVENUE["04"]


def _signed_webhook(client, event: dict) -> None:
    raw = json.dumps(event).encode()
    now = int(time.time())
    signature = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.".encode() + raw, hashlib.sha256).hexdigest()
    response = client.post(
        "/api/v1/payments/stripe/webhook",
        data=raw,
        headers={"Stripe-Signature": f"t={now},v1={signature}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


def test_a_settled_month_clears_every_personal_account_per_counterparty(
    app,
    client,
    every_buyer_debits,
    demo_september_open,
    api_as,
    fault_server,  # noqa: F811
):
    """October is settled: one instruction paid directly, the rest collected by SEPA debit through the
    operator, who pays the creditors out. In November's books of every member each personal account and the
    exchange's clearing account are back at zero although netting paid other members than the
    counterparties; the operator's books show the debits, the payment provider's payout and the payouts."""
    app.config.update(STRIPE_API_BASE=fault_server.url, STRIPE_API_KEY=API_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    bill_and_close(app, api_as, "2026-09")
    bill_and_close(app, api_as, "2026-10")
    release_all()
    operator = api_as("betrieb@kopit.example")
    settlement = operator.post("/api/v1/settlements", json={"period": "2026-10"}).get_json()
    approved = api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    assert approved.status_code == 200, approved.text
    positions = {p["member_id"]: cents(p["amount"]) for p in settlement["positions"]}
    assert len(positions) >= 3 and len(settlement["instructions"]) >= 2

    direct = settlement["instructions"][0]
    login(client, "betrieb@kopit.example")
    page = client.get(f"/settlements/{settlement['id']}")
    booked = client.post(
        f"/settlements/{settlement['id']}/instructions/{direct['id']}/direct",
        data={"csrf_token": csrf_token(page.text)},
    )
    assert booked.status_code == 302
    payments = operator.post(f"/api/v1/settlements/{settlement['id']}/collect").get_json()["payments"]
    assert payments
    for payment in payments:
        intent = payment["payment_intent_id"]
        _signed_webhook(
            client,
            {
                "id": f"evt_{intent}",
                "type": "payment_intent.succeeded",
                "data": {"object": {"id": intent, "amount": cents(payment["amount"])}},
            },
        )
    collected_cents = sum(cents(p["amount"]) for p in payments)
    _signed_webhook(
        client,
        {
            "id": "evt_payout_1",
            "type": "payout.paid",
            "data": {"object": {"id": "po_1", "amount": collected_cents}},
        },
    )
    assert operator.get(f"/api/v1/settlements/{settlement['id']}").get_json()["status"] == "paid"

    bill_and_close(app, api_as, "2026-11", today="2026-12-01")
    documents = [d for d in invoices(api_as) if d["period"] <= "2026-10"]
    for member, position in positions.items():
        _header, frame = read_extf(export(client, member, "2026-11"))
        sums = account_sums(frame)
        personal = {account: total for account, total in sums.items() if len(account) == 5}
        assert personal, member
        assert personal == {account: 0 for account in personal}, (member, personal)
        assert sums["1360"] == 0  # the exchange's clearing account: advice against payments
        # the advice books every document of the settled months (September's and October's, issued on
        # 2026-11-16, and August's of the same day) under the advice number
        advice = f"ZA-2026-10-{member}"
        advice_rows = frame[(frame["Belegfeld 1"] == advice) & (frame["Beleginfo - Inhalt 1"] != "")]
        own_documents = {d["number"] for d in documents if member in (d["provider"]["id"], d["buyer"]["id"])}
        assert set(advice_rows["Beleginfo - Inhalt 1"]) == own_documents
        # the payment or receipt on the bank equals the position
        bank = frame[(frame["Belegfeld 1"] == advice) & (frame["Gegenkonto (ohne BU-Schlüssel)"] == "1200")]
        assert sum(bank["signed"]) == -position  # Soll on the clearing account: what the member paid
        # documents themselves stay under their own numbers
        assert set(frame[frame["Beleginfo - Inhalt 1"] == ""]["Belegfeld 1"]) >= own_documents - {advice}

    kopit = member_id("KOPIT eG")
    _header, frame = read_extf(export(client, kopit, "2026-11"))
    sums = account_sums(frame)
    paid_out = sum(a for a in positions.values() if a > 0) - cents(direct["amount"])
    assert collected_cents == paid_out > 0
    assert sums["1361"] == 0  # collected by debit, then paid out by the payment provider to the bank
    assert sums["1590"] == 0  # what was collected for the creditors went to them
    assert sums["1200"] == 0  # in from the payment provider, out to the creditors
    debits = frame[frame["Konto"] == "1361"]
    assert sorted(debits[debits["Soll/Haben-Kennzeichen"] == "S"]["cents"]) == sorted(
        cents(p["amount"]) for p in payments
    )
    assert len(frame[(frame["Konto"] == "1200") & (frame["Gegenkonto (ohne BU-Schlüssel)"] == "1361")]) == 1


def test_only_closed_months_and_only_own_books(app, client, demo):
    login(client, "betrieb@kopit.example")
    wiesbaden, kdz = member_id("Stadt Wiesbaden"), member_id("KDZ Mainz")
    # an open month has no batch yet: the finance page says why instead of a file with half a month
    refused = client.get(f"/ledger/exports/datev/{wiesbaden}/2026-10.csv", follow_redirects=True)
    assert refused.status_code == 200 and refused.mimetype == "text/html"
    assert "Den DATEV-Buchungsstapel für 2026-10 gibt es erst, wenn der Monat abgeschlossen ist." in refused.text
    assert client.get(f"/ledger/exports/datev/{wiesbaden}/2026-13.csv").status_code == 404
    # a closed month with nothing dated in it is an empty batch, not an error
    header, frame = read_extf(export(client, wiesbaden, "2026-08"))
    assert header[14:16] == ["20260801", "20260831"] and frame.empty
    client = app.test_client()
    login(client, "kasse@wiesbaden.example")
    assert client.get(f"/ledger/exports/datev/{kdz}/2026-08.csv").status_code == 404
    assert client.get(f"/ledger/exports/datev/{wiesbaden}/2026-08.csv").status_code == 200
    client = app.test_client()
    login(client, "einkauf@wiesbaden.example")
    assert client.get(f"/ledger/exports/datev/{wiesbaden}/2026-08.csv").status_code in (403, 404)
