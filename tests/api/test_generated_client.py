"""A client generated from the served OpenAPI document with openapi-python-client walks the demo's month.

What another system's developers do: fetch `GET /api/v1/openapi.json`, generate a Python client with the
most common generator, install it and call the API with it. The generator runs offline here (into a
temporary folder, with the venv's `ruff` for its formatting hook) and must not warn about anything it could
not generate; the walk then runs against a real server on a free port: list services, request a booking as
the buyer, accept it as the provider, bill and close a month as the operator (the close without a body, which
the document marks optional), read balances, list invoices and download an XRechnung as a file.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from lxml import etree
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.members.models import Member, Role

PACKAGE = "leistungsboerse_api_client"
UBL_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"


def _generate(document_url: str, target: Path) -> Path:
    """Run openapi-python-client on the served document; the project folder it made."""
    document = requests.get(document_url, timeout=30)
    assert document.status_code == 200
    source = target / "openapi.json"
    source.write_bytes(document.content)
    venv_bin = str(Path(sys.executable).parent)  # its post-hooks call `ruff`, which the venv has
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(source),
            "--output-path",
            str(target / "client"),
            "--fail-on-warning",
        ],
        cwd=target,
        env={**os.environ, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout  # e.g. a response it could not describe
    return target / "client"


@pytest.fixture
def generated(live_server: Any, tmp_path: Path) -> Iterator[tuple[ModuleType, Path, float]]:
    started = time.monotonic()
    project = _generate(live_server.url + "/api/v1/openapi.json", tmp_path)
    seconds = time.monotonic() - started
    sys.path.insert(0, str(project))
    try:
        yield importlib.import_module(PACKAGE), project, seconds
    finally:
        sys.path.remove(str(project))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _api(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def test_a_generated_client_walks_the_month_and_downloads_an_xrechnung(
    live_server, demo, token_for, create_user, generated
):
    _package, project, generation_seconds = generated
    # an installable, uninstallable distribution: an ASCII project name pip can normalise
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    name = meta.get("project", {}).get("name") or meta["tool"]["poetry"]["name"]
    assert name == "leistungsboerse-api-client"
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name)

    ladadi = db.session.scalar(select(Member).where(Member.name == "Landkreis Darmstadt-Dieburg"))
    create_user(ladadi, "kasse.test@ladadi.example", [Role.MEMBER_FINANCE])
    tokens = {
        who: token_for(email)
        for who, email in {
            "buyer": "einkauf@wiesbaden.example",
            "provider": "anbieter@kdz-mainz.example",
            "operator": "betrieb@kopit.example",
            "finance": "kasse@wiesbaden.example",
            "stranger": "kasse.test@ladadi.example",
        }.items()
    }
    db.session.remove()  # the walk goes through HTTP only: no transaction of the test may hold SQLite's lock

    client_module = importlib.import_module(f"{PACKAGE}.client")
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")

    def client(who: str) -> Any:
        return client_module.AuthenticatedClient(
            base_url=live_server.url, token=tokens[who], raise_on_unexpected_status=True
        )

    buyer, provider, operator, finance = (client(who) for who in ("buyer", "provider", "operator", "finance"))
    started = time.monotonic()

    # the catalogue, as the buyer: a page with RFC 8288 links
    listed = _api("services.list_services").sync_detailed(client=buyer, per_page=2)
    assert listed.status_code == 200
    assert 'rel="next"' in listed.headers["link"] and 'rel="last"' in listed.headers["link"]
    services = _api("services.list_services").sync(client=buyer, per_page=100)
    assert isinstance(services, models.ServicePage) and services.total >= 1
    service = next(s for s in services.items if s.title == "Virtueller Server (Standard)")
    assert service.provider.name == "KDZ Mainz" and service.unit == models.Unit.MONTH

    # request as the buyer, accept as the provider
    requested = _api("bookings.create_booking").sync(
        client=buyer,
        body=models.BookingCreate(
            service_id=service.id, quantity=2, starts_on=datetime.date(2026, 11, 17), note="Generierter Client"
        ),
    )
    assert isinstance(requested, models.BookingOut), requested
    assert requested.status == models.BookingStatus.REQUESTED
    accepted = _api("bookings.accept").sync(requested.id, client=provider)
    assert isinstance(accepted, models.BookingOut), accepted
    assert accepted.status == models.BookingStatus.ACCEPTED and accepted.unit_price == service.unit_price

    # bill the current month (the new booking) and last month, then close last month without a body
    billing = _api("billing.create_billing_run")
    november = billing.sync(client=operator, body=models.BillingRunCreate(period="2026-11"))
    assert isinstance(november, models.BillingRunOut), november
    assert november.transfers_created >= 1
    october = billing.sync(client=operator, body=models.BillingRunCreate(period="2026-10"))
    assert isinstance(october, models.BillingRunOut), october
    closed = _api("ledger.close_ledger_period").sync("2026-10", client=operator)
    assert isinstance(closed, models.PeriodOut), closed
    assert closed.status == "closed"

    # balances: the operator sees all, summing to zero
    balances = _api("ledger.balances").sync(client=operator)
    assert isinstance(balances, models.BalancesOut), balances
    assert balances.total == "0.00" and len(balances.items) >= 5

    # the buyer's finance staff lists its invoices of October and downloads one as XRechnung
    invoices = _api("invoices.list_invoices").sync_detailed(client=finance, period="2026-10")
    assert invoices.status_code == 200 and 'rel="first"' in invoices.headers["link"]
    page = invoices.parsed
    assert isinstance(page, models.InvoicePage) and page.total >= 1, page
    invoice = page.items[0]
    assert invoice.buyer.name == "Stadt Wiesbaden"
    download = _api("invoices.invoice_xrechnung").sync_detailed(invoice.id, client=finance)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/xml")
    assert isinstance(download.parsed, types.File)
    xml = etree.fromstring(download.parsed.payload.read())
    assert etree.QName(xml).localname == "Invoice"
    assert xml.findtext(f"{{{UBL_CBC}}}ID") == invoice.number

    # another member's invoice is a documented 404 (a Problem), not an exception
    other = _api("invoices.invoice_xrechnung").sync(invoice.id, client=client("stranger"))
    assert isinstance(other, models.Problem) and other.status == 404

    walk_seconds = time.monotonic() - started
    print(json.dumps({"generation_seconds": round(generation_seconds, 2), "walk_seconds": round(walk_seconds, 2)}))
    assert walk_seconds < 30, walk_seconds
