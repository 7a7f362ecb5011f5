"""Usage records carry their life to its end: corrected after a dispute, billed by which charge, credited.

The billing run now stamps the charge that billed a usage record on the record itself, so usage knows it is
billed without asking the ledger; a reversal of that charge marks it credited. Records billed before this
revision are found by their charge's idempotency key (``charge:<booking>:<YYYY-MM>``) and stamped here.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("charge_transfer_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("billed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("credited_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_usage_records_charge_transfer_id_transfers", "transfers", ["charge_transfer_id"], ["id"]
        )
        batch.create_unique_constraint("uq_usage_records_charge_transfer_id", ["charge_transfer_id"])
    key = "'charge:' || CAST(usage_records.booking_id AS VARCHAR) || ':' || usage_records.period"
    op.execute(
        "UPDATE usage_records SET "
        f"charge_transfer_id = (SELECT t.id FROM transfers t WHERE t.idempotency_key = {key}), "
        f"billed_at = (SELECT t.created_at FROM transfers t WHERE t.idempotency_key = {key})"
    )
    op.execute(
        "UPDATE usage_records SET credited_at = "
        "(SELECT r.created_at FROM transfers r WHERE r.reverses_id = usage_records.charge_transfer_id) "
        "WHERE charge_transfer_id IS NOT NULL"
    )


def downgrade():
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_constraint("uq_usage_records_charge_transfer_id", type_="unique")
        batch.drop_constraint("fk_usage_records_charge_transfer_id_transfers", type_="foreignkey")
        batch.drop_column("credited_at")
        batch.drop_column("billed_at")
        batch.drop_column("charge_transfer_id")
        batch.drop_column("corrected_at")
