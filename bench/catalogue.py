"""Catalogue search benchmark on PostgreSQL (not part of `make test`).

    .venv/bin/python bench/catalogue.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_catalogue]
                                        [--services 10000] [--members 200] [--seconds 8] [--rounds 3]
                                        [--concurrency 4] [--workers 2] [--write-doc]

In a schema of its own (`bench_catalogue`, via `search_path`; the database's other schemas stay untouched):
1. migrates, seeds the demo, adds `--members` provider members with `--services` published services in all
   (titles, descriptions and SLAs drawn from a fixed vocabulary; the full-text index is filled by its triggers);
2. starts gunicorn twice with the same configuration (`--workers` sync workers): the application
   (`wsgi:app`) and a hello-world Flask route (`catalogue_hello:app` below);
3. measures, alternately and `--rounds` times each for `--seconds`: the hello-world route, the catalogue
   search page (`GET /services?q=…`, logged in) and the API (`GET /api/v1/services?q=…`, bearer token),
   with `--concurrency` client threads and a rotating set of search words; then the same two searches on
   a third server started with `CATALOGUE_CACHE_SIZE=0`, so every request searches, counts facets and
   renders (what a search nobody has made since the last catalogue change costs);
4. prints requests/s, p50/p99 per target and the ratio of each search to the hello-world route.
Targets (issue 4): each search at least 30 % of the hello-world requests/s, p99 at most 50 ms (the cached
server: twelve search words repeat, as popular searches do; the uncached rows are for information).
`--write-doc` replaces the "## Catalogue" section of docs/PERFORMANCE.md with the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

sys.path.insert(0, str(ROOT))

from bench.servers import start_gunicorn  # noqa: E402 - importable as bench.catalogue from the data generator too

SCHEMA = "bench_catalogue"
TODAY = "2026-11-16"
BUYER = "einkauf@wiesbaden.example"
QUERIES = [
    "server",
    "backup",
    "ratsinformation",
    "schulung datenschutz",
    "firewall",
    "e-akte",
    "videokonferenz",
    "netzwerk betrieb",
    "lizenz",
    "speicher",
    "zweckverband 17",
    "fachverfahren",
]
SUBJECTS = [
    "Virtueller Server",
    "Objektspeicher",
    "Betrieb von Fachverfahren",
    "E-Akte",
    "Lizenzmanagement",
    "Videokonferenz",
    "Ratsinformationssystem",
    "Datensicherung (Backup)",
    "Firewall-Betrieb",
    "Netzwerkbetreuung",
    "Service-Desk",
    "Schulung Datenschutz",
    "Informationssicherheitsberatung",
    "Webhosting",
    "Geoinformationssystem",
    "Personalverwaltung",
    "Finanzsoftware",
    "Druckdienst",
    "Archivierung",
    "Telefonanlage",
]
QUALIFIERS = ["Standard", "Premium", "Basis", "für Schulen", "für Verwaltungen", "24/7", "Cloud", "vor Ort"]
SENTENCES = [
    "Betrieb im kommunalen Rechenzentrum nach BSI IT-Grundschutz.",
    "Tägliche Sicherung und Wiederherstellung auf Anforderung.",
    "Abgerechnet nach tatsächlichem Verbrauch je Monat.",
    "Support werktags von 7 bis 18 Uhr, Störungsannahme rund um die Uhr.",
    "Datenhaltung ausschließlich in deutschen Rechenzentren.",
    "Einführung, Schulung und Begleitung durch erfahrene Fachleute.",
    "Schnittstellen zu gängigen Fachverfahren und zur E-Akte.",
    "Geeignet für Gemeinden, Städte und Landkreise jeder Größe.",
    "Mit Mandantentrennung und rollenbasiertem Zugriff.",
    "Hochverfügbar über zwei Standorte gespiegelt.",
]


# ---------------------------------------------------------------- setup


def _with_schema(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def _app_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        MARKETPLACE_CONFIG="development",
        SECRET_KEY="catalogue-bench-only",  # noqa: S106 - a throwaway server for this run
        MARKETPLACE_TODAY=TODAY,
        LOGIN_RATE_LIMIT="100000 per minute",
        API_RATE_LIMIT="10000000 per minute",  # the benchmark measures search, not the rate limiter
        PYTHONPATH=str(ROOT),
    )
    return env


GENERATE = """
import random
from decimal import Decimal
from sqlalchemy import insert, select
from marketplace import create_app
from marketplace.extensions import db
from marketplace.catalogue.models import Category, Service
from marketplace.members.models import MemberKind, Role, User
from marketplace.admission import admit_member as create_member
from marketplace.members.operations import create_api_token, create_user
from bench.catalogue import QUALIFIERS, SENTENCES, SUBJECTS

