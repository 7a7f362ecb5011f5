"""Servers for the payment tests: localstripe (started once per session, in memory, on a free port), an
inbox that receives its webhooks, and a Stripe impostor that misbehaves on purpose."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

WEBHOOK_SECRET = "whsec_test_only_0123456789abcdef"
API_KEY = "sk_test_leistungsboerse"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Inbox:
    """Requests an HTTP server received: (headers, raw body)."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[tuple[dict[str, str], bytes, dict[str, Any]]]:
        with self.lock:
            return [(h, b, json.loads(b)) for h, b in self.received]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], count: int = 1, timeout: float = 15.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [item for item in self.events() if predicate(item[2])]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"expected {count} webhook(s), got {[e[2]['type'] for e in self.events()]}")


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="session")
def webhook_inbox() -> Iterator[Inbox]:
    inbox = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with inbox.lock:
                inbox.received.append((dict(self.headers.items()), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server, inbox.url = _serve(Handler)
    yield inbox
    server.shutdown()


@pytest.fixture(scope="session")
def localstripe(webhook_inbox: Inbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """localstripe on a free local port (with the API-version shim), its webhooks going to the inbox."""
    port = free_port()
    log = (tmp_path_factory.mktemp("localstripe") / "localstripe.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("localstripe_shim.py")), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path_factory.mktemp("localstripe-cwd"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{base}/v1/customers", auth=(API_KEY, ""), timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("localstripe did not start")
            time.sleep(0.2)
        requests.post(
            f"{base}/_config/webhooks/leistungsboerse",
            data={"url": webhook_inbox.url + "/stripe", "secret": WEBHOOK_SECRET},
            timeout=5,
        ).raise_for_status()
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def stripe_config(app: Any, localstripe: str) -> str:
    app.config.update(STRIPE_API_BASE=localstripe, STRIPE_API_KEY=API_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return localstripe


@dataclass
class FaultServer:
    """Answers /v1/payment_intents according to `plan` (one step per request, then "ok"), like Stripe
    otherwise: an Idempotency-Key seen before returns the same PaymentIntent."""

    url: str = ""
    plan: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hang_seconds: float = 1.0
    #: Customers Stripe no longer knows: retrieving one answers it as deleted, updating one is a 404.
    lost_customers: set[str] = field(default_factory=set)

    @property
    def intent_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/v1/payment_intents"]


def _no_such_customer(customer: str, param: str | None = None) -> dict[str, Any]:
    error = {"type": "invalid_request_error", "code": "resource_missing", "message": f"No such customer: '{customer}'"}
    return {"error": {**error, "param": param} if param else error}


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    fault = FaultServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            key = self.headers.get("Idempotency-Key")
            with fault.lock:
                fault.requests.append(
                    {
                        "path": self.path,
                        "key": key,
                        "auth": self.headers.get("Authorization"),
                        "version": self.headers.get("Stripe-Version"),
                        "form": dict(parse_qsl(body)),
                    }
                )
                step = fault.plan.pop(0) if self.path == "/v1/payment_intents" and fault.plan else "ok"
            if step == "timeout":
                time.sleep(fault.hang_seconds)
                self.close_connection = True
                return
            if step == "500":
                return self._json(500, {"error": {"type": "api_error", "message": "Interner Fehler"}})
            if step == "500-no-retry":
                error = {"error": {"type": "api_error", "message": "Bitte nicht wiederholen"}}
                return self._json(500, error, {"Stripe-Should-Retry": "false"})
            if step == "409":
                error = {"error": {"type": "idempotency_error", "message": "Anfrage läuft noch"}}
                return self._json(409, error)
            if step == "429":
                error = {"error": {"type": "invalid_request_error", "code": "lock_timeout", "message": "Zu viele"}}
                return self._json(429, error, {"Stripe-Should-Retry": "true"})
            if step == "429-plain":
                return self._json(429, {"error": {"type": "invalid_request_error", "message": "Zu viele"}})
            if step == "402":
                error = {"error": {"type": "card_error", "code": "payment_method_declined", "message": "Abgelehnt"}}
                return self._json(402, error)
            if step == "no-such-customer":  # Stripe lost the customer just now (as real Stripe answers it)
                customer = fault.requests[-1]["form"].get("customer", "")
                with fault.lock:
                    fault.lost_customers.add(customer)
                return self._json(400, _no_such_customer(customer, "customer"))
            if step == "no-such-payment-method":
                method = fault.requests[-1]["form"].get("payment_method", "")
                error = {"type": "invalid_request_error", "code": "resource_missing", "param": "payment_method"}
                return self._json(400, {"error": {**error, "message": f"No such PaymentMethod: '{method}'"}})
            if self.path.startswith("/v1/customers/"):  # an update
                customer = self.path.split("/")[3]
                if customer in fault.lost_customers:
                    return self._json(404, _no_such_customer(customer))
                return self._json(200, {"id": customer, "object": "customer"})
            if self.path == "/v1/payment_intents":
                with fault.lock:
                    if key not in fault.intents:
                        fault.intents[key] = {
                            "id": f"pi_fault_{len(fault.intents) + 1}",
                            "object": "payment_intent",
                            "amount": int(fault.requests[-1]["form"].get("amount", 0)),
                            "status": "processing",
                        }
                    intent = fault.intents[key]
                return self._json(200, intent)
            if self.path.endswith("/attach"):
                return self._json(200, {"id": self.path.split("/")[3], "object": "payment_method"})
            prefix = "cus" if self.path == "/v1/customers" else "pm"
            return self._json(200, {"id": f"{prefix}_fault_{key}", "object": "customer"})

        def do_GET(self) -> None:
            with fault.lock:
                fault.requests.append({"path": self.path, "method": "GET", "key": None, "form": {}})
            if self.path.startswith("/v1/customers/"):
                customer = self.path.split("/")[3]
                if customer in fault.lost_customers:
                    return self._json(200, {"id": customer, "object": "customer", "deleted": True})
                return self._json(200, {"id": customer, "object": "customer"})
            return self._json(404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}})

        def log_message(self, *args: Any) -> None:
            pass

    server, fault.url = _serve(Handler)
    yield fault
    server.shutdown()


#: The account of Stadt Wiesbaden's mandate in `demo_landkreis_transfers`: another than the one it receives
#: money on (its `Member.iban`).
MANDATE_IBAN = "DE30512108009988776655"
WIESBADEN, LADADI = "Stadt Wiesbaden", "Landkreis Darmstadt-Dieburg"


@pytest.fixture
def demo_landkreis_transfers(app: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """The demo with the Landkreis paying by SEPA transfer (58) from the start and Stadt Wiesbaden by the
    operator's debit (59) from an account of its own for the mandate; the invoices the demo issues say so."""
    import marketplace.seed as seed
    from marketplace.members.models import PaymentWay
    from tests.conftest import seed_once

    profiles = {
        **seed.INVOICE_PROFILES,
        WIESBADEN: {**seed.INVOICE_PROFILES[WIESBADEN], "mandate_iban": MANDATE_IBAN},
        LADADI: {"payment_way": PaymentWay.TRANSFER},
    }
    monkeypatch.setattr(seed, "INVOICE_PROFILES", profiles)
    seed_once(request, "demo_landkreis_transfers", seed.seed_demo_data)


# Every invoice and credit note produced in these tests is validated too (XSD, EN 16931, German rules).
from tests.settlement.conftest import einvoice_validator, every_document_is_valid_xrechnung  # noqa: E402, F401
