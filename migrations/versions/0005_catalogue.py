"""Catalogue and bookings for daily use: service terms, SLA, tax treatment, documents, full-text search,
booking messages and cancellation, usage review, notifications outbox, invitations and password resets.

Full-text search lives in `services_fts`, kept in sync by database triggers so every writer (HTML, API,
CLI, seeds) keeps it current: on PostgreSQL a tsvector per service (German configuration, GIN index), on
SQLite an FTS5 virtual table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_ROLES = ("operator_admin", "operator_finance", "provider", "buyer", "member_finance")
NEW_ROLES = (*OLD_ROLES, "member_admin")
NOTIFICATION_KINDS = (
    "booking_requested",
    "booking_decided",
    "booking_cancelled",
    "booking_message",
    "usage_entered",
    "usage_disputed",
    "billing",
    "account",
)


def _role_enum(values):
    return sa.Enum(*values, name="role", native_enum=False, create_constraint=True, length=30)


PG_SEARCH = [
    """
    CREATE TABLE services_fts (
        service_id integer PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
        document tsvector NOT NULL
    )
    """,
    "CREATE INDEX ix_services_fts_document ON services_fts USING gin (document)",
    """
    CREATE FUNCTION services_fts_document(service_title text, service_description text, provider integer)
    RETURNS tsvector LANGUAGE sql STABLE AS $$
        SELECT setweight(to_tsvector('german', coalesce(service_title, '')), 'A')
            || setweight(to_tsvector('german', coalesce((SELECT name FROM members WHERE id = provider), '')), 'B')
            || setweight(to_tsvector('german', coalesce(service_description, '')), 'C')
    $$
    """,
    """
    CREATE FUNCTION services_fts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO services_fts (service_id, document)
        VALUES (NEW.id, services_fts_document(NEW.title, NEW.description, NEW.provider_id))
        ON CONFLICT (service_id) DO UPDATE SET document = EXCLUDED.document;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER services_fts_sync AFTER INSERT OR UPDATE OF title, description, provider_id ON services
    FOR EACH ROW EXECUTE FUNCTION services_fts_sync()
    """,
    """
    CREATE FUNCTION services_fts_member_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE services_fts f SET document = services_fts_document(s.title, s.description, s.provider_id)
        FROM services s WHERE s.id = f.service_id AND s.provider_id = NEW.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER services_fts_member_renamed AFTER UPDATE OF name ON members
    FOR EACH ROW EXECUTE FUNCTION services_fts_member_renamed()
    """,
    """
    INSERT INTO services_fts (service_id, document)
    SELECT id, services_fts_document(title, description, provider_id) FROM services
    """,
    # The catalogue's generation: bumped by every write that can change a search result, so that cached
    # results (marketplace/catalogue/queries.py) are keyed by it and never stale.
    """
    CREATE FUNCTION services_fts_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE services_fts_generation SET generation = generation + 1 WHERE id = 1;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER services_fts_bump AFTER INSERT OR UPDATE OR DELETE ON services "
    "FOR EACH STATEMENT EXECUTE FUNCTION services_fts_bump()",
    "CREATE TRIGGER services_fts_bump AFTER UPDATE ON members FOR EACH STATEMENT EXECUTE FUNCTION services_fts_bump()",
    "CREATE TRIGGER services_fts_bump AFTER INSERT OR UPDATE OR DELETE ON categories "
    "FOR EACH STATEMENT EXECUTE FUNCTION services_fts_bump()",
]

_BUMP = "UPDATE services_fts_generation SET generation = generation + 1 WHERE id = 1;"
SQLITE_BUMPS = [
    f"CREATE TRIGGER services_fts_bump_{name} AFTER {event} ON {table} BEGIN {_BUMP} END"
    for name, event, table in (
        ("si", "INSERT", "services"),
        ("su", "UPDATE", "services"),
        ("sd", "DELETE", "services"),
        ("mu", "UPDATE", "members"),
        ("ci", "INSERT", "categories"),
        ("cu", "UPDATE", "categories"),
    )
]

