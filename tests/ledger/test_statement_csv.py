"""The member's statement CSV as German Excel reads it (pandas with sep=";", decimal=",", UTF-8 with BOM):
the header in the first row, a date and the document number on every line, labels in the reader's
language, and amounts that add up from the opening to the closing balance."""

from __future__ import annotations

import io
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.ledger.models import TransferKind
from marketplace.members.models import Member
from marketplace.settlement.models import Invoice, InvoiceLine
from tests.conftest import login

GERMAN_LABELS = {"Anfangssaldo", "Endsaldo", "Abrechnung erhalten", "Abrechnung gegeben", "Storno"}
GERMAN_LABELS |= {"Umsatzsteuer", "Zahlung erhalten", "Zahlung geleistet", "Auszahlung erhalten", "Umbuchung"}
RAW_KINDS = {kind.value for kind in TransferKind}


def _member(name: str) -> int:
    return db.session.scalar(select(Member.id).where(Member.name == name))


def _read(raw: bytes) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(raw), sep=";", decimal=",", encoding="utf-8-sig", dtype={"Belegnummer": str, "Buchung": str}
    )


@pytest.fixture
def kasse(client, demo):
    login(client, "kasse@wiesbaden.example")
    return client


def test_header_first_dates_and_document_numbers_on_every_line(kasse):
    wiesbaden = _member("Stadt Wiesbaden")
    response = kasse.get(f"/ledger/statements/{wiesbaden}/2026-08.csv")
    assert response.status_code == 200
    table = _read(response.data)
    assert list(table.columns) == [
        "Datum",
        "Belegnummer",
        "Buchung",
        "Art",
        "Gegenpartei",
        "Leistung / Text",
        "Betrag (EUR)",
    ]
    assert table["Betrag (EUR)"].dtype.kind == "f"  # Excel sees numbers, not text
    dates = pd.to_datetime(table["Datum"], format="%d.%m.%Y")
    assert table["Art"].iloc[0] == "Anfangssaldo" and table["Art"].iloc[-1] == "Endsaldo"
    assert dates.iloc[[0, -1]].isna().all()  # balances are no bookings
    body = table.iloc[1:-1]
    assert dates.iloc[1:-1].notna().all()
    assert (dates.iloc[1:-1] >= pd.Timestamp("2026-08-01")).all()  # booked in or after the month
    assert len(body) > 0
    assert set(table["Art"]) <= GERMAN_LABELS and not set(table["Art"]) & RAW_KINDS
    # every line of August is on an invoice (the month is closed): its number, as the invoice carries it
    numbers = dict(
        db.session.execute(
            select(InvoiceLine.transfer_id, Invoice.number).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        ).all()
    )
    numbers |= dict(db.session.execute(select(Invoice.vat_transfer_id, Invoice.number)).all())
    for _index, row in body.iterrows():
        assert row["Belegnummer"] == numbers[int(row["Buchung"])], row.to_dict()
    # opening + lines = closing, to the cent
    cents = [int(Decimal(str(v)).scaleb(2)) for v in table["Betrag (EUR)"]]
    assert cents[0] + sum(cents[1:-1]) == cents[-1]


def test_labels_follow_the_readers_language(kasse):
    wiesbaden = _member("Stadt Wiesbaden")
    kasse.get("/sprache/en")
    table = _read(kasse.get(f"/ledger/statements/{wiesbaden}/2026-09.csv").data)
    assert table.columns[0] == "Date" and "Amount (EUR)" in table.columns
    labels = set(table[table.columns[3]])
    assert not labels & GERMAN_LABELS and not labels & RAW_KINDS
    assert {"Opening balance", "Closing balance"} <= labels and len(labels) > 2


def test_a_payment_names_the_payment_advice(app, demo, api_as, client):
    settlement = api_as("betrieb@kopit.example").post("/api/v1/settlements", json={"period": "2026-08"}).get_json()
    api_as("pruefung@kopit.example").post(f"/api/v1/settlements/{settlement['id']}/approve")
    instruction = settlement["instructions"][0]
    from tests.conftest import csrf_token

    login(client, "betrieb@kopit.example")
    page = client.get(f"/settlements/{settlement['id']}")
    booked = client.post(
        f"/settlements/{settlement['id']}/instructions/{instruction['id']}/direct",
        data={"csrf_token": csrf_token(page.text)},
    )
    assert booked.status_code == 302
    debtor = instruction["debtor_member_id"]
    table = _read(client.get(f"/ledger/statements/{debtor}/2026-11.csv").data)
    payments = table[table["Art"] == "Zahlung geleistet"]
    assert list(payments["Belegnummer"]) == [f"ZA-2026-08-{debtor}"]
