"""Streamed CSV downloads fetched from a real server, to the last byte.

The test client reads a streamed body inside the test's application context, where a generator that
needs the database after the view returned still works; a real server does not have that context.
"""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.ledger.models import Posting, Transfer, TransferKind
from marketplace.ledger.operations import TransferSpec, account_of, post_transfers
from marketplace.members.models import Member
from marketplace.members.queries import user_by_email

#: More postings than the export reads from the database at once (`yield_per=2000`), so that the
#: download spans several fetches, each made while the server is already sending.
EXTRA_TRANSFERS = 1100


def _member(name: str) -> Member:
    return db.session.scalar(select(Member).where(Member.name == name))


def _many_transfers() -> None:
    buyer = account_of(_member("Stadt Wiesbaden").id)
    provider = account_of(_member("KDZ Mainz").id)
    specs = [
        TransferSpec(
            f"test:stream:{n}",
            TransferKind.CHARGE,
            "2026-11",
            f"Nachweis {n}",
            ((buyer.id, -(100 + n)), (provider.id, 100 + n)),
        )
        for n in range(EXTRA_TRANSFERS)
    ]
    post_transfers(specs, user_by_email("betrieb@kopit.example"))
    db.session.commit()


def _rows(raw: bytes) -> list[list[str]]:
    assert raw.startswith(b"\xef\xbb\xbf")
    return [row for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";") if row]


def test_journal_csv_streams_every_transfer_over_a_real_server(live_server, demo):
    _many_transfers()
    expected_transfers = set(db.session.scalars(select(Transfer.id)))
    expected_postings = len(db.session.scalars(select(Posting.id)).all())
    assert expected_postings > 2000

    http = live_server.login("betrieb@kopit.example")
    with http.get(live_server.url + "/ledger/exports/journal.csv", stream=True) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        assert response.headers.get("Transfer-Encoding") == "chunked"  # really streamed, not buffered
        raw = b"".join(response.iter_content(chunk_size=None))

    rows = _rows(raw)
    assert rows[0][:3] == ["Buchung", "Datum", "Monat"]
    body = rows[1:]
    assert len(body) == expected_postings
    assert {int(row[0]) for row in body} == expected_transfers
    assert sum(int(row[9].replace(",", "")) for row in body) == 0
    assert body[-1][5] == f"Nachweis {EXTRA_TRANSFERS - 1}"


def test_statement_csv_streams_over_a_real_server(live_server, demo):
    wiesbaden = _member("Stadt Wiesbaden").id
    http = live_server.login("kasse@wiesbaden.example")
    response = http.get(f"{live_server.url}/ledger/statements/{wiesbaden}/2026-09.csv")
    assert response.status_code == 200
    rows = _rows(response.content)
    assert rows[0][:4] == ["Datum", "Belegnummer", "Buchung", "Art"]
    assert rows[-1][3] == "Endsaldo"
