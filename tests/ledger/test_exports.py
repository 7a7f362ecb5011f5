"""Exports for finance staff: journal CSV for German Excel, DATEV Buchungsstapel, GDPdU/Z3 zip."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from sqlalchemy import select
from stdnum.de import vat as de_vat

from marketplace.extensions import db
from marketplace.ledger.exports import german_amount, safe_text
from marketplace.members.models import Member
from tests.conftest import login


@pytest.fixture
def operator(client, demo):
    login(client, "betrieb@kopit.example")
    return client


def member_id(name: str) -> int:
    return db.session.scalar(select(Member.id).where(Member.name == name))


@pytest.mark.parametrize(
    ("cents", "text"), [(0, "0,00"), (5, "0,05"), (-5, "-0,05"), (123456, "1234,56"), (-100000000, "-1000000,00")]
)
def test_german_amounts_are_exact(cents, text):
    assert german_amount(cents) == text


def test_formula_cells_are_neutralised():
    assert safe_text("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_text("Stadt") == "Stadt"


def test_journal_csv_opens_in_german_excel(operator):
    response = operator.get("/ledger/exports/journal.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.data
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:3] == ["Buchung", "Datum", "Monat"]
    body = [row for row in rows[1:] if row]
    assert len(body) == 20
    first = body[0]
    assert first[0] == "1" and first[2] == "2026-08"
    assert first[9] in ("-356,00", "356,00")
    assert sum(int(row[9].replace(",", "")) for row in body) == 0


def test_journal_csv_follows_the_filters(operator):
    ladadi = member_id("Landkreis Darmstadt-Dieburg")
    text = operator.get(f"/ledger/exports/journal.csv?member_id={ladadi}&period=2026-09").data.decode("utf-8-sig")
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=";")][1:]
    rows = [row for row in rows if row]
    assert len(rows) == 3
    assert {row[7] for row in rows} == {"Landkreis Darmstadt-Dieburg"}
    assert {row[2] for row in rows} == {"2026-09"}


def test_member_finance_exports_only_its_own_journal(client, demo):
    login(client, "kasse@wiesbaden.example")
    other = member_id("KDZ Mainz")
    # another member's journal is not found (as in the API), not silently replaced by the own one
    assert client.get(f"/ledger/exports/journal.csv?member_id={other}").status_code == 404
    text = client.get("/ledger/exports/journal.csv").data.decode("utf-8-sig")
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=";")][1:]
    assert {row[7] for row in rows if row} == {"Stadt Wiesbaden"}
    assert client.get(f"/ledger/exports/datev/{other}/2026-09.csv").status_code == 404
    assert client.get("/ledger/exports/gdpdu/2026-09.zip").status_code == 403


def test_gdpdu_export_is_a_zip_with_index_xml(operator):
    response = operator.get("/ledger/exports/gdpdu/2026-09.zip")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = set(archive.namelist())
    assert names == {"index.xml", "mitglieder.csv", "konten.csv", "buchungen.csv", "posten.csv"}
    index = ElementTree.fromstring(archive.read("index.xml"))  # noqa: S314 - our own export
    tables = index.findall("./Media/Table")
    assert {t.findtext("URL") for t in tables} == names - {"index.xml"}
    for table in tables:
        rows = archive.read(table.findtext("URL")).decode("utf-8").split("\r\n")
        header = rows[0].split(";")
        declared = [
            c.findtext("Name")
            for c in table.find("VariableLength")
            if c.tag in ("VariablePrimaryKey", "VariableColumn")
        ]
        assert declared == header, table.findtext("URL")
        assert table.findtext("DecimalSymbol") == ","
        assert table.find("UTF8") is not None
    postings = [line.split(";") for line in archive.read("posten.csv").decode().split("\r\n")[1:] if line]
    assert len(postings) == 14
    assert sum(int(p[3].replace(",", "")) for p in postings) == 0
    transfers = [line.split(";") for line in archive.read("buchungen.csv").decode().split("\r\n")[1:] if line]
    assert [t[0] for t in transfers] == ["4", "5", "6", "7", "8", "9", "10"]


def test_gdpdu_members_carry_vat_ids_with_their_country_prefix_and_index_names_the_dtd(operator):
    archive = zipfile.ZipFile(io.BytesIO(operator.get("/ledger/exports/gdpdu/2026-09.zip").data))
    rows = list(csv.DictReader(io.StringIO(archive.read("mitglieder.csv").decode("utf-8")), delimiter=";"))
    vat_ids = {row["Name"]: row["UStIdNr"] for row in rows if row["UStIdNr"]}
    stored = {m.name: m.vat_id for m in db.session.scalars(select(Member).where(Member.vat_id.is_not(None)))}
    assert stored and any(not v.startswith("DE") for v in stored.values())  # stored compact, as entered
    assert set(vat_ids) == set(stored)
    for name, vat_id in vat_ids.items():
        assert vat_id == f"DE{stored[name].removeprefix('DE')}"
        assert de_vat.is_valid(vat_id)
    # index.xml names the DTD; its text is not ours to ship (docs/OPERATIONS.md says where the auditor has it)
    assert b'<!DOCTYPE DataSet SYSTEM "gdpdu-01-09-2004.dtd">' in archive.read("index.xml")
    operations = (Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md").read_text()
    assert "gdpdu-01-09-2004.dtd" in operations


FORMULA_TITLE = '=HYPERLINK("http://x")'


def test_a_formula_in_a_service_title_is_neutralised_in_every_export(client, demo, api_as):
    """A provider names its service like a spreadsheet formula; once billed, its title is the transfer's
    text in the journal and the GDPdU buchungen.csv (the DATEV Buchungstext names documents, not services):
    a cell that would start with `=` starts with an apostrophe instead, everywhere alike."""
    provider, operator_api = api_as("anbieter@kdz-mainz.example"), api_as("betrieb@kopit.example")
    services = provider.get("/api/v1/services?q=Virtueller Server").get_json()["items"]
    service = next(s for s in services if s["title"] == "Virtueller Server (Standard)")
    renamed = provider.patch(f"/api/v1/services/{service['id']}", json={"title": FORMULA_TITLE})
    assert renamed.status_code == 200, renamed.text
    billed = operator_api.post("/api/v1/billing-runs", json={"period": "2026-10"})
    assert billed.status_code == 201, billed.text
    login(client, "betrieb@kopit.example")

    journal = client.get("/ledger/exports/journal.csv?period=2026-10").data.decode("utf-8-sig")
    texts = [row[5] for row in csv.reader(io.StringIO(journal, newline=""), delimiter=";")][1:]
    neutralised = [text for text in texts if "HYPERLINK" in text]
    assert neutralised and all(text.startswith("'" + FORMULA_TITLE) for text in neutralised)

    archive = zipfile.ZipFile(io.BytesIO(client.get("/ledger/exports/gdpdu/2026-10.zip").data))
    rows = list(csv.reader(io.StringIO(archive.read("buchungen.csv").decode("utf-8"), newline=""), delimiter=";"))
    column = rows[0].index("Buchungstext")
    gdpdu_texts = [row[column] for row in rows[1:] if "HYPERLINK" in row[column]]
    assert gdpdu_texts and all(text.startswith("'" + FORMULA_TITLE) for text in gdpdu_texts)
    for row in rows[1:]:
        assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), row
