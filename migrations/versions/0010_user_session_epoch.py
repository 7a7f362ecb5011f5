"""Sessions end on the server at logout: users carry a session epoch that every logout moves on.

A session cookie names the epoch it was issued under and is refused once the user's epoch has moved on, so
a copy saved before the logout no longer works. Existing users start at 0; cookies issued before this
revision name no epoch at all and are refused once, so everybody logs in again after the upgrade.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    op.drop_column("users", "session_epoch")
