"""Cost-sharing services: plans per service and year with an allocation key, participants with their
dates and weights, Königsteiner values per year, the monthly advances charged and the year-end true-ups.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "koenigstein_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(precision=9, scale=5), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entered_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("value > 0", name=op.f("ck_koenigstein_values_value_positive")),
        sa.ForeignKeyConstraint(
            ["entered_by_id"], ["users.id"], name=op.f("fk_koenigstein_values_entered_by_id_users")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_koenigstein_values_member_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_koenigstein_values")),
        sa.UniqueConstraint("year", "member_id", name="uq_koenigstein_values_year_member"),
    )
    with op.batch_alter_table("koenigstein_values", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_koenigstein_values_member_id"), ["member_id"], unique=False)

    op.create_table(
        "cost_sharing_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("planned_cost_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "allocation_key",
            sa.Enum(
                "equal",
                "population",
                "koenigstein",
                "custom",
                name="cost_sharing_allocation_key",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "trued_up",
                name="cost_sharing_plan_status",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("actual_cost_cents", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("trued_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trued_up_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "actual_cost_cents IS NULL OR actual_cost_cents >= 0",
            name=op.f("ck_cost_sharing_plans_actual_not_negative"),
        ),
        sa.CheckConstraint("planned_cost_cents >= 0", name=op.f("ck_cost_sharing_plans_planned_not_negative")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_cost_sharing_plans_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_cost_sharing_plans_service_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["trued_up_by_id"], ["users.id"], name=op.f("fk_cost_sharing_plans_trued_up_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_sharing_plans")),
        sa.UniqueConstraint("service_id", "year", name="uq_cost_sharing_plans_service_year"),
    )
    with op.batch_alter_table("cost_sharing_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cost_sharing_plans_service_id"), ["service_id"], unique=False)

    op.create_table(
        "cost_sharing_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("joins_on", sa.Date(), nullable=False),
        sa.Column("leaves_on", sa.Date(), nullable=True),
        sa.Column("weight", sa.Numeric(precision=14, scale=5), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("population_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "leaves_on IS NULL OR leaves_on >= joins_on", name=op.f("ck_cost_sharing_participants_leaves_after_joining")
        ),
        sa.CheckConstraint(
            "population IS NULL OR population >= 0", name=op.f("ck_cost_sharing_participants_population_not_negative")
        ),
        sa.CheckConstraint(
            "weight IS NULL OR weight >= 0", name=op.f("ck_cost_sharing_participants_weight_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_cost_sharing_participants_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_cost_sharing_participants_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["cost_sharing_plans.id"], name=op.f("fk_cost_sharing_participants_plan_id_cost_sharing_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_sharing_participants")),
        sa.UniqueConstraint("plan_id", "member_id", name="uq_cost_sharing_participants_plan_member"),
    )
    with op.batch_alter_table("cost_sharing_participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cost_sharing_participants_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cost_sharing_participants_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "cost_sharing_advances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_cost_sharing_advances_amount_positive")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_cost_sharing_advances_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_cost_sharing_advances_member_id_members")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["cost_sharing_plans.id"], name=op.f("fk_cost_sharing_advances_plan_id_cost_sharing_plans")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name=op.f("fk_cost_sharing_advances_transfer_id_transfers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_sharing_advances")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_cost_sharing_advances_invoice_id")),
        sa.UniqueConstraint("plan_id", "member_id", "period", name="uq_cost_sharing_advances_plan_member_period"),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_cost_sharing_advances_transfer_id")),
    )
    with op.batch_alter_table("cost_sharing_advances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cost_sharing_advances_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cost_sharing_advances_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "cost_sharing_true_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("final_cents", sa.BigInteger(), nullable=False),
        sa.Column("advances_cents", sa.BigInteger(), nullable=False),
        sa.Column("difference_cents", sa.BigInteger(), nullable=False),
        sa.Column("advances_vat_cents", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_cost_sharing_true_ups_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_cost_sharing_true_ups_member_id_members")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["cost_sharing_plans.id"], name=op.f("fk_cost_sharing_true_ups_plan_id_cost_sharing_plans")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name=op.f("fk_cost_sharing_true_ups_transfer_id_transfers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_sharing_true_ups")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_cost_sharing_true_ups_invoice_id")),
        sa.UniqueConstraint("plan_id", "member_id", name="uq_cost_sharing_true_ups_plan_member"),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_cost_sharing_true_ups_transfer_id")),
    )
    with op.batch_alter_table("cost_sharing_true_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cost_sharing_true_ups_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cost_sharing_true_ups_plan_id"), ["plan_id"], unique=False)


def downgrade():
    with op.batch_alter_table("cost_sharing_true_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cost_sharing_true_ups_plan_id"))
        batch_op.drop_index(batch_op.f("ix_cost_sharing_true_ups_member_id"))

    op.drop_table("cost_sharing_true_ups")
    with op.batch_alter_table("cost_sharing_advances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cost_sharing_advances_plan_id"))
        batch_op.drop_index(batch_op.f("ix_cost_sharing_advances_member_id"))

    op.drop_table("cost_sharing_advances")
    with op.batch_alter_table("cost_sharing_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cost_sharing_participants_plan_id"))
        batch_op.drop_index(batch_op.f("ix_cost_sharing_participants_member_id"))

    op.drop_table("cost_sharing_participants")
    with op.batch_alter_table("cost_sharing_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cost_sharing_plans_service_id"))

    op.drop_table("cost_sharing_plans")
    with op.batch_alter_table("koenigstein_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_koenigstein_values_member_id"))

    op.drop_table("koenigstein_values")