members, services = {members}, {services}
rng = random.Random(4)
app = create_app()
with app.app_context():
    categories = list(db.session.scalars(select(Category.id)))
    kinds = [MemberKind.DATA_CENTRE, MemberKind.MUNICIPALITY, MemberKind.COUNTY, MemberKind.STATE_AGENCY]
    providers = []
    for number in range(members):
        member = create_member(None, name=f"Zweckverband {{number}} Kommunale IT", kind=kinds[number % 4])
        user = create_user(None, member=member, email=f"anbieter{{number}}@bench.example", name=f"Anbieter {{number}}",
                           password="bench-passwort-1", roles=[Role.PROVIDER])
        providers.append((member.id, user.id))
    rows = []
    for number in range(services):
        member_id, user_id = providers[number % members]
        subject = rng.choice(SUBJECTS)
        rows.append(dict(
            provider_id=member_id, category_id=rng.choice(categories),
            title=f"{{subject}} {{rng.choice(QUALIFIERS)}} {{number}}",
            description=" ".join(rng.sample(SENTENCES, 4)),
            unit=rng.choice(["month", "hour", "gb-month", "user-month"]),
            unit_price_cents=rng.randrange(100, 500_000), vat_category="O", vat_rate=Decimal("0.00"),
            status="published", created_by_id=user_id,
            sla_availability=rng.choice([None, Decimal("95.00"), Decimal("99.00"), Decimal("99.50"), Decimal("99.90")]),
        ))
    db.session.execute(insert(Service), rows)
    buyer = db.session.scalar(select(User).where(User.email == "{buyer}"))
    _token, plain = create_api_token(buyer, "bench")
    db.session.commit()
    print("TOKEN", plain)
