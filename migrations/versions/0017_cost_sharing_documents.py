"""Cost-sharing documents as their receivers read them, and fixed when issued.

- Invoices may be partial invoices (UNTDID 1001 code 326): a cost-sharing advance invoice
  (Abschlagsrechnung). Advance invoices issued before this revision keep the 380 they were issued with.
- An invoice stores what was already paid on it (BT-113, ``prepaid_cents``) and the earlier invoices it
  settles (``invoice_preceding``: BT-25 number and BT-26 date), both written when it is issued, so the
  XRechnung no longer reads them from the cost-sharing tables. Final invoices issued before this revision
  showed their true-up's advances (net and VAT) as prepaid: that is filled in, so they render as issued.
- A true-up keeps each participant's weight, days and planned part as it used them, so a Königsteiner
  value corrected afterwards changes neither the plan's page nor its exports of that year.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("invoices") as batch:
        batch.drop_constraint(op.f("ck_invoices_document_type"), type_="check")
        batch.create_check_constraint(op.f("ck_invoices_document_type"), "type_code IN ('380', '326', '381')")
        batch.add_column(sa.Column("prepaid_cents", sa.BigInteger(), server_default="0", nullable=False))
        batch.create_check_constraint(op.f("ck_invoices_prepaid_not_negative"), "prepaid_cents >= 0")
    op.execute(
        "UPDATE invoices SET prepaid_cents = (SELECT t.advances_cents + t.advances_vat_cents "
        "FROM cost_sharing_true_ups t WHERE t.invoice_id = invoices.id) "
        "WHERE type_code <> '381' AND id IN (SELECT invoice_id FROM cost_sharing_true_ups WHERE invoice_id IS NOT NULL)"
    )
    op.create_table(
        "invoice_preceding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("preceding_invoice_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_preceding_invoice_id_invoices")),
        sa.ForeignKeyConstraint(
            ["preceding_invoice_id"], ["invoices.id"], name=op.f("fk_invoice_preceding_preceding_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_preceding")),
        sa.UniqueConstraint("invoice_id", "position", name="uq_invoice_preceding_invoice_position"),
    )
    with op.batch_alter_table("invoice_preceding") as batch:
        batch.create_index(batch.f("ix_invoice_preceding_preceding_invoice_id"), ["preceding_invoice_id"], unique=False)
    with op.batch_alter_table("cost_sharing_true_ups") as batch:
        batch.add_column(sa.Column("weight", sa.Numeric(20, 5), nullable=True))
        batch.add_column(sa.Column("days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("planned_cents", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("cost_sharing_true_ups") as batch:
        batch.drop_column("planned_cents")
        batch.drop_column("days")
        batch.drop_column("weight")
    with op.batch_alter_table("invoice_preceding") as batch:
        batch.drop_index(batch.f("ix_invoice_preceding_preceding_invoice_id"))
    op.drop_table("invoice_preceding")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_constraint(op.f("ck_invoices_prepaid_not_negative"), type_="check")
        batch.drop_column("prepaid_cents")
        batch.drop_constraint(op.f("ck_invoices_document_type"), type_="check")
        batch.create_check_constraint(op.f("ck_invoices_document_type"), "type_code IN ('380', '381')")
