"""Ledger benchmark on PostgreSQL (not part of `make test`).

    .venv/bin/python bench/ledger.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_ledger]
                                     [--bookings 100000] [--months 5] [--write-doc]

In one run, in a schema of its own (`bench_ledger`, via `search_path`; the database's other schemas stay
untouched):
1. migrates, seeds the demo, adds 500 buyer members and `--bookings` accepted monthly bookings;
2. baseline: the raw `executemany` insert rate of this database for rows shaped like the ledger's
   (one transfer row and two posting rows per charge, into copies of the tables with their indexes);
3. `GET /api/v1/ledger/balances` with about 10,000 postings;
4. billing runs for `--months` months (each in a child process, so its peak memory is its own), each over
   all bookings: charges/s, the ratio to the baseline, peak RSS;
5. `GET /api/v1/ledger/balances` again with about 1,000,000 postings: the ratio to step 3;
6. `flask ledger verify` over everything, timed (target: 1,000,000 postings in at most 60 s).
`--write-doc` replaces the "## Ledger" section of docs/PERFORMANCE.md with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCHEMA = "bench_ledger"
TODAY = "2026-11-16"
MONTHS = ["2026-07", "2026-09", "2026-10", "2026-11", "2026-06"]  # August is closed by the demo; July bills all


def schema_url(url: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{SCHEMA}"


def make_app(url: str):  # type: ignore[no-untyped-def]
    from marketplace import create_app

    return create_app(
        "testing", SQLALCHEMY_DATABASE_URI=schema_url(url), MARKETPLACE_TODAY=TODAY, RATELIMIT_ENABLED=False
    )


def build(url: str, bookings: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, insert, select, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    app = make_app(url)
    with app.app_context():
        from marketplace.admission import admit_member as create_member
        from marketplace.bookings.models import Booking, BookingStatus
        from marketplace.catalogue.models import Service, Unit
        from marketplace.extensions import db
        from marketplace.members.models import MemberKind, User
        from marketplace.seed import seed_demo_data

        upgrade()
        seed_demo_data()
        db.session.commit()
        buyers = [create_member(None, name=f"Gemeinde {i:04d}", kind=MemberKind.MUNICIPALITY).id for i in range(500)]
        db.session.commit()
        requester = db.session.scalar(select(User.id).where(User.email == "einkauf@wiesbaden.example"))
        services = db.session.execute(
            select(Service.id, Service.unit_price_cents, Service.vat_category, Service.vat_rate).where(
                Service.unit == Unit.MONTH
            )
        ).all()
        rng = random.Random(7)
        now = datetime.now(UTC)
        rows = []
        for _ in range(bookings):
            service_id, price, vat_category, vat_rate = rng.choice(services)
            rows.append(
                {
                    "service_id": service_id,
                    "buyer_id": rng.choice(buyers),
                    "requested_by_id": requester,
                    "quantity": rng.randint(1, 5),
                    "starts_on": date(2026, 7, rng.randint(1, 28)) if rng.random() < 0.3 else date(2026, 6, 1),
                    "ends_on": None,
                    "note": "",
                    "status": BookingStatus.ACCEPTED,
                    "unit_price_cents": price,
                    "unit": Unit.MONTH,
                    "vat_category": vat_category,
                    "vat_rate": vat_rate,
                    "accepted_at": now,
                }
            )
        for start in range(0, len(rows), 10_000):
            db.session.execute(insert(Booking), rows[start : start + 10_000])
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()


def baseline(url: str, count: int) -> float:
    """Rows shaped like `count` charges (1 transfer + 2 postings each), raw executemany; charges per second."""
    import hashlib

    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, options=f"-csearch_path={SCHEMA}") as conn:
        conn.execute("DROP TABLE IF EXISTS raw_transfers, raw_postings")
        conn.execute("CREATE TABLE raw_transfers (LIKE transfers INCLUDING ALL)")
        conn.execute("CREATE TABLE raw_postings (LIKE postings INCLUDING ALL)")
        conn.commit()
        now = datetime.now(UTC)
        transfers = []
        postings = []
        for i in range(1, count + 1):
            digest = hashlib.sha256(str(i).encode()).hexdigest()
            transfers.append(
                (i, f"raw:{i}", "charge", "2026-11", "Baseline", 8900, None, None, now, None, digest, digest)
            )
            postings += [(i, 1, -8900), (i, 2, 8900)]
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO raw_transfers (id, idempotency_key, kind, period, description, amount_cents, booking_id, "
                "reverses_id, created_at, created_by_id, prev_hash, hash) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                transfers,
            )
            cur.executemany(
                "INSERT INTO raw_postings (transfer_id, account_id, amount_cents) VALUES (%s, %s, %s)", postings
            )
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE raw_transfers, raw_postings")
        conn.commit()
    return count / elapsed


def synthetic_transfers(url: str, count: int) -> None:
    """About 2 * `count` postings before any billing, through post_transfers."""
    app = make_app(url)
    with app.app_context():
        from sqlalchemy import select

        from marketplace.extensions import db
        from marketplace.ledger.models import Account, AccountKind, TransferKind
        from marketplace.ledger.operations import TransferSpec, post_transfers

        accounts = db.session.scalars(select(Account.id).where(Account.kind == AccountKind.CLEARING)).all()
        rng = random.Random(3)
        specs = []
        for i in range(count):
            a, b = rng.sample(accounts, 2)
            cents = rng.randint(1, 100_000)
            specs.append(
                TransferSpec(f"bench:{i}", TransferKind.CHARGE, "2026-07", "Vorlauf", ((a, -cents), (b, cents)))
            )
        post_transfers(specs, None)
        db.session.commit()
        db.engine.dispose()


def postings_count(url: str) -> int:
    app = make_app(url)
    with app.app_context():
        from sqlalchemy import func, select

        from marketplace.extensions import db
        from marketplace.ledger.models import Posting

        n = db.session.scalar(select(func.count()).select_from(Posting))
        db.engine.dispose()
        return int(n)


def settle(url: str) -> None:
    """VACUUM ANALYZE and CHECKPOINT, so that background work after bulk writes does not skew a timing."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, options=f"-csearch_path={SCHEMA}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def time_balances(url: str, repeat: int = 200) -> float:
    """Median seconds of GET /api/v1/ledger/balances as operator finance (warm)."""
    settle(url)
    app = make_app(url)
    with app.app_context():
        from marketplace.extensions import db
        from marketplace.members.operations import create_api_token
        from marketplace.members.queries import user_by_email

        _token, plain = create_api_token(user_by_email("betrieb@kopit.example"), "bench")
        db.session.commit()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {plain}"}
        for _ in range(5):
            assert client.get("/api/v1/ledger/balances", headers=headers).status_code == 200
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get("/api/v1/ledger/balances", headers=headers)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
            assert response.get_json()["total"] == "0.00"
        db.session.remove()
        db.engine.dispose()
        return statistics.median(times)