SQLITE_SEARCH = [
    """
    CREATE VIRTUAL TABLE services_fts USING fts5(
        title, provider, description, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4'
    )
    """,
    """
    CREATE TRIGGER services_fts_insert AFTER INSERT ON services BEGIN
        INSERT INTO services_fts (rowid, title, provider, description)
        VALUES (NEW.id, NEW.title, (SELECT name FROM members WHERE id = NEW.provider_id), NEW.description);
    END
    """,
    """
    CREATE TRIGGER services_fts_update AFTER UPDATE OF title, description, provider_id ON services BEGIN
        DELETE FROM services_fts WHERE rowid = OLD.id;
        INSERT INTO services_fts (rowid, title, provider, description)
        VALUES (NEW.id, NEW.title, (SELECT name FROM members WHERE id = NEW.provider_id), NEW.description);
    END
    """,
    """
    CREATE TRIGGER services_fts_delete AFTER DELETE ON services BEGIN
        DELETE FROM services_fts WHERE rowid = OLD.id;
    END
    """,
    """
    CREATE TRIGGER services_fts_member_renamed AFTER UPDATE OF name ON members BEGIN
        UPDATE services_fts SET provider = NEW.name
        WHERE rowid IN (SELECT id FROM services WHERE provider_id = NEW.id);
    END
    """,
    """
    INSERT INTO services_fts (rowid, title, provider, description)
    SELECT s.id, s.title, m.name, s.description FROM services s JOIN members m ON m.id = s.provider_id
    """,
]


