"""Where large billing runs run: a queue in Redis when ``REDIS_URL`` is set, else a thread of this process.

`submit(run_id)` is called by the edge after the queued run is committed. With Redis the id goes onto the
list ``QUEUE`` and a worker (``flask billing worker``, on any one machine or more) takes it; without Redis
a background thread of the submitting process runs it, with an app context and session of its own. Both
end in `monthend.billing.run_billing_job`, which claims the run (only a queued run is started, so an id
handed over twice runs once) and keeps status and progress in its database row.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app

from marketplace.extensions import db
from marketplace.monthend.billing import run_billing_job

#: The Redis list of billing runs waiting for a worker (ids, oldest first).
QUEUE = "leistungsboerse:billing-runs"


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
