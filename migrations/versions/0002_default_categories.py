"""Seed the service categories of the API contract (the operator may add more later).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# A snapshot, not an import: migrations must not change when application code does.
CATEGORIES = [
    ("hosting", "Hosting", "Hosting"),
    ("operations", "Betrieb", "Operations"),
    ("licence-management", "Lizenzmanagement", "Licence management"),
    ("consulting", "Beratung", "Consulting"),
    ("training", "Schulung", "Training"),
    ("software", "Software", "Software"),
    ("support", "Support", "Support"),
]


def upgrade():
    categories = sa.table(
        "categories",
        sa.column("slug", sa.String),
        sa.column("name_de", sa.String),
        sa.column("name_en", sa.String),
        sa.column("position", sa.Integer),
    )
    op.bulk_insert(
        categories,
        [
            {"slug": slug, "name_de": de, "name_en": en, "position": index}
            for index, (slug, de, en) in enumerate(CATEGORIES)
        ],
    )


def downgrade():
    op.execute(sa.text("DELETE FROM categories WHERE slug IN :slugs").bindparams(
        sa.bindparam("slugs", [slug for slug, _de, _en in CATEGORIES], expanding=True)
    ))
