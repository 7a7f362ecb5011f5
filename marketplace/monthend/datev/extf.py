"""The DATEV format: a Buchungsstapel in EXTF version 700 (format category 21, format version 13).

Line 1 is the header (31 fields: format, consultant and client, fiscal year, account length, the batch's
date range, chart), line 2 names the 125 columns, then one line per booking: `;`-separated, text in double
quotes, amounts with a decimal comma and without sign (the sign is the S/H flag), Belegdatum as TTMM (the
year is the batch's), cp1252, CRLF.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime

from marketplace.ledger.exports import BERLIN, german_amount, safe_text
from marketplace.monthend.datev.accounts import Books
from marketplace.monthend.datev.bookings import Booking

#: The 125 columns of the DATEV Buchungsstapel (format category 21, version 13).
COLUMNS = (
    ["Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs", "Basis-Umsatz"]
    + ["WKZ Basis-Umsatz", "Konto", "Gegenkonto (ohne BU-Schlüssel)", "BU-Schlüssel", "Belegdatum"]
    + ["Belegfeld 1", "Belegfeld 2", "Skonto", "Buchungstext", "Postensperre", "Diverse Adressnummer"]
    + ["Geschäftspartnerbank", "Sachverhalt", "Zinssperre", "Beleglink"]
    + [f"Beleginfo - {kind} {n}" for n in range(1, 9) for kind in ("Art", "Inhalt")]
    + ["KOST1 - Kostenstelle", "KOST2 - Kostenstelle", "Kost-Menge", "EU-Land u. UStID", "EU-Steuersatz"]
    + ["Abw. Versteuerungsart", "Sachverhalt L+L", "Funktionsergänzung L+L", "BU 49 Hauptfunktionstyp"]
    + ["BU 49 Hauptfunktionsnummer", "BU 49 Funktionsergänzung"]
    + [f"Zusatzinformation - {kind} {n}" for n in range(1, 21) for kind in ("Art", "Inhalt")]
    + ["Stück", "Gewicht", "Zahlweise", "Forderungsart", "Veranlagungsjahr", "Zugeordnete Fälligkeit"]
    + ["Skontotyp", "Auftragsnummer", "Buchungstyp", "Ust-Schlüssel (Anzahlungen)", "EU-Land (Anzahlungen)"]
    + ["Sachverhalt L+L (Anzahlungen)", "EU-Steuersatz (Anzahlungen)", "Erlöskonto (Anzahlungen)"]
    + ["Herkunft-Kz", "Buchungs GUID", "KOST-Datum", "SEPA-Mandatsreferenz", "Skontosperre"]
    + ["Gesellschaftername", "Beteiligtennummer", "Identifikationsnummer", "Zeichnernummer"]
    + ["Postensperre bis", "Bezeichnung SoBil-Sachverhalt", "Kennzeichen SoBil-Buchung", "Festschreibung"]
    + ["Leistungsdatum", "Datum Zuord. Steuerperiode", "Fälligkeit", "Generalumkehr (GU)", "Steuersatz", "Land"]
    + ["Abrechnungsreferenz", "BVV-Position", "EU-Land u. UStID (Ursprung)", "EU-Steuersatz (Ursprung)"]
    + ["Abw. Skontokonto"]
)
assert len(COLUMNS) == 125  # noqa: S101 - the format fixes the column count
_AT = {name: index for index, name in enumerate(COLUMNS)}

#: What Belegfeld 1 may hold (DATEV: letters, digits and `$ & % * + - /`, at most 36 characters).
_NOT_IN_BELEGFELD = re.compile(r"[^A-Za-z0-9$&%*+\-/]")


def text(value: str, limit: int) -> str:
    """A quoted DATEV text field; spreadsheets open these files too, so a formula start is neutralised."""
    cleaned = safe_text(value).replace('"', "'").replace("\r", " ").replace("\n", " ")[:limit]
    return f'"{cleaned}"'


def belegfeld(value: str) -> str:
    return f'"{_NOT_IN_BELEGFELD.sub("-", value)[:36]}"'


def row(booking: Booking) -> list[str]:
    cells = [""] * len(COLUMNS)
    cells[_AT["Umsatz (ohne Soll/Haben-Kz)"]] = german_amount(booking.cents)
    cells[_AT["Soll/Haben-Kennzeichen"]] = '"S"' if booking.debit else '"H"'
    cells[_AT["WKZ Umsatz"]] = '"EUR"'
    cells[_AT["Konto"]] = booking.account
    cells[_AT["Gegenkonto (ohne BU-Schlüssel)"]] = booking.contra
    cells[_AT["BU-Schlüssel"]] = f'"{booking.bu_key}"'
    cells[_AT["Belegdatum"]] = booking.day.strftime("%d%m")
    cells[_AT["Belegfeld 1"]] = belegfeld(booking.reference)
    cells[_AT["Buchungstext"]] = text(booking.text, 60)
    if booking.document:
        cells[_AT["Beleginfo - Art 1"]] = text("Beleg", 20)
        cells[_AT["Beleginfo - Inhalt 1"]] = text(booking.document, 210)
    if booking.service_date is not None:
        cells[_AT["Leistungsdatum"]] = booking.service_date.strftime("%d%m%Y")
    return cells


def header(books: Books, first: date, last: date, label: str, now: datetime | None = None) -> list[str]:
    """The 31 fields of the first line: EXTF 700, category 21 "Buchungsstapel" version 13, the batch's
    months (first to last day), the fiscal year's start and the chart."""
    start = books.fiscal_year_start_month
    fiscal_start = date(first.year if first.month >= start else first.year - 1, start, 1)
    created = (now or datetime.now(UTC)).astimezone(BERLIN)
    return [
        '"EXTF"',
        "700",
        "21",
        '"Buchungsstapel"',
        "13",
        created.strftime("%Y%m%d%H%M%S") + f"{created.microsecond // 1000:03d}",
        "",
        '"RE"',
        '"Leistungsbörse"',
        '""',
        str(books.consultant_number),
        str(books.client_number),
        fiscal_start.strftime("%Y%m%d"),
        str(books.account_length),
        first.strftime("%Y%m%d"),
        last.strftime("%Y%m%d"),
        text(label, 30),
        '""',
        "1",  # Buchungstyp: Finanzbuchführung
        "0",  # Rechnungslegungszweck: unabhängig
        "0",  # Festschreibung: the tax adviser decides
        '"EUR"',
        "",
        '""',
        "",
        "",
        f'"{books.chart}"',
        "",
        "",
        '""',
        '""',
    ]


def write(header_fields: list[str], bookings: Iterable[Booking]) -> bytes:
    lines = [";".join(header_fields), ";".join(COLUMNS)]
    lines += [";".join(row(booking)) for booking in bookings]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252", errors="replace")
