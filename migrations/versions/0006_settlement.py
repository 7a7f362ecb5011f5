"""Settlement, invoices and payments: invoices and credit notes with gap-free numbers per provider,
settlements with positions and netted payment instructions, Stripe customers, debits and received events.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('invoice_counters',
    sa.Column('member_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_invoice_counters_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_invoice_counters'))
    )
    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )
    op.create_table('stripe_customers',
    sa.Column('member_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('payment_method_id', sa.String(length=100), nullable=True),
    sa.Column('iban', sa.String(length=34), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_stripe_customers_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_stripe_customers')),
    sa.UniqueConstraint('customer_id', name=op.f('uq_stripe_customers_customer_id'))
    )
    op.create_table('settlements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('status', sa.Enum('draft', 'approved', 'collecting', 'paid', 'failed', name='settlement_status', native_enum=False, create_constraint=True, length=30), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('collected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('approved_by_id IS NULL OR approved_by_id <> created_by_id', name=op.f('ck_settlements_four_eyes')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_settlements_approved_by_id_users')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_settlements_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlements')),
    sa.UniqueConstraint('period', name=op.f('uq_settlements_period'))
    )
    op.create_table('payment_instructions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('debtor_member_id', sa.Integer(), nullable=False),
    sa.Column('creditor_member_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('open', 'collecting', 'paid', name='instruction_status', native_enum=False, create_constraint=True, length=30), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_payment_instructions_amount_positive')),
    sa.CheckConstraint('debtor_member_id <> creditor_member_id', name=op.f('ck_payment_instructions_different_members')),
    sa.ForeignKeyConstraint(['creditor_member_id'], ['members.id'], name=op.f('fk_payment_instructions_creditor_member_id_members')),
    sa.ForeignKeyConstraint(['debtor_member_id'], ['members.id'], name=op.f('fk_payment_instructions_debtor_member_id_members')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlements.id'], name=op.f('fk_payment_instructions_settlement_id_settlements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_instructions'))
    )
    with op.batch_alter_table('payment_instructions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_instructions_settlement_id'), ['settlement_id'], unique=False)
    op.create_table('settlement_positions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount_cents <> 0', name=op.f('ck_settlement_positions_amount_not_zero')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_settlement_positions_member_id_members')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlements.id'], name=op.f('fk_settlement_positions_settlement_id_settlements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_positions')),
    sa.UniqueConstraint('settlement_id', 'member_id', name='uq_settlement_positions_member')
    )
    with op.batch_alter_table('settlement_positions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_positions_member_id'), ['member_id'], unique=False)
    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('type_code', sa.Enum('380', '381', name='document_type', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('cause_key', sa.String(length=120), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('service_start', sa.Date(), nullable=False),
    sa.Column('service_end', sa.Date(), nullable=False),
    sa.Column('vat_category', sa.Enum('S', 'O', 'E', name='invoice_vat_category', native_enum=False, create_constraint=True, length=30), nullable=False),
    sa.Column('vat_rate', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('net_cents', sa.BigInteger(), nullable=False),
    sa.Column('vat_cents', sa.BigInteger(), nullable=False),
    sa.Column('vat_transfer_id', sa.BigInteger(), nullable=True),
    sa.Column('credited_invoice_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('net_cents > 0', name=op.f('ck_invoices_net_positive')),
    sa.CheckConstraint('provider_id <> buyer_id', name=op.f('ck_invoices_different_parties')),
    sa.CheckConstraint('vat_cents >= 0', name=op.f('ck_invoices_vat_not_negative')),
    sa.ForeignKeyConstraint(['buyer_id'], ['members.id'], name=op.f('fk_invoices_buyer_id_members')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_invoices_created_by_id_users')),
    sa.ForeignKeyConstraint(['credited_invoice_id'], ['invoices.id'], name=op.f('fk_invoices_credited_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['provider_id'], ['members.id'], name=op.f('fk_invoices_provider_id_members')),
    sa.ForeignKeyConstraint(['vat_transfer_id'], ['transfers.id'], name=op.f('fk_invoices_vat_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('cause_key', name=op.f('uq_invoices_cause_key')),
    sa.UniqueConstraint('provider_id', 'sequence', name='uq_invoices_provider_sequence'),
    sa.UniqueConstraint('vat_transfer_id', name=op.f('uq_invoices_vat_transfer_id'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoices_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_credited_invoice_id'), ['credited_invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_period'), ['period'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_provider_id'), ['provider_id'], unique=False)
    op.create_table('invoice_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('transfer_id', sa.BigInteger(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('net_cents', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('net_cents > 0', name=op.f('ck_invoice_lines_net_positive')),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_invoice_lines_booking_id_bookings')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_lines_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_invoice_lines_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_lines')),
    sa.UniqueConstraint('invoice_id', 'position', name='uq_invoice_lines_invoice_position'),
    sa.UniqueConstraint('transfer_id', name=op.f('uq_invoice_lines_transfer_id'))
    )
    op.create_table('debits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('debtor_member_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('payment_intent_id', sa.String(length=100), nullable=True),
    sa.Column('status', sa.Enum('pending', 'processing', 'succeeded', 'failed', name='debit_status', native_enum=False, create_constraint=True, length=30), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('transfer_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_debits_amount_positive')),
    sa.ForeignKeyConstraint(['debtor_member_id'], ['members.id'], name=op.f('fk_debits_debtor_member_id_members')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlements.id'], name=op.f('fk_debits_settlement_id_settlements')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_debits_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_debits')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_debits_idempotency_key')),
    sa.UniqueConstraint('payment_intent_id', name=op.f('uq_debits_payment_intent_id')),
    sa.UniqueConstraint('settlement_id', 'debtor_member_id', 'attempt', name='uq_debits_attempt'),
    sa.UniqueConstraint('transfer_id', name=op.f('uq_debits_transfer_id'))
    )
    with op.batch_alter_table('debits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_debits_settlement_id'), ['settlement_id'], unique=False)


def downgrade():
    op.drop_table('debits')
    op.drop_table('invoice_lines')
    op.drop_table('invoices')
    op.drop_table('settlement_positions')
    op.drop_table('payment_instructions')
    op.drop_table('settlements')
    op.drop_table('stripe_customers')
    op.drop_table('stripe_events')
    op.drop_table('invoice_counters')
