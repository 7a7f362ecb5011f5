"""Invoices carry the buyer's references, the real payment means and the quantities as they are.

- Each member keeps an invoice profile (``invoice_profiles``): the references its bookings must name
  (order BT-13, contract BT-12, accounting BT-19, project BT-11) with defaults, and its payment way
  (clearing 97, the operator's SEPA debit 59 with mandate and debited account, transfer 58). The operator's
  SEPA creditor identifier (BT-90) is a member field.
- Bookings carry the four references and, from acceptance, the exemption code and text of their service
  (existing accepted bookings take them from their service now, as the invoices read them until today),
  and when a charge of theirs was first invoiced (existing ones from their invoice lines).
- Invoices store the payment means, mandate, accounts, references and exemption at issue. Documents issued
  before this revision said 58 to the payee their XML named (the provider, a credit note's buyer, or the
  operator when that member had no IBAN): that is filled in, so they render as issued.
- Invoice lines store quantity, unit code, unit price, a line allowance, the line period and the booking's
  accounting reference; older lines stay one lump sum.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_REFERENCES = ("order_reference", "contract_reference", "buyer_accounting_reference", "project_reference")
_DEFAULT_EXEMPTION = {
    "O": (
        "VATEX-EU-O",
        "Nicht steuerbar: Leistung einer juristischen Person des öffentlichen Rechts im Rahmen ihrer "
        "hoheitlichen Tätigkeit (§ 2b UStG)",
    ),
    "E": ("VATEX-EU-132", "Steuerbefreit nach Art. 132 MwStSystRL (§ 4 UStG)"),
}


def _exemption(category, vatex_code, legal_basis):
    """The exemption as the XML generator derived it from a service until this revision."""
    code, text = _DEFAULT_EXEMPTION[category]
    if category == "E" and vatex_code:
        code = vatex_code
    if legal_basis:
        text = f"{'Nicht steuerbar' if category == 'O' else 'Steuerfrei'} nach {legal_basis}"
    return code, text


def _reference_columns():
    return [sa.Column(name, sa.String(100), server_default="", nullable=False) for name in _REFERENCES]


def upgrade():
    op.add_column("members", sa.Column("sepa_creditor_id", sa.String(35), nullable=True))
    op.create_table(
        "invoice_profiles",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("required", sa.String(200), server_default="", nullable=False),
        *_reference_columns(),
        sa.Column(
            "payment_way",
            sa.Enum(
                "clearing", "debit", "transfer", name="payment_way", native_enum=False, create_constraint=True, length=30
            ),
            server_default="clearing",
            nullable=False,
        ),
        sa.Column("mandate_reference", sa.String(35), nullable=True),
        sa.Column("mandate_iban", sa.String(34), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_invoice_profiles_member_id_members")),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], name=op.f("fk_invoice_profiles_updated_by_id_users")),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_invoice_profiles")),
    )

    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("vat_exemption_code", sa.String(40), nullable=True))
        batch.add_column(sa.Column("vat_exemption_reason", sa.String(500), nullable=True))
        for column in _reference_columns():
            batch.add_column(column)
        batch.add_column(sa.Column("invoiced_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("payment_means_code", sa.String(3), server_default="58", nullable=False))
        batch.add_column(sa.Column("mandate_reference", sa.String(35), nullable=True))
        batch.add_column(sa.Column("payment_account", sa.String(34), nullable=True))
        batch.add_column(sa.Column("creditor_id", sa.String(35), nullable=True))
        batch.add_column(sa.Column("payee_id", sa.Integer(), nullable=True))
        for column in _reference_columns():
            batch.add_column(column)
        batch.add_column(sa.Column("vat_exemption_code", sa.String(40), nullable=True))
        batch.add_column(sa.Column("vat_exemption_reason", sa.String(500), nullable=True))
        batch.create_foreign_key("fk_invoices_payee_id_members", "members", ["payee_id"], ["id"])

    with op.batch_alter_table("invoice_lines") as batch:
        batch.add_column(sa.Column("quantity", sa.Numeric(14, 3), nullable=True))
        batch.add_column(sa.Column("unit_code", sa.String(3), nullable=True))
        batch.add_column(sa.Column("unit_price_cents", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("allowance_cents", sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(sa.Column("allowance_reason", sa.String(200), server_default="", nullable=False))
        batch.add_column(sa.Column("period_start", sa.Date(), nullable=True))
        batch.add_column(sa.Column("period_end", sa.Date(), nullable=True))
        batch.add_column(sa.Column("accounting_reference", sa.String(100), server_default="", nullable=False))
        batch.create_check_constraint(op.f("ck_invoice_lines_allowance_not_negative"), "allowance_cents >= 0")

    _fill()


def _fill():
    bind = op.get_bind()
    # accepted bookings of O and E services: the exemption as their service states it now
    for booking_id, category, vatex_code, legal_basis in bind.execute(
        sa.text(
            "SELECT b.id, b.vat_category, s.vatex_code, s.tax_legal_basis FROM bookings b "
            "JOIN services s ON s.id = b.service_id WHERE b.vat_category IN ('O', 'E')"
        )
    ).all():
        code, text = _exemption(category, vatex_code, legal_basis)
        bind.execute(
            sa.text("UPDATE bookings SET vat_exemption_code = :code, vat_exemption_reason = :text WHERE id = :id"),
            {"code": code, "text": text, "id": booking_id},
        )
    bind.execute(
        sa.text(
            "UPDATE bookings SET invoiced_at = (SELECT MIN(i.created_at) FROM invoice_lines l "
            "JOIN invoices i ON i.id = l.invoice_id WHERE l.booking_id = bookings.id) "
            "WHERE id IN (SELECT booking_id FROM invoice_lines WHERE booking_id IS NOT NULL)"
        )
    )
    # issued documents: the exemption of their first line's service, and the payee their XML named
    operator = bind.execute(sa.text("SELECT id, iban FROM members WHERE is_operator")).first()
    invoices = bind.execute(
        sa.text(
            "SELECT i.id, i.type_code, i.vat_category, i.provider_id, i.buyer_id, "
            "(SELECT s.vatex_code FROM invoice_lines l JOIN bookings b ON b.id = l.booking_id "
            " JOIN services s ON s.id = b.service_id WHERE l.invoice_id = i.id ORDER BY l.position LIMIT 1), "
            "(SELECT s.tax_legal_basis FROM invoice_lines l JOIN bookings b ON b.id = l.booking_id "
            " JOIN services s ON s.id = b.service_id WHERE l.invoice_id = i.id ORDER BY l.position LIMIT 1) "
            "FROM invoices i"
        )
    ).all()
    ibans = dict(bind.execute(sa.text("SELECT id, iban FROM members")).all())
    for invoice_id, type_code, category, provider_id, buyer_id, vatex_code, legal_basis in invoices:
        values = {"id": invoice_id, "code": None, "text": None}
        if category in _DEFAULT_EXEMPTION:
            values["code"], values["text"] = _exemption(category, vatex_code, legal_basis)
        payee = buyer_id if type_code == "381" else provider_id
        if not ibans.get(payee) and operator is not None and operator.iban:
            payee = operator.id
        values["payee"], values["account"] = payee, ibans.get(payee)
        bind.execute(
            sa.text(
                "UPDATE invoices SET vat_exemption_code = :code, vat_exemption_reason = :text, payee_id = :payee, "
                "payment_account = :account WHERE id = :id"
            ),
            values,
        )


def downgrade():
    with op.batch_alter_table("invoice_lines") as batch:
        batch.drop_constraint("ck_invoice_lines_allowance_not_negative", type_="check")
        for column in (
            "accounting_reference",
            "period_end",
            "period_start",
            "allowance_reason",
            "allowance_cents",
            "unit_price_cents",
            "unit_code",
            "quantity",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("invoices") as batch:
        batch.drop_constraint("fk_invoices_payee_id_members", type_="foreignkey")
        for column in (
            "vat_exemption_reason",
            "vat_exemption_code",
            *_REFERENCES,
            "payee_id",
            "creditor_id",
            "payment_account",
            "mandate_reference",
            "payment_means_code",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("bookings") as batch:
        for column in ("invoiced_at", *_REFERENCES, "vat_exemption_reason", "vat_exemption_code"):
            batch.drop_column(column)
    op.drop_table("invoice_profiles")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("sepa_creditor_id")
