"""Large billing runs as jobs: where they run, and how (one transaction per step and batch).

`submit(run_id)` is called by the edge after the queued run (`billing.start_billing`) is committed. With
``REDIS_URL`` the id goes onto the Redis list ``QUEUE`` and a worker (``flask billing worker``, on any one
machine or more) takes it; without Redis a background thread of the submitting process runs it, with an
app context and session of its own. Both end in `run_billing_job`, which claims the run (only a queued run
is started, so an id handed over twice runs once) and keeps status and progress in its database row.

Unlike the operations, this module commits: a job is an edge of its own, like a CLI command.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app
from sqlalchemy import select

from marketplace.bookings.operations import advance_bookings
from marketplace.core.locking import locked
from marketplace.core.timeutil import today, utcnow
from marketplace.costsharing.advances import prepare as prepare_advances
from marketplace.extensions import db
from marketplace.ledger.operations import WRITE_BATCH, post_transfers, require_billable_period
from marketplace.members.models import User
from marketplace.monthend import billing
from marketplace.monthend.models import BillingRun, RunStatus

#: The Redis list of billing runs waiting for a worker (ids, oldest first).
QUEUE = "leistungsboerse:billing-runs"


def _lock_run(run_id: int) -> BillingRun | None:
    return db.session.scalar(locked(select(BillingRun).where(BillingRun.id == run_id)))


def _save_progress(run_id: int, **values: object) -> None:
    """Write the job's state and commit (with whatever the step posted before it)."""
    run = _lock_run(run_id)
    assert run is not None  # noqa: S101 - the job's own row; runs are never deleted
    for name, value in values.items():
        setattr(run, name, value)
    run.updated_at = utcnow()
    db.session.commit()


#: Charges per transaction of a job: each batch commits with the run's progress.
JOB_BATCH = WRITE_BATCH


def run_billing_job(run_id: int) -> BillingRun | None:
    """Carry out the queued run `run_id` (in an app context of its own: a worker or a thread): claim it, advance
    the bookings, post the charges batch by batch and the advances last, each step its own transaction
    that also commits the progress. Returns the run, or None when another worker claimed it first.

    A step that fails rolls back and marks the run ``failed`` with the reason; what earlier batches posted
    stays (a charge is posted once per key), and the month cannot be closed until a later run is done
    (`monthend.close`), which then posts exactly what is still missing.

    Commits, as an edge does: each step is its own transaction.
    """
    run = _lock_run(run_id)
    if run is None or run.status is not RunStatus.QUEUED:
        db.session.rollback()
        return None
    run.status = RunStatus.RUNNING
    run.started_at = run.updated_at = utcnow()
    period, actor_id = run.period, run.created_by_id
    db.session.commit()
    try:
        _run_job_steps(run_id, period, actor_id, JOB_BATCH)
    except Exception as error:  # the run must say it stopped, whatever stopped it
        db.session.rollback()
        detail = getattr(error, "detail", None) or f"{type(error).__name__}: {error}"
        _save_progress(run_id, status=RunStatus.FAILED, error=str(detail)[:500], finished_at=utcnow())
        current_app.logger.exception("billing run %s for %s failed", run_id, period)
    return db.session.get(BillingRun, run_id)


def _run_job_steps(run_id: int, period: str, actor_id: int | None, batch: int) -> None:
    actor = db.session.get(User, actor_id) if actor_id is not None else None
    first = require_billable_period(period)
    advance_bookings(today())
    db.session.commit()

    skipped: list[billing.Skipped] = []
    charges = billing.compute_charges(period, first, skipped) + billing.compute_adjustments(skipped)
    specs = billing.charge_specs(period, charges, skipped)
    _save_progress(run_id, planned=len(specs), processed=0, skipped=[item.as_dict() for item in skipped])
    created = amount = 0
    buyers: set[int] = set()
    for start in range(0, len(specs), batch):
        # one transaction per batch: post_transfers takes its locks once per transaction
        result = post_transfers(specs[start : start + batch], actor)
        billing.stamp_usage(period, charges)  # the usage billed so far, with this batch's charges
        created += result.created
        amount += result.created_amount_cents
        buyers.update(billing.billed_buyers(result.created_ids))
        _save_progress(run_id, processed=min(start + batch, len(specs)), transfers_created=created, total_cents=amount)

    advances = prepare_advances(period)
    result = post_transfers(advances.specs, actor)
    created_advances = advances.record(actor)
    run = _lock_run(run_id)
    assert run is not None  # noqa: S101 - the job's own row
    run.transfers_created = created + result.created
    run.total_cents = amount + result.created_amount_cents
    run.status = RunStatus.DONE
    run.updated_at = run.finished_at = utcnow()
    db.session.flush()
    billing.finish_run(run, actor, buyers | set(billing.billed_buyers(result.created_ids)), created_advances)
    db.session.commit()


def _redis(url: str):  # type: ignore[no-untyped-def]
    import redis  # only installations with REDIS_URL need the client

    return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)


def submit(run_id: int) -> None:
    """Hand the committed, queued run `run_id` to Redis or to a thread of this process."""
    url = current_app.config.get("REDIS_URL")
    if url:
        _redis(url).rpush(QUEUE, run_id)
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # not a daemon: an orderly shutdown of the process waits for the run to finish
    threading.Thread(target=_run_in_thread, args=(app, run_id), name=f"billing-run-{run_id}").start()


def _run_in_thread(app: Flask, run_id: int) -> None:
    with app.app_context():
        run_billing_job(run_id)


def work(*, burst: bool = False, wait_seconds: int = 5) -> int:
    """Run the queued billing runs from Redis one after another (``flask billing worker``); returns how many
    it took. `burst` stops when the queue is empty instead of waiting for more."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise RuntimeError("REDIS_URL ist nicht gesetzt: große Abrechnungsläufe laufen im Anwendungsprozess.")
    client = _redis(url)
    taken = 0
    while True:
        item = client.lpop(QUEUE) if burst else client.blpop([QUEUE], timeout=wait_seconds)
        if item is None:
            if burst:
                return taken
            continue
        raw = item if burst else item[1]
        taken += 1
        try:
            run_billing_job(int(raw))
        finally:
            db.session.remove()  # the next run starts with a fresh session
