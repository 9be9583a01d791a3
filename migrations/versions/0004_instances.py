"""several instances: feed claims, notifier leases, who handled what

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_polled_by", sa.String(length=200), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("detected_by", sa.String(length=200), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("last_attempt_by", sa.String(length=200), nullable=True))
    op.create_table(
        "notifier_leases",
        sa.Column("notifier", sa.Text(), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("notifier", name=op.f("pk_notifier_leases")),
    )


def downgrade() -> None:
    op.drop_table("notifier_leases")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("last_attempt_by")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("detected_by")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("last_polled_by")
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
