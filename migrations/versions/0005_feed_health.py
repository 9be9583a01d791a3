"""feed health: each feed's health state, health alerts told apart from rule alerts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(
            sa.Column("health_state", sa.String(length=10), server_default="ok", nullable=False)
        )
        batch.add_column(sa.Column("health_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("health_changes", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=20), server_default="match", nullable=False)
        )
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
    with op.batch_alter_table("entries") as batch:
        batch.create_index(
            batch.f("ix_entries_feed_id_first_seen_at"), ["feed_id", "first_seen_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_index(batch.f("ix_entries_feed_id_first_seen_at"))
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("details")
        batch.drop_column("kind")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("health_changes")
        batch.drop_column("health_since")
        batch.drop_column("health_state")
