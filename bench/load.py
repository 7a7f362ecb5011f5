"""Load test: catalogue browsing, booking requests and ledger reads for 60 s against PostgreSQL and gunicorn.

    .venv/bin/python bench/load.py [--duration 60] [--baseline-duration 20] [--concurrency 8] [--workers 2]
                                   [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_quality]
                                   [--write-doc]

What it does, all in one run:
1. builds a fresh schema (`load` by default, selected through `search_path`, so the database's other schemas are
   untouched), runs the migrations, seeds the demo data and adds `--services` more published services;
2. starts gunicorn twice with the same configuration (`--workers` sync workers): the application (`wsgi:app`)
   and a hello-world Flask app, the baseline for what this machine and server can do at all;
3. measures the baseline for `--baseline-duration` seconds, then the mix for `--duration` seconds, with
   `--concurrency` client threads, each a logged-in person with its own session (keep-alive):
   - buyers (Stadt Wiesbaden, Landkreis Darmstadt-Dieburg): browse and search the catalogue, open services,
     request one (GET the page for the CSRF token, POST the form, expect the redirect), list their bookings;
   - provider (KDZ Mainz): its offers and incoming requests;
   - finance (operator and Stadt Wiesbaden): the ledger page (balances and journal);
4. prints requests/s, p50/p95/p99 per kind and overall, and the errors (any status other than the expected,
   any exception); exits 1 if there was an error. `--write-doc` replaces the "## Load" section of
   docs/PERFORMANCE.md with the figures.

A pure-Python client with threads: it shares the machine's cores with gunicorn and PostgreSQL, so the absolute
figures are lower bounds; the ratio to the baseline measured in the same run is what carries over.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

from servers import start_gunicorn  # noqa: E402 - bench/ is the script's own folder

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/test_quality"
TODAY = "2026-11-16"
PASSWORD = "demo-passwort"  # noqa: S105 - the documented demo login of `flask seed-demo`
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SERVICE_LINK = re.compile(r'href="/services/(\d+)"')

#: The hello-world baseline, served by the same gunicorn configuration: `gunicorn --chdir bench load:hello`.
hello = Flask("hello")


@hello.get("/")
def hello_world() -> str:
    return "Hallo Welt"


# ---------------------------------------------------------------- setup


def _with_schema(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def prepare_database(url: str, schema: str, extra_services: int) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    schema_url = _with_schema(url, schema)
    env = _app_env(schema_url)
    flask = str(VENV_BIN / "flask")
    subprocess.run([flask, "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([flask, "--app", "wsgi", "seed-demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    if extra_services:
        script = f"""
from decimal import Decimal
from sqlalchemy import select
from marketplace import create_app
from marketplace.extensions import db
from marketplace.catalogue.models import ServiceStatus, Unit, VatCategory
from marketplace.catalogue.operations import ServiceInput, create_service
from marketplace.members.models import User
app = create_app()
with app.app_context():
    provider = db.session.scalar(select(User).where(User.email == "anbieter@ekom21.example"))
    categories = ["hosting", "operations", "consulting", "software", "support", "training"]
    for number in range({extra_services}):
        create_service(provider, ServiceInput(
            title=f"Lastdienst {{number}}: Server und Betrieb", description="Leistung für den Lasttest " * 8,
            category=categories[number % len(categories)], unit=Unit.MONTH,
            unit_price=Decimal(10 + number % 90), vat_category=VatCategory.STANDARD, capacity=None,
            capacity_set=True, status=ServiceStatus.PUBLISHED))
    db.session.commit()
