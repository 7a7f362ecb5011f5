"""Large billing runs run as jobs: a billing run carries its status and progress.

Runs written before this revision were written when they were done, so they start as ``done``; the new
NOT NULL columns get server defaults, so the previous release keeps inserting rows as it did.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

STATUSES = ("queued", "running", "done", "failed")


def upgrade():
    with op.batch_alter_table("billing_runs") as batch:
        batch.add_column(
            sa.Column(
                "status",
                sa.Enum(*STATUSES, name="billing_run_status", native_enum=False, create_constraint=True, length=30),
                server_default="done",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("processed", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("planned", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("error", sa.String(length=500), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("billing_runs") as batch:
        for column in ("error", "finished_at", "updated_at", "started_at", "planned", "processed", "status"):
            batch.drop_column(column)
