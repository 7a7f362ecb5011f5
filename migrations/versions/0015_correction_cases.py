"""Correction cases: billed usage disputed or corrected, and invoices objected to, decided by the operator.

A dispute about money already billed no longer gets stuck: the case keeps what is disputed (the usage
record and its charge, or the objected invoice), both parties' statements and the operator's decision with
the credit note and the new charge it produced (key ``correction:<case id>``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _enum(name, *values):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=30)


def upgrade():
    op.create_table(
        "correction_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "source", _enum("correction_source", "usage_dispute", "provider_correction", "objection"), nullable=False
        ),
        sa.Column("status", _enum("correction_status", "open", "corrected", "rejected"), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("usage_record_id", sa.Integer(), nullable=True),
        sa.Column("charge_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("billed_quantity", sa.Numeric(14, 3), nullable=True),
        sa.Column("proposed_quantity", sa.Numeric(14, 3), nullable=True),
        sa.Column("buyer_statement", sa.Text(), nullable=False),
        sa.Column("buyer_stated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_statement", sa.Text(), nullable=False),
        sa.Column("provider_stated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("corrected_quantity", sa.Numeric(14, 3), nullable=True),
        sa.Column("corrected_cents", sa.BigInteger(), nullable=True),
        sa.Column("credit_note_id", sa.Integer(), nullable=True),
        sa.Column("recharge_transfer_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("provider_id <> buyer_id", name=op.f("ck_correction_cases_different_parties")),
        sa.CheckConstraint(
            "corrected_cents IS NULL OR corrected_cents >= 0", name=op.f("ck_correction_cases_corrected_not_negative")
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["members.id"], name=op.f("fk_correction_cases_buyer_id_members")),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["members.id"], name=op.f("fk_correction_cases_provider_id_members")
        ),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_correction_cases_booking_id_bookings")),
        sa.ForeignKeyConstraint(
            ["usage_record_id"], ["usage_records.id"], name=op.f("fk_correction_cases_usage_record_id_usage_records")
        ),
        sa.ForeignKeyConstraint(
            ["charge_transfer_id"], ["transfers.id"], name=op.f("fk_correction_cases_charge_transfer_id_transfers")
        ),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_correction_cases_invoice_id_invoices")),
        sa.ForeignKeyConstraint(
            ["credit_note_id"], ["invoices.id"], name=op.f("fk_correction_cases_credit_note_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["recharge_transfer_id"], ["transfers.id"], name=op.f("fk_correction_cases_recharge_transfer_id_transfers")
        ),
        sa.ForeignKeyConstraint(["opened_by_id"], ["users.id"], name=op.f("fk_correction_cases_opened_by_id_users")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_correction_cases_decided_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correction_cases")),
    )
    for column in ("status", "buyer_id", "provider_id", "booking_id", "usage_record_id", "invoice_id"):
        op.create_index(op.f(f"ix_correction_cases_{column}"), "correction_cases", [column])


def downgrade():
    for column in ("invoice_id", "usage_record_id", "booking_id", "provider_id", "buyer_id", "status"):
        op.drop_index(op.f(f"ix_correction_cases_{column}"), table_name="correction_cases")
    op.drop_table("correction_cases")
