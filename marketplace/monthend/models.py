"""Month-end tables: the billing runs, with the state of those that run as jobs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.dbtypes import str_enum
from marketplace.core.timeutil import utcnow
from marketplace.extensions import db
from marketplace.members.models import User


class RunStatus(enum.StrEnum):
    QUEUED = "queued"  # a job waiting for its worker
    RUNNING = "running"  # a job under way: `processed` of `planned` charges settled
    DONE = "done"
    FAILED = "failed"  # a job that stopped: what it posted stays (idempotent); a new run completes the month


class BillingRun(db.Model):
    """One run of the billing for a month: who started it and what it created.

    A small run is written once it is done. A large one (``BILLING_JOB_THRESHOLD``) is a job: the row is
    queued first, and the job keeps status and progress here, committed with each batch it posts.
    """

    __tablename__ = "billing_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    transfers_created: Mapped[int] = mapped_column(Integer, nullable=False)
    total_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: Bookings the run could not charge, ``[{"booking_id": 7, "reason": "…"}]`` (e.g. an amount beyond what
    #: the ledger holds); a later run charges them once the data is corrected.
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list, server_default="[]")
    status: Mapped[RunStatus] = mapped_column(
        str_enum(RunStatus, "billing_run_status"), nullable=False, default=RunStatus.DONE, server_default="done"
    )
    #: Charges the run settled so far (posted or found posted before) and the charges it found to settle.
    processed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    planned: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The job's last sign of life (each committed batch); a running job that stays silent has died.
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Why a job failed (German, for the operator).
    error: Mapped[str] = mapped_column(String(500), nullable=False, default="", server_default="")

    created_by: Mapped[User | None] = relationship()

    @property
    def is_finished(self) -> bool:
        return self.status in (RunStatus.DONE, RunStatus.FAILED)

    @property
    def percent(self) -> int:
        """How far the run is, 0-100 (a finished run is 100, a failed one as far as it got)."""
        if self.status is RunStatus.DONE:
            return 100
        if not self.planned:
            return 0
        return min(100, self.processed * 100 // self.planned)
