"""Category management: the operator retires categories instead of deleting those in use.

A retired category stays on the services that carry it but is no longer offered for new services. On SQLite
a deleted category now also bumps the catalogue's generation (PostgreSQL's statement trigger of 0005 already
covers DELETE), so every category write reaches the cached search results and facets.

The column is added with a plain ALTER TABLE: a batch operation would rebuild `categories` on SQLite and drop
the generation triggers of 0005.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SQLITE_DELETE_BUMP = (
    "CREATE TRIGGER services_fts_bump_cd AFTER DELETE ON categories BEGIN "
    "UPDATE services_fts_generation SET generation = generation + 1 WHERE id = 1; END"
)


def upgrade():
    op.add_column("categories", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute(_SQLITE_DELETE_BUMP)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS services_fts_bump_cd")
    op.drop_column("categories", "retired_at")
