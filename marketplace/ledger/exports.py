"""Exports for finance staff: journal and statement CSV (German Excel) and a GDPdU/"Z3" audit export (CSV
files described by index.xml, zipped). The DATEV Buchungsstapel is built from the documents, in
`marketplace.monthend.datev`.

Amounts are integer cents turned into text here and nowhere else; no float ever touches them.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

from flask import Response, stream_with_context
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace.core.timeutil import month_bounds, parse_period
from marketplace.extensions import db
from marketplace.ledger.models import Account, Posting, Transfer, TransferKind
from marketplace.ledger.queries import journal_statement
from marketplace.ledger.reports import Statement, StatementEntry, berlin_date
from marketplace.members.models import Member

BERLIN = ZoneInfo("Europe/Berlin")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def german_amount(cents: int) -> str:
    """``-123456`` -> ``"-1234,56"``: decimal comma, no thousands separator (what German Excel reads)."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(int(cents)), 100)
    return f"{sign}{whole},{rest:02d}"


def safe_text(value: Any) -> str:
    """Text for a spreadsheet cell: a leading formula character is neutralised (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def local_date(moment: datetime) -> date:
    return berlin_date(moment)


def _csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def csv_response(rows: Iterable[list[str]], filename: str) -> Response:
    """UTF-8 with BOM, `;`, CRLF: opens cleanly in German Excel; streamed row by row.

    The rows are read while the server sends them, after the view has returned: `stream_with_context`
    keeps the request (and with it the database session) open until the last row is out."""

    @stream_with_context
    def generate() -> Iterator[bytes]:
        yield "\ufeff".encode()
        for line in _csv_lines(rows):
            yield line.encode("utf-8")

    return Response(
        generate(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


JOURNAL_HEADER = [
    "Buchung",
    "Datum",
    "Monat",
    "Art",
    "Anlass",
    "Buchungstext",
    "Mitglied-Nr",
    "Mitglied",
    "Konto",
    "Betrag (EUR)",
    "Storno von",
    "Prüfsumme",
]


def journal_csv(member_id: int | None, period: str | None) -> Iterator[list[str]]:
    """Every posting (of one member and/or month), oldest first, in batches."""
    yield JOURNAL_HEADER
    statement = journal_statement(member_id, period).order_by(None).order_by(Transfer.id, Posting.id)
    for posting, transfer, account, member in db.session.execute(statement.execution_options(yield_per=2000)):
        yield [
            str(transfer.id),
            local_date(transfer.created_at).strftime("%d.%m.%Y"),
            transfer.period,
            transfer.kind.value,
            safe_text(transfer.idempotency_key),
            safe_text(transfer.description),
            str(member.id),
            safe_text(member.name),
            account.kind.value,
            german_amount(posting.amount_cents),
            str(transfer.reverses_id or ""),
            transfer.hash,
        ]


def entry_label(entry: StatementEntry) -> str:
    """What kind of line it is, in the reader's language (never a raw kind like ``vat``). Money moving says
    its direction, as the amount's sign alone would leave a clerk guessing: a payment received lowers what
    the exchange owes the member (negative), a payment made lowers what the member owes (positive)."""
    if entry.kind is TransferKind.CHARGE:
        return _("Abrechnung erhalten") if entry.cents >= 0 else _("Abrechnung gegeben")
    if entry.kind in (TransferKind.PAYMENT, TransferKind.PAYOUT) and entry.cents == 0:
        return _("Umbuchung")  # between the operator's own accounts (its payment provider's payout to the bank)
    if entry.kind is TransferKind.PAYMENT:
        return _("Zahlung erhalten") if entry.cents < 0 else _("Zahlung geleistet")
    if entry.kind is TransferKind.PAYOUT:
        return _("Auszahlung erhalten") if entry.cents < 0 else _("Auszahlung geleistet")
    labels = {TransferKind.REVERSAL: _("Storno"), TransferKind.VAT: _("Umsatzsteuer")}
    return labels[entry.kind]


def statement_csv(
    statement: Statement, documents: Mapping[int, str] | None = None, counterparties: Mapping[int, str] | None = None
) -> Iterator[list[str]]:
    """The statement as a table German Excel opens: the header in the first row, then the opening balance,
    one row per transfer with the day it was booked, its document number (the invoice, credit note or
    payment advice it belongs to; `documents` maps transfer ids to them) and booking number, and the
    closing balance. The balances are no bookings and carry no date. `counterparties` names the other party
    of transfers that have no booking to name it (VAT, payments: the document's or the payment's)."""
    documents = documents or {}
    counterparties = counterparties or {}
    yield [
        _("Datum"),
        _("Belegnummer"),
        _("Buchung"),
        _("Art"),
        _("Gegenpartei"),
        _("Leistung / Text"),
        _("Betrag (EUR)"),
    ]
    yield ["", "", "", _("Anfangssaldo"), "", "", german_amount(statement.opening_cents)]
    for entry in statement.entries:
        yield [
            f"{entry.booked_on:%d.%m.%Y}",
            safe_text(documents.get(entry.transfer_id, "")),
            str(entry.transfer_id),
            entry_label(entry),
            safe_text(entry.counterparty or counterparties.get(entry.transfer_id, "")),
            safe_text(entry.text),
            german_amount(entry.cents),
        ]
    yield ["", "", "", _("Endsaldo"), "", "", german_amount(statement.closing_cents)]


# --- GDPdU / Z3 -------------------------------------------------------------------------------------------


def _gdpdu_csv(rows: Iterable[list[str]]) -> bytes:
    return "".join(_csv_lines(rows)).encode("utf-8")


def _column(name: str, kind: str, accuracy: int | None = None) -> str:
    if kind == "numeric":
        inner = f"<Numeric><Accuracy>{accuracy}</Accuracy></Numeric>" if accuracy else "<Numeric/>"
    elif kind == "date":
        inner = "<Date><Format>DD.MM.YYYY</Format></Date>"
    else:
        inner = "<AlphaNumeric/>"
    return f"<Name>{xml_escape(name)}</Name>{inner}"


def _table(
    url: str,
    name: str,
    description: str,
    key: str,
    columns: list[tuple[str, str, int | None]],
    period: str,
    foreign: list[tuple[str, str]] = (),
) -> str:  # type: ignore[assignment]
    first, last = month_bounds(parse_period(period))
    parts = [
        "<Table>",
        f"<URL>{url}</URL><Name>{xml_escape(name)}</Name><Description>{xml_escape(description)}</Description>",
        f"<Validity><Range><From>{first:%d.%m.%Y}</From><To>{last:%d.%m.%Y}</To></Range>"
        "<Format>DD.MM.YYYY</Format></Validity>",
        "<UTF8/><DecimalSymbol>,</DecimalSymbol><DigitGroupingSymbol>.</DigitGroupingSymbol>",
        "<Range><From>2</From></Range>",
        "<VariableLength><ColumnDelimiter>;</ColumnDelimiter><RecordDelimiter>&#13;&#10;</RecordDelimiter>"
        '<TextEncapsulator>"</TextEncapsulator>',
    ]
    for name_, kind, accuracy in columns:
        tag = "VariablePrimaryKey" if name_ == key else "VariableColumn"
        parts.append(f"<{tag}>{_column(name_, kind, accuracy)}</{tag}>")
    for column, table in foreign:
        parts.append(
            f"<ForeignKey><Name>{xml_escape(column)}</Name><References>{xml_escape(table)}</References></ForeignKey>"
        )
    parts.append("</VariableLength></Table>")
    return "".join(parts)


def gdpdu_zip(period: str) -> bytes:
    """Members, accounts, the month's transfers and postings as CSV, described by index.xml (GDPdU DTD
    of 2004), zipped: what a tax auditor's IDEA reads for data access Z3.

    index.xml names the DTD ``gdpdu-01-09-2004.dtd`` as the standard asks. The DTD itself is not in the
    zip: its text is published by the tax administration's software supplier without a licence that lets
    us redistribute it; the auditor's IDEA brings it along (docs/OPERATIONS.md, "Tax audit export")."""
    members = db.session.scalars(select(Member).order_by(Member.id)).all()
    accounts = db.session.scalars(select(Account).order_by(Account.id)).all()
    transfers = db.session.scalars(select(Transfer).where(Transfer.period == period).order_by(Transfer.id)).all()
    postings = db.session.execute(
        select(Posting.id, Posting.transfer_id, Posting.account_id, Posting.amount_cents)
        .join(Transfer, Transfer.id == Posting.transfer_id)
        .where(Transfer.period == period)
        .order_by(Posting.id)
    ).all()
    files = {
        "mitglieder.csv": _gdpdu_csv(
            [["MitgliedNr", "Name", "Art", "Ort", "LeitwegID", "UStIdNr"]]
            + [
                [
                    str(m.id),
                    safe_text(m.name),
                    m.kind.value,
                    safe_text(m.city),
                    m.leitweg_id or "",
                    m.vat_identifier or "",
                ]
                for m in members
            ]
        ),
        "konten.csv": _gdpdu_csv(
            [["KontoNr", "MitgliedNr", "Kontoart"]] + [[str(a.id), str(a.member_id), a.kind.value] for a in accounts]
        ),
        "buchungen.csv": _gdpdu_csv(
            [
                [
                    "BuchungNr",
                    "Datum",
                    "Monat",
                    "Art",
                    "Anlass",
                    "Buchungstext",
                    "Betrag",
                    "StornoVon",
                    "Erfasser",
                    "VorherigePruefsumme",
                    "Pruefsumme",
                ]
            ]
            + [
                [
                    str(t.id),
                    local_date(t.created_at).strftime("%d.%m.%Y"),
                    t.period,
                    t.kind.value,
                    safe_text(t.idempotency_key),
                    safe_text(t.description),
                    german_amount(t.amount_cents),
                    str(t.reverses_id or ""),
                    str(t.created_by_id or ""),
                    t.prev_hash,
                    t.hash,
                ]
                for t in transfers
            ]
        ),
        "posten.csv": _gdpdu_csv(
            [["PostenNr", "BuchungNr", "KontoNr", "Betrag"]]
            + [[str(pid), str(tid), str(aid), german_amount(cents)] for pid, tid, aid, cents in postings]
        ),
    }
    tables = [
        _table(
            "mitglieder.csv",
            "Mitglieder",
            "Teilnehmende öffentliche Stellen",
            "MitgliedNr",
            [
                ("MitgliedNr", "numeric", None),
                ("Name", "text", None),
                ("Art", "text", None),
                ("Ort", "text", None),
                ("LeitwegID", "text", None),
                ("UStIdNr", "text", None),
            ],
            period,
        ),
        _table(
            "konten.csv",
            "Konten",
            "Konten des Hauptbuchs je Mitglied",
            "KontoNr",
            [("KontoNr", "numeric", None), ("MitgliedNr", "numeric", None), ("Kontoart", "text", None)],
            period,
            [("MitgliedNr", "Mitglieder")],
        ),
        _table(
            "buchungen.csv",
            "Buchungen",
            f"Buchungen des Monats {period} mit Hash-Kette (SHA-256)",
            "BuchungNr",
            [
                ("BuchungNr", "numeric", None),
                ("Datum", "date", None),
                ("Monat", "text", None),
                ("Art", "text", None),
                ("Anlass", "text", None),
                ("Buchungstext", "text", None),
                ("Betrag", "numeric", 2),
                ("StornoVon", "numeric", None),
                ("Erfasser", "numeric", None),
                ("VorherigePruefsumme", "text", None),
                ("Pruefsumme", "text", None),
            ],
            period,
        ),
        _table(
            "posten.csv",
            "Posten",
            "Buchungsposten (Soll positiv, Haben negativ); je Buchung Summe null",
            "PostenNr",
            [
                ("PostenNr", "numeric", None),
                ("BuchungNr", "numeric", None),
                ("KontoNr", "numeric", None),
                ("Betrag", "numeric", 2),
            ],
            period,
            [("BuchungNr", "Buchungen"), ("KontoNr", "Konten")],
        ),
    ]
    operator = next((m for m in members if m.is_operator), None)
    index = (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<!DOCTYPE DataSet SYSTEM "gdpdu-01-09-2004.dtd">\r\n'
        "<DataSet><Version>1.0</Version>"
        f"<DataSupplier><Name>{xml_escape(operator.name if operator else 'Leistungsbörse')}</Name>"
        f"<Location>{xml_escape(operator.city if operator else '')}</Location>"
        f"<Comment>Datenüberlassung (Z3) Hauptbuch der Leistungsbörse, Monat {period}</Comment></DataSupplier>"
        f"<Media><Name>Hauptbuch {period}</Name>{''.join(tables)}</Media></DataSet>\r\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.xml", index.encode("utf-8"))
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()
