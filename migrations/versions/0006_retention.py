"""retention: the entry keys of each feed's last body, never pruned; alerts by entry

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("body_keys", sa.JSON(), nullable=True))
    # Deleting an entry sets its alerts' entry_id to NULL: without an index, every
    # pruned entry would scan the whole alerts table.
    with op.batch_alter_table("alerts") as batch:
        batch.create_index(batch.f("ix_alerts_entry_id"), ["entry_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index(batch.f("ix_alerts_entry_id"))
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("body_keys")