def bill_child(url: str, period: str, as_job: bool = False) -> None:
    """Child process: one billing run, timed; prints JSON with the peak RSS of this process.

    `as_job`: queued and carried out as a job is (`run_billing_job`: one transaction per batch, progress
    committed with each), as pages and the API do above BILLING_JOB_THRESHOLD."""
    app = make_app(url)
    with app.app_context():
        from marketplace.extensions import db
        from marketplace.members.queries import user_by_email
        from marketplace.monthend.billing import run_billing, start_billing
        from marketplace.monthend.jobs import run_billing_job

        actor = user_by_email("betrieb@kopit.example")
        before_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        if as_job:
            app.config["BILLING_JOB_THRESHOLD"] = 0
            queued = start_billing(actor, period)
            db.session.commit()
            run = run_billing_job(queued.id)
        else:
            run = run_billing(actor, period)
        db.session.commit()
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            json.dumps(
                {
                    "period": period,
                    "created": run.transfers_created,
                    "seconds": elapsed,
                    "peak_rss_mb": peak / 1024,
                    "rss_before_mb": before_rss / 1024,
                }
            )
        )
        db.engine.dispose()


def run_verify(url: str) -> tuple[float, str]:
    env = dict(os.environ, DATABASE_URL=schema_url(url), MARKETPLACE_CONFIG="development", FLASK_APP="wsgi")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "ledger", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"ledger verify failed: {result.stdout}{result.stderr}")
    return elapsed, result.stdout.strip()


