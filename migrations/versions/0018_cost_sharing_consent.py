"""Cost sharing asks first: a participant is invited and takes part only once its member's staff accepted.

Each participant carries its state (invited, accepted, declined), who answered and when. Participants from
before this revision were enrolled by their provider and have been charged advances, so they count as
accepted (the server default); new ones start as invited, carry no share and are charged nothing.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

STATES = ("invited", "accepted", "declined")


def upgrade():
    with op.batch_alter_table("cost_sharing_participants") as batch:
        batch.add_column(
            sa.Column(
                "state",
                sa.Enum(
                    *STATES, name="cost_sharing_participant_state", native_enum=False, create_constraint=True, length=30
                ),
                server_default="accepted",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decided_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_cost_sharing_participants_decided_by_id_users", "users", ["decided_by_id"], ["id"]
        )
        batch.create_index("ix_cost_sharing_participants_state", ["state"])


def downgrade():
    with op.batch_alter_table("cost_sharing_participants") as batch:
        batch.drop_index("ix_cost_sharing_participants_state")
        batch.drop_constraint("fk_cost_sharing_participants_decided_by_id_users", type_="foreignkey")
        for column in ("decided_by_id", "decided_at", "state"):
            batch.drop_column(column)