"""
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True)
    return schema_url


def _app_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        MARKETPLACE_CONFIG="development",
        SECRET_KEY="load-test-only",  # noqa: S106 - a throwaway server for this run
        MARKETPLACE_TODAY=TODAY,
        LOGIN_RATE_LIMIT="100000 per minute",  # every client thread logs in from 127.0.0.1
        PYTHONPATH=str(ROOT),
    )
    return env


# ---------------------------------------------------------------- measuring


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if error:
                self.errors.append(f"{kind}: {error}")


def _timed(results: Results, kind: str, session, method: str, url: str, expect: int = 200, **kwargs):
    started = time.perf_counter()
    try:
        response = session.request(method, url, allow_redirects=False, timeout=30, **kwargs)
    except Exception as error:
        results.record(kind, time.perf_counter() - started, repr(error))
        return None
    elapsed = time.perf_counter() - started
    results.record(kind, elapsed, None if response.status_code == expect else f"{url} {response.status_code}")
    return response


def _login(session, base: str, email: str) -> None:
    page = session.get(base + "/login", timeout=30)
    token = CSRF.search(page.text).group(1)
    response = session.post(
        base + "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302:
        raise RuntimeError(f"login as {email} failed: {response.status_code}")


def buyer(session, base: str, results: Results, rng: random.Random, service_ids: list[int]) -> None:
    roll = rng.random()
    if roll < 0.35:
        _timed(results, "catalogue: list", session, "GET", f"{base}/services?page={rng.randint(1, 5)}")
    elif roll < 0.55:
        term = rng.choice(["Server", "Betrieb", "Lizenz", "Beratung", "Speicher"])
        _timed(results, "catalogue: search", session, "GET", f"{base}/services?q={term}")
    elif roll < 0.80:
        _timed(results, "catalogue: service", session, "GET", f"{base}/services/{rng.choice(service_ids)}")
    elif roll < 0.90:
        service_id = rng.choice(service_ids)
        page = _timed(results, "booking: form", session, "GET", f"{base}/services/{service_id}")
        match = CSRF.search(page.text) if page is not None else None
        if match:
            _timed(
                results,
                "booking: request",
                session,
                "POST",
                f"{base}/bookings/request/{service_id}",
                expect=302,
                data={"quantity": "1", "starts_on": "2026-12-01", "note": "Lasttest", "csrf_token": match.group(1)},
            )
    else:
        _timed(results, "bookings: list", session, "GET", f"{base}/bookings")


def provider(session, base: str, results: Results, rng: random.Random, service_ids: list[int]) -> None:
    if rng.random() < 0.5:
        _timed(results, "bookings: list", session, "GET", f"{base}/bookings?as=provider&status=requested")
    else:
        _timed(results, "catalogue: own offers", session, "GET", f"{base}/services/mine")


def finance(session, base: str, results: Results, rng: random.Random, service_ids: list[int]) -> None:
    if rng.random() < 0.8:
        _timed(results, "ledger: balances and journal", session, "GET", f"{base}/ledger?page={rng.randint(1, 2)}")
    else:
        _timed(results, "catalogue: list", session, "GET", f"{base}/services")


PERSONAS = [
    ("einkauf@wiesbaden.example", buyer),
    ("einkauf@ladadi.example", buyer),
    ("betrieb@kopit.example", finance),
    ("einkauf@wiesbaden.example", buyer),
    ("kasse@wiesbaden.example", finance),
    ("anbieter@kdz-mainz.example", provider),
    ("einkauf@ladadi.example", buyer),
    ("betrieb@kopit.example", finance),
]


def run_mix(base: str, duration: float, concurrency: int) -> tuple[Results, float]:
    import requests

    probe = requests.Session()
    _login(probe, base, "einkauf@wiesbaden.example")
    service_ids = sorted({int(i) for i in SERVICE_LINK.findall(probe.get(base + "/services", timeout=30).text)})
    assert service_ids, "the catalogue shows no services"
    results = Results()
    sessions = []
    for number in range(concurrency):
        email, persona = PERSONAS[number % len(PERSONAS)]
        session = requests.Session()
        _login(session, base, email)
        sessions.append((session, persona, random.Random(number)))
    deadline = time.perf_counter() + duration

    def worker(session, persona, rng) -> None:
        while time.perf_counter() < deadline:
            persona(session, base, results, rng, service_ids)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=item) for item in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def run_baseline(base: str, duration: float, concurrency: int) -> tuple[Results, float]:
    import requests

    results = Results()
    deadline = time.perf_counter() + duration

    def worker() -> None:
        session = requests.Session()
        while time.perf_counter() < deadline:
            _timed(results, "hello world", session, "GET", base + "/")

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary_rows(results: Results, elapsed: float) -> list[tuple[str, int, float, float, float, float]]:
    rows = []
    everything = [v for values in results.latencies.values() for v in values]
    for kind in sorted(results.latencies):
        values = results.latencies[kind]
        rows.append((kind, len(values), len(values) / elapsed, *(1000 * _percentile(values, q) for q in (50, 95, 99))))
    rows.append(
        ("all", len(everything), len(everything) / elapsed, *(1000 * _percentile(everything, q) for q in (50, 95, 99)))
    )
    return rows


def markdown(baseline: list, mix: list, args: argparse.Namespace, errors: int, ratio: float) -> str:
    lines = [
        "## Load",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `bench/load.py --duration {args.duration:g} "
        f"--baseline-duration {args.baseline_duration:g} --concurrency {args.concurrency} --workers {args.workers}`: "
        f"PostgreSQL, gunicorn with {args.workers} sync workers, {args.concurrency} client threads (each a "
        "logged-in person with its own session) on the same 2-core machine as server and database, "
        f"demo data plus {args.services} published services.",
        "",
        "| what | requests | requests/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, count, rps, p50, p95, p99 in baseline[-1:] + mix:
        label = "hello-world baseline (same gunicorn)" if kind == "all" and count == baseline[-1][1] else kind
        if kind == "all" and label != "hello-world baseline (same gunicorn)":
            label = "**mix, all requests**"
        lines.append(f"| {label} | {count} | {rps:.1f} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
    lines += [
        "",
        f"Errors: {errors}. The mix reaches {ratio:.0%} of the hello-world requests per second. Every request "
        "of the mix reads the session's user from the database and renders a full page; a booking request is a "
        "GET of the service page plus the POST of the form (a write with its transaction).",
        "",
    ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    path = ROOT / "docs" / "PERFORMANCE.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n\n"
    pattern = re.compile(r"^## Load\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--baseline-duration", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--schema", default="load")
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()

    print(f"preparing schema {args.schema!r} …", flush=True)
    database_url = prepare_database(args.database_url, args.schema, args.services)
    env = _app_env(database_url)
    servers = []
    try:
        app_server, app_base = start_gunicorn("wsgi:app", env, args.workers, ROOT)
        servers.append(app_server)
        hello_server, hello_base = start_gunicorn("load:hello", env, args.workers, ROOT / "bench")
        servers.append(hello_server)

        print(f"baseline: hello world for {args.baseline_duration:g} s …", flush=True)
        baseline_results, baseline_elapsed = run_baseline(hello_base, args.baseline_duration, args.concurrency)
        print(f"mix: catalogue, booking, ledger for {args.duration:g} s …", flush=True)
        mix_results, mix_elapsed = run_mix(app_base, args.duration, args.concurrency)
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=30)

    baseline = summary_rows(baseline_results, baseline_elapsed)
    mix = summary_rows(mix_results, mix_elapsed)
    errors = len(mix_results.errors) + len(baseline_results.errors)
    ratio = mix[-1][2] / baseline[-1][2] if baseline[-1][2] else 0.0
    section = markdown(baseline, mix, args, errors, ratio)
    print()
    print(section)
    for error in (mix_results.errors + baseline_results.errors)[:20]:
        print("error:", error)
    if args.write_doc:
        write_doc(section)
        print("docs/PERFORMANCE.md updated")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
