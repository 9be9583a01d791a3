"""stories across outlets and the keys they are known by; the article queue and page texts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name=op.f("fk_stories_feed_id_feeds"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
        sa.UniqueConstraint("key", name=op.f("uq_stories_key")),
    )
    op.create_index(op.f("ix_stories_first_seen_at"), "stories", ["first_seen_at"], unique=False)
    op.create_table(
        "story_keys",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_story_keys_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_story_keys")),
    )
    op.create_index(op.f("ix_story_keys_story_id"), "story_keys", ["story_id"], unique=False)
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_entries_story_id_stories"),
            "stories",
            ["story_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(batch.f("ix_entries_story_id"), ["story_id"], unique=False)
    op.create_table(
        "articles",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["entries.id"],
            name=op.f("fk_articles_entry_id_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_articles")),
    )
    op.create_index(
        op.f("ix_articles_state_next_attempt_at"),
        "articles",
        ["state", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_articles_state_next_attempt_at"), table_name="articles")
    op.drop_table("articles")
    with op.batch_alter_table("entries") as batch:
        batch.drop_index(batch.f("ix_entries_story_id"))
        batch.drop_constraint(batch.f("fk_entries_story_id_stories"), type_="foreignkey")
        batch.drop_column("story_id")
    op.drop_index(op.f("ix_story_keys_story_id"), table_name="story_keys")
    op.drop_table("story_keys")
    op.drop_index(op.f("ix_stories_first_seen_at"), table_name="stories")
    op.drop_table("stories")