def upgrade():
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *NOTIFICATION_KINDS, name="notification_kind", native_enum=False, create_constraint=True, length=30
            ),
            nullable=False,
        ),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_messages_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*NOTIFICATION_KINDS, name="preference_kind", native_enum=False, create_constraint=True, length=30),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "user_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "invitation",
                "password_reset",
                name="user_token_purpose",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_tokens_token_hash")),
    )
    with op.batch_alter_table("user_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "service_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_service_documents_size_positive")),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_service_documents_service_id_services")),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_service_documents_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_documents")),
    )
    with op.batch_alter_table("service_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_documents_service_id"), ["service_id"], unique=False)

    op.create_table(
        "booking_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_booking_messages_author_id_users")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_booking_messages_booking_id_bookings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_messages")),
    )
    with op.batch_alter_table("booking_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_booking_messages_booking_id"), ["booking_id"], unique=False)

    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("minimum_term_months", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("notice_period_days", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        # A booking cancelled before its start ends before it began (zero billable days).
        batch_op.drop_constraint(op.f("ck_bookings_ends_after_start"), type_="check")
        batch_op.create_check_constraint(
            "ends_after_start", "ends_on IS NULL OR ends_on >= starts_on OR status = 'cancelled'"
        )

    with op.batch_alter_table("price_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("minimum_term_months", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("notice_period_days", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("sla_availability", sa.Numeric(precision=5, scale=2), nullable=True))
        batch_op.add_column(sa.Column("sla_support_hours", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("sla_response_hours", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("contact_name", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("contact_email", sa.String(length=254), server_default="", nullable=False))
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=40), server_default="", nullable=False))
        batch_op.add_column(sa.Column("tax_legal_basis", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("tax_reasons", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("tax_reasoning", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("vatex_code", sa.String(length=40), nullable=True))
        batch_op.create_check_constraint("minimum_term_not_negative", "minimum_term_months >= 0")
        batch_op.create_check_constraint("notice_period_not_negative", "notice_period_days >= 0")
        batch_op.create_check_constraint(
            "sla_availability_percent",
            "sla_availability IS NULL OR (sla_availability >= 0 AND sla_availability <= 100)",
        )

    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "status",
                sa.Enum(
                    "entered",
                    "confirmed",
                    "disputed",
                    name="usage_status",
                    native_enum=False,
                    create_constraint=True,
                    length=30,
                ),
                server_default="entered",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("entered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reviewed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("dispute_reason", sa.Text(), server_default="", nullable=False))
        batch_op.create_foreign_key(
            batch_op.f("fk_usage_records_reviewed_by_id_users"), "users", ["reviewed_by_id"], ["id"]
        )

    # The new role `member_admin`: the role column's CHECK constraint lists the allowed values.
    with op.batch_alter_table("user_roles", schema=None) as batch_op:
        batch_op.alter_column(
            "role", existing_type=_role_enum(OLD_ROLES), type_=_role_enum(NEW_ROLES), existing_nullable=False
        )

    op.execute(
        "CREATE TABLE services_fts_generation (id INTEGER PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL)"
    )
    op.execute("INSERT INTO services_fts_generation (id, generation) VALUES (1, 0)")
    statements = PG_SEARCH if op.get_bind().dialect.name == "postgresql" else SQLITE_SEARCH + SQLITE_BUMPS
    for statement in statements:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS services_fts_bump ON services")
        op.execute("DROP TRIGGER IF EXISTS services_fts_bump ON members")
        op.execute("DROP TRIGGER IF EXISTS services_fts_bump ON categories")
        op.execute("DROP FUNCTION IF EXISTS services_fts_bump() CASCADE")
        op.execute("DROP TRIGGER IF EXISTS services_fts_member_renamed ON members")
        op.execute("DROP TRIGGER IF EXISTS services_fts_sync ON services")
        op.execute("DROP TABLE IF EXISTS services_fts")
        op.execute("DROP FUNCTION IF EXISTS services_fts_member_renamed()")
        op.execute("DROP FUNCTION IF EXISTS services_fts_sync()")
        op.execute("DROP FUNCTION IF EXISTS services_fts_document(text, text, integer)")
    else:
        for trigger in (
            "services_fts_bump_si",
            "services_fts_bump_su",
            "services_fts_bump_sd",
            "services_fts_bump_mu",
            "services_fts_bump_ci",
            "services_fts_bump_cu",
            "services_fts_insert",
            "services_fts_update",
            "services_fts_delete",
            "services_fts_member_renamed",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS services_fts")
    op.execute("DROP TABLE IF EXISTS services_fts_generation")
    with op.batch_alter_table("user_roles", schema=None) as batch_op:
        batch_op.alter_column(
            "role", existing_type=_role_enum(NEW_ROLES), type_=_role_enum(OLD_ROLES), existing_nullable=False
        )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_usage_records_reviewed_by_id_users"), type_="foreignkey")
        for column in ("dispute_reason", "reviewed_by_id", "reviewed_at", "entered_at", "status"):
            batch_op.drop_column(column)
    with op.batch_alter_table("services", schema=None) as batch_op:
        for name in ("sla_availability_percent", "notice_period_not_negative", "minimum_term_not_negative"):
            batch_op.drop_constraint(name, type_="check")
        for column in (
            "vatex_code",
            "tax_reasoning",
            "tax_reasons",
            "tax_legal_basis",
            "contact_phone",
            "contact_email",
            "contact_name",
            "sla_response_hours",
            "sla_support_hours",
            "sla_availability",
            "notice_period_days",
            "minimum_term_months",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("price_versions", schema=None) as batch_op:
        batch_op.drop_column("valid_until")
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_bookings_ends_after_start"), type_="check")
        batch_op.create_check_constraint("ends_after_start", "ends_on IS NULL OR ends_on >= starts_on")
        for column in ("cancelled_at", "notice_period_days", "minimum_term_months"):
            batch_op.drop_column(column)
    for table in (
        "booking_messages",
        "service_documents",
        "user_tokens",
        "notification_preferences",
        "outbox_messages",
    ):
        op.drop_table(table)
