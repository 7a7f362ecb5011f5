"""Invoices wait for the buyer's release ("sachlich und rechnerisch richtig") before they are settled.

A municipal cash office pays only what its own staff certified. Each invoice now carries its release
status (pending, released, objected), the deadline, who decided and when, an objection's reason and the
last reminder. Documents issued before this revision were settled under the old rules, so they count as
released (the server default); new invoices are written as pending, credit notes as released.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

STATUSES = ("pending", "released", "objected")


def upgrade():
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(
            sa.Column(
                "release_status",
                sa.Enum(*STATUSES, name="invoice_release_status", native_enum=False, create_constraint=True, length=30),
                server_default="released",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("release_due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("release_decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("release_decided_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("objection_reason", sa.String(2000), server_default="", nullable=False))
        batch.add_column(sa.Column("release_reminded_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_invoices_release_decided_by_id_users", "users", ["release_decided_by_id"], ["id"])
        batch.create_index("ix_invoices_release_status", ["release_status"])


def downgrade():
    with op.batch_alter_table("invoices") as batch:
        batch.drop_index("ix_invoices_release_status")
        batch.drop_constraint("fk_invoices_release_decided_by_id_users", type_="foreignkey")
        for column in (
            "release_reminded_at",
            "objection_reason",
            "release_decided_by_id",
            "release_decided_at",
            "release_due",
            "release_status",
        ):
            batch.drop_column(column)