def write_doc(section: str) -> None:
    path = ROOT / "docs" / "PERFORMANCE.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    start = text.find("\n## Ledger")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[end:] if end != -1 else "")
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test_ledger")
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=5)
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--job", action="store_true", help="also bill the next month as a job (as the API does)")
    parser.add_argument("--bill", help=argparse.SUPPRESS)
    parser.add_argument("--bill-as-job", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = args.database_url
    if args.bill:
        bill_child(url, args.bill, args.bill_as_job)
        return

    started = time.perf_counter()
    print(f"Aufbau: Demo, 500 Abnehmer, {args.bookings:,} Buchungen …", flush=True)
    build(url, args.bookings)
    print(f"  fertig in {time.perf_counter() - started:.1f} s", flush=True)

    raw_rate = baseline(url, args.bookings)
    print(f"Basis: rohes executemany {raw_rate:,.0f} Abrechnungen/s (1 Buchung + 2 Posten je Abrechnung)", flush=True)

    synthetic_transfers(url, 5_000)
    small = postings_count(url)
    small_time = time_balances(url)
    print(f"GET /ledger/balances bei {small:,} Posten: {small_time * 1000:.2f} ms (Median)", flush=True)

    runs = []
    plan = [(period, False) for period in MONTHS[: args.months]]
    if args.job:
        plan.append((MONTHS[args.months], True))
    for period, as_job in plan:
        result = subprocess.run(
            [sys.executable, __file__, "--database-url", url, "--bill", period] + (["--bill-as-job"] if as_job else []),
            capture_output=True,
            text=True,
            check=True,
        )
        run = json.loads(result.stdout.strip().splitlines()[-1])
        run["job"] = as_job
        runs.append(run)
        rate = run["created"] / run["seconds"]
        print(
            f"Abrechnung {period}{' als Auftrag' if as_job else ''}: {run['created']:,} Buchungen in "
            f"{run['seconds']:.1f} s = {rate:,.0f}/s ({rate / raw_rate:.2f} × Basis), "
            f"Spitze {run['peak_rss_mb']:.0f} MB",
            flush=True,
        )

    big = postings_count(url)
    big_time = time_balances(url)
    print(f"GET /ledger/balances bei {big:,} Posten: {big_time * 1000:.2f} ms (Median)", flush=True)
    print(f"  Verhältnis: {big_time / small_time:.2f} (Ziel ≤ 1,5)", flush=True)

    verify_seconds, verify_out = run_verify(url)
    print(f"flask ledger verify: {verify_seconds:.1f} s – {verify_out}", flush=True)

    first = runs[0]
    rates = [r["created"] / r["seconds"] for r in runs]

    def figure(run: dict) -> str:
        rate = run["created"] / run["seconds"]
        return (
            f"{run['seconds']:.1f} s = {rate:,.0f} charges/s ({rate / raw_rate:.2f} × baseline), "
            f"peak {run['peak_rss_mb']:.0f} MB"
        )

    run_rows = "\n".join(
        f"| billing run {r['period']}{' as a job (one transaction per 5,000 charges)' if r['job'] else ''}: "
        f"{r['created']:,} charges{' (advances 100,000 bookings first)' if r is first else ''} "
        f"| {figure(r)} | ≥ 0.2 × baseline, < 500 MB |"
        for r in runs
    )
    section = f"""## Ledger

Measured by `bench/ledger.py` (PostgreSQL, schema `{SCHEMA}`, {datetime.now(UTC):%Y-%m-%d}, 2 shared cores; the
machine was shared with other work, so absolute figures are lower bounds; the ratios come from the same run).

| what | figure | target |
|---|---|---|
| raw `executemany` baseline (1 transfer + 2 posting rows per charge, same shapes) | {raw_rate:,.0f} charges/s | – |
{run_rows}
| billing runs, all {len(runs)} | {min(rates):,.0f} – {max(rates):,.0f} charges/s | – |
| peak RSS of a billing run (whole process, incl. the app) | {max(r["peak_rss_mb"] for r in runs):.0f} MB | < 500 MB |
| `GET /api/v1/ledger/balances` with {small:,} postings | {small_time * 1000:.2f} ms (median of 200) | – |
| `GET /api/v1/ledger/balances` with {big:,} postings | {big_time * 1000:.2f} ms (median of 200) | ≤ 1.5 × the above |
| ratio | {big_time / small_time:.2f} | ≤ 1.5 |
| `flask ledger verify` over {big:,} postings (whole CLI process) | {verify_seconds:.1f} s | ≤ 60 s for 1,000,000 |

Balances are cached per account and updated with the postings under the same row locks, so reading them does
not depend on the number of postings. A billing run first records the bookings' transitions by date
set-based (one UPDATE per transition, the history rows in multi-row inserts), then computes all charges in
one query, hashes the chain in Python and writes transfers and postings batch by batch with `COPY` (5,000
transfers a batch) under one lock on the involved accounts and the chain head; only one batch of rows is
held in memory. A job does the same with one transaction per batch, committing its progress with each.
`flask ledger verify` reads plain rows in batches of 20,000 transfers and recomputes every hash, zero sum
and balance.
"""
    print()
    print(section)
    if args.write_doc:
        write_doc(section)
        print("docs/PERFORMANCE.md aktualisiert.")


if __name__ == "__main__":
    main()