"""


def prepare_database(url: str, members: int, services: int) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    schema_url = _with_schema(url, SCHEMA)
    env = _app_env(schema_url)
    flask = str(VENV_BIN / "flask")
    subprocess.run([flask, "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([flask, "--app", "wsgi", "seed-demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    script = GENERATE.format(members=members, services=services, buyer=BUYER)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    token = re.search(r"TOKEN (\S+)", done.stdout).group(1)  # type: ignore[union-attr]
    engine = create_engine(schema_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        published = conn.execute(text("SELECT count(*) FROM services WHERE status = 'published'")).scalar()
        indexed = conn.execute(text("SELECT count(*) FROM services_fts")).scalar()
    engine.dispose()
    print(f"data: {published} published services, {indexed} in the full-text index", flush=True)
    return schema_url, token


# ---------------------------------------------------------------- measuring


def _login(session, base: str) -> None:
    page = session.get(base + "/login", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = session.post(
        base + "/login",
        data={"email": BUYER, "password": "demo-passwort", "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.status_code


def measure(kind: str, base: str, token: str, seconds: float, concurrency: int, sessions: list) -> list[float]:
    """Requests of one kind for `seconds` with `concurrency` threads; returns the latencies (failures raise)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(number: int) -> None:
        session = sessions[number]
        rng = random.Random(number)
        headers = {"Authorization": f"Bearer {token}"} if kind == "api" else {}
        mine: list[float] = []
        while time.perf_counter() < stop:
            q = rng.choice(QUERIES)
            if kind == "hello":
                url = base + "/"
            elif kind == "html":
                url = f"{base}/services?q={q}"
            else:
                url = f"{base}/api/v1/services?q={q}"
            started = time.perf_counter()
            response = session.get(url, headers=headers, timeout=30)
            mine.append(time.perf_counter() - started)
            if response.status_code != 200 or (kind == "html" and "Leistung" not in response.text):
                errors.append(f"{kind} {url}: {response.status_code}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return latencies


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    import requests

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test_catalogue"),
    )
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()

    schema_url, token = prepare_database(args.database_url, args.members, args.services)
    env = _app_env(schema_url)
    processes = []
    try:
        app_process, app_base = start_gunicorn("wsgi:app", env, args.workers, ROOT)
        processes.append(app_process)
        hello_process, hello_base = start_gunicorn("catalogue_hello:app", env, args.workers, ROOT / "bench")
        processes.append(hello_process)
        cold_process, cold_base = start_gunicorn("wsgi:app", {**env, "CATALOGUE_CACHE_SIZE": "0"}, args.workers, ROOT)
        processes.append(cold_process)
        sessions = [requests.Session() for _ in range(args.concurrency)]
        cold_sessions = [requests.Session() for _ in range(args.concurrency)]
        for session in sessions:
            _login(session, app_base)
        for session in cold_sessions:
            _login(session, cold_base)
        hello_sessions = [requests.Session() for _ in range(args.concurrency)]
        targets = (
            ("hello", "hello", hello_base, hello_sessions),
            ("html", "html", app_base, sessions),
            ("api", "api", app_base, sessions),
            ("html_cold", "html", cold_base, cold_sessions),
            ("api_cold", "api", cold_base, cold_sessions),
        )
        for _name, kind, base, chosen in targets:
            measure(kind, base, token, 3.0, args.concurrency, chosen)  # warm up workers and their caches
        results: dict[str, list[float]] = {name: [] for name, *_rest in targets}
        elapsed: dict[str, float] = {name: 0.0 for name, *_rest in targets}
        for round_number in range(args.rounds):
            for name, kind, base, chosen in targets:
                started = time.perf_counter()
                results[name] += measure(kind, base, token, args.seconds, args.concurrency, chosen)
                elapsed[name] += time.perf_counter() - started
            print(f"round {round_number + 1}/{args.rounds} done", flush=True)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)

    rps = {kind: len(values) / elapsed[kind] for kind, values in results.items()}
    names = {
        "hello": "hello-world route (same gunicorn)",
        "html": "catalogue search page `/services?q=`",
        "api": "API search `/api/v1/services?q=`",
        "html_cold": "search page, cache off (`CATALOGUE_CACHE_SIZE=0`)",
        "api_cold": "API search, cache off",
    }
    lines = [
        "| what | requests | requests/s | ratio to hello-world | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind in names:
        values = results[kind]
        ratio = "–" if kind == "hello" else f"{100 * rps[kind] / rps['hello']:.0f} %"
        p50, p99 = _p(values, 0.5), _p(values, 0.99)
        lines.append(f"| {names[kind]} | {len(values)} | {rps[kind]:.1f} | {ratio} | {p50:.1f} | {p99:.1f} |")
    table = "\n".join(lines)
    print(table)
    for kind in ("html", "api"):
        print(
            f"{kind}: ratio {rps[kind] / rps['hello']:.2f} (target >= 0.30), p99 {_p(results[kind], 0.99):.1f} ms "
            f"(target <= 50 ms)"
        )
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    if args.write_doc:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            "## Catalogue\n\n"
            f"Measured {stamp} with `bench/catalogue.py --services {args.services} --members {args.members} "
            f"--seconds {args.seconds:g} --rounds {args.rounds} --concurrency {args.concurrency} "
            f"--workers {args.workers}`: PostgreSQL, {args.services} published services from {args.members} "
            f"members (plus the demo), gunicorn with {args.workers} sync workers for the application, for a "
            f"hello-world Flask route and for the application with its search cache off, measured alternately, "
            f"{args.concurrency} client threads (Python `requests`) on the same machine (load average "
            f"{load:.1f} at the end).\n\n{table}\n"
        )
        path = ROOT / "docs" / "PERFORMANCE.md"
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(r"## Catalogue\n.*?(?=\n## |\Z)", re.S)
        text = pattern.sub(section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
        path.write_text(text, encoding="utf-8")
        print(f"written to {path}")


if __name__ == "__main__":
    main()
