"""Large billing runs run as jobs: 202 with the run's id, status and progress, polled until done; small
runs answer 201 as before. A job that stops leaves what it posted, and the month cannot be closed until a
later run is done, which posts exactly what is missing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.ledger.models import Transfer, TransferKind
from marketplace.ledger.queries import verify_ledger
from marketplace.monthend import billing, jobs
from marketplace.monthend.models import BillingRun, RunStatus
from tests.conftest import csrf_token, login

OPERATOR = "betrieb@kopit.example"
PERIOD = "2026-10"  # the demo leaves October open and unbilled: six charges


@pytest.fixture
def jobs_from(app, monkeypatch):
    """Runs of more than one booking become jobs, and a job posts one charge per transaction."""
    app.config["BILLING_JOB_THRESHOLD"] = 1
    monkeypatch.setattr(jobs, "JOB_BATCH", 1)
    return app


def poll(api: Any, run_id: int, until: tuple[str, ...] = ("done", "failed"), seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    seen: list[dict] = []
    while time.monotonic() < deadline:
        response = api.get(f"/api/v1/billing-runs/{run_id}")
        assert response.status_code == 200, response.text
        seen.append(response.get_json())
        if seen[-1]["status"] in until:
            return seen[-1]
        time.sleep(0.05)
    raise AssertionError(f"billing run {run_id} did not finish: {seen[-1]}")


def charges(period: str = PERIOD) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Transfer)
        .where(Transfer.period == period, Transfer.kind == TransferKind.CHARGE)
    )


def test_a_large_run_answers_202_and_reports_its_progress_until_done(jobs_from, demo, api_as):
    operator = api_as(OPERATOR)
    started = operator.post("/api/v1/billing-runs", json={"period": PERIOD})
    assert started.status_code == 202, started.text
    body = started.get_json()
    assert set(body) == {"id", "period", "status", "progress"}
    assert (body["period"], body["status"], body["progress"]) == (PERIOD, "queued", 0)
    assert started.headers["Location"].endswith(f"/api/v1/billing-runs/{body['id']}")

    done = poll(operator, body["id"])
    assert done["status"] == "done", done
    assert (done["progress"], done["processed"], done["planned"]) == (100, 6, 6)
    assert done["transfers_created"] == 6 and done["skipped"] == [] and done["error"] is None
    # the same figures as the synchronous run (tests/test_cli.py): the service desk ran 15 of 31 days
    assert charges() == 6
    october = select(Transfer.amount_cents).where(Transfer.period == PERIOD)
    assert db.session.scalar(october.where(Transfer.description.like("Service-Desk%"))) == 70161
    total = int(db.session.scalar(select(func.sum(Transfer.amount_cents)).where(Transfer.period == PERIOD)))
    assert done["total"] == f"{total // 100}.{total % 100:02d}"
    assert verify_ledger().ok

    again = operator.post("/api/v1/billing-runs", json={"period": PERIOD})
    assert again.status_code == 202
    rerun = poll(operator, again.get_json()["id"])
    assert (rerun["status"], rerun["transfers_created"], rerun["total"]) == ("done", 0, "0.00")
    assert charges() == 6


def test_a_small_run_still_answers_201_at_once(app, demo, api_as):
    app.config["BILLING_JOB_THRESHOLD"] = 6  # October has exactly six billable bookings
    answer = api_as(OPERATOR).post("/api/v1/billing-runs", json={"period": PERIOD})
    assert answer.status_code == 201
    assert answer.get_json()["transfers_created"] == 6
    run = db.session.scalar(select(BillingRun).where(BillingRun.period == PERIOD))
    assert (run.status, run.processed, run.planned) == (RunStatus.DONE, 6, 6)


def test_only_operator_finance_sees_a_run_and_unknown_ones_are_404(jobs_from, demo, api_as):
    operator = api_as(OPERATOR)
    run_id = operator.post("/api/v1/billing-runs", json={"period": PERIOD}).get_json()["id"]
    poll(operator, run_id)
    assert api_as("kasse@wiesbaden.example").get(f"/api/v1/billing-runs/{run_id}").status_code == 403
    assert operator.get(f"/api/v1/billing-runs/{run_id + 1}").status_code == 404


def test_the_billing_page_starts_the_job_and_shows_its_progress(jobs_from, demo, client, api_as):
    login(client, OPERATOR)
    page = client.get("/ledger")
    response = client.post("/ledger/billing", data={"period": PERIOD, "csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    run_path = response.headers["Location"]
    run_id = int(run_path.rstrip("/").rsplit("/", 1)[1])
    assert run_path.endswith(f"/ledger/billing-runs/{run_id}")
    poll(api_as(OPERATOR), run_id)
    shown = client.get(run_path)
    assert shown.status_code == 200
    assert "fertig" in shown.text and "6 von 6 Abrechnungen (100 %)" in shown.text
    assert 'value="100"' in shown.text
    listing = client.get("/ledger/billing-runs")
    assert listing.status_code == 200 and f">{run_id}</a>" in listing.text
    assert client.get("/ledger/billing-runs/999999").status_code == 404


def test_a_failed_job_keeps_what_it_posted_and_blocks_the_close_until_a_rerun_is_done(
    jobs_from, demo, api_as, monkeypatch
):
    operator = api_as(OPERATOR)
    real_post = jobs.post_transfers
    calls = {"n": 0}

    def failing_post(specs, actor, progress=None):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("Datenbankverbindung verloren")
        return real_post(specs, actor, progress=progress)

    monkeypatch.setattr(jobs, "post_transfers", failing_post)
    run_id = operator.post("/api/v1/billing-runs", json={"period": PERIOD}).get_json()["id"]
    failed = poll(operator, run_id)
    assert failed["status"] == "failed" and "Datenbankverbindung verloren" in failed["error"]
    assert (failed["processed"], failed["planned"], failed["transfers_created"]) == (2, 6, None)
    assert charges() == 2  # two batches were committed before the third failed
    assert verify_ledger().ok

    refused = operator.post(f"/api/v1/periods/{PERIOD}/close", json={})
    assert refused.status_code == 409
    assert f"Abrechnungslauf {run_id}" in refused.get_json()["detail"]

    monkeypatch.setattr(jobs, "post_transfers", real_post)
    rerun = poll(operator, operator.post("/api/v1/billing-runs", json={"period": PERIOD}).get_json()["id"])
    assert (rerun["status"], rerun["transfers_created"]) == ("done", 4)
    assert charges() == 6
    closed = operator.post(f"/api/v1/periods/{PERIOD}/close", json={})
    assert closed.status_code == 200, closed.text


def test_a_run_is_taken_once_however_often_it_is_handed_over(jobs_from, demo, api_as):
    from marketplace.monthend.jobs import run_billing_job

    operator = api_as(OPERATOR)
    run_id = operator.post("/api/v1/billing-runs", json={"period": PERIOD}).get_json()["id"]
    poll(operator, run_id)
    assert run_billing_job(run_id) is None  # not queued any more: a second hand-over does nothing
    db.session.commit()
    assert charges() == 6


def _redis_or_skip(url: str) -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    return client


def test_with_redis_the_run_waits_in_the_queue_for_a_worker(jobs_from, demo, api_as):
    from marketplace.monthend.jobs import QUEUE, work

    url = "redis://127.0.0.1:6379/15"
    redis = _redis_or_skip(url)
    redis.delete(QUEUE)
    jobs_from.config["REDIS_URL"] = url
    try:
        operator = api_as(OPERATOR)
        run_id = operator.post("/api/v1/billing-runs", json={"period": PERIOD}).get_json()["id"]
        assert [int(item) for item in redis.lrange(QUEUE, 0, -1)] == [run_id]
        assert operator.get(f"/api/v1/billing-runs/{run_id}").get_json()["status"] == "queued"
        db.session.commit()
        assert work(burst=True) == 1
        done = operator.get(f"/api/v1/billing-runs/{run_id}").get_json()
        assert (done["status"], done["transfers_created"]) == ("done", 6)
        assert redis.llen(QUEUE) == 0
    finally:
        redis.delete(QUEUE)


def test_a_job_reports_the_charges_it_could_not_post_as_a_small_run_does(jobs_from, demo, api_as, monkeypatch):
    monkeypatch.setattr(billing, "MAX_CHARGE_CENTS", 100_000)  # 1,000 €: two October charges are larger
    operator = api_as(OPERATOR)
    done = poll(operator, operator.post("/api/v1/billing-runs", json={"period": PERIOD}).get_json()["id"])
    assert done["status"] == "done" and done["transfers_created"] == 4 and charges() == 4
    assert len(done["skipped"]) == 2 and all("Obergrenze" in item["reason"] for item in done["skipped"])
    assert set(done["skipped"][0]) == {"booking_id", "reason"}


def test_the_worker_command_needs_redis(app):
    result = app.test_cli_runner().invoke(args=["billing", "worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL" in result.output
