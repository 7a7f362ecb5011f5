"""Settlements cover released documents only, and each member gets a payment advice (Zahlungsavis).

A settlement now covers the released invoices and the credit notes of the months up to its own that no
earlier settlement covered: `settlement_documents` links each document to the one settlement that covers
it (unique per invoice). `payment_advices` holds each member's advice (number, position, due date), and
each payment instruction refers to its debtor's and its creditor's advice.

Settlements made before this revision netted whole clearing balances up to their month: the documents of
those months count as covered by the earliest such settlement of their month or later (with no advice, so
no later settlement takes them again); their instructions keep no advice.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "payment_advices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("position_cents", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_payment_advices_member_id_members")),
        sa.ForeignKeyConstraint(
            ["settlement_id"], ["settlements.id"], name=op.f("fk_payment_advices_settlement_id_settlements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_advices")),
        sa.UniqueConstraint("number", name=op.f("uq_payment_advices_number")),
        sa.UniqueConstraint("settlement_id", "member_id", name="uq_payment_advices_member"),
    )
    with op.batch_alter_table("payment_advices") as batch:
        batch.create_index(batch.f("ix_payment_advices_member_id"), ["member_id"], unique=False)

    op.create_table(
        "settlement_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("provider_amount_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_settlement_documents_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"], ["settlements.id"], name=op.f("fk_settlement_documents_settlement_id_settlements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_documents")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_settlement_documents_invoice_id")),
    )
    with op.batch_alter_table("settlement_documents") as batch:
        batch.create_index(batch.f("ix_settlement_documents_settlement_id"), ["settlement_id"], unique=False)

    with op.batch_alter_table("payment_instructions") as batch:
        batch.add_column(sa.Column("debtor_advice_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("creditor_advice_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_payment_instructions_debtor_advice_id_payment_advices", "payment_advices", ["debtor_advice_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_payment_instructions_creditor_advice_id_payment_advices",
            "payment_advices",
            ["creditor_advice_id"],
            ["id"],
        )

    # earlier settlements netted whole balances: their months' documents are covered (amount due as
    # XRechnung's BT-115: gross less a cost-sharing final invoice's advances)
    op.execute(
        """
        INSERT INTO settlement_documents (settlement_id, invoice_id, provider_amount_cents)
        SELECT
            (SELECT s.id FROM settlements s WHERE s.period >= i.period ORDER BY s.period LIMIT 1),
            i.id,
            CASE WHEN i.type_code = '381' THEN -(i.net_cents + i.vat_cents)
                 ELSE i.net_cents + i.vat_cents
                      - COALESCE((SELECT t.advances_cents + t.advances_vat_cents
                                  FROM cost_sharing_true_ups t WHERE t.invoice_id = i.id), 0)
            END
        FROM invoices i
        WHERE EXISTS (SELECT 1 FROM settlements s WHERE s.period >= i.period)
        ORDER BY i.id
        """
    )


def downgrade():
    with op.batch_alter_table("payment_instructions") as batch:
        batch.drop_constraint("fk_payment_instructions_creditor_advice_id_payment_advices", type_="foreignkey")
        batch.drop_constraint("fk_payment_instructions_debtor_advice_id_payment_advices", type_="foreignkey")
        batch.drop_column("creditor_advice_id")
        batch.drop_column("debtor_advice_id")
    with op.batch_alter_table("settlement_documents") as batch:
        batch.drop_index(batch.f("ix_settlement_documents_settlement_id"))
    op.drop_table("settlement_documents")
    with op.batch_alter_table("payment_advices") as batch:
        batch.drop_index(batch.f("ix_payment_advices_member_id"))
    op.drop_table("payment_advices")
