"""Billing runs report the bookings they could not charge.

A charge the ledger cannot hold (an amount beyond what one booking may post, e.g. from usage entered before
entry was bounded) no longer fails the whole month's run: the run skips it and records why, as a JSON list
``[{"booking_id": …, "reason": …}]``. Existing runs skipped nothing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("billing_runs", sa.Column("skipped", sa.JSON(), nullable=False, server_default="[]"))


def downgrade():
    with op.batch_alter_table("billing_runs") as batch:
        batch.drop_column("skipped")
