"""The schema, as SQLAlchemy ORM models. Alembic revisions in migrations/ must agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from monitor.storage.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class FeedRow(Base):
    """A feed: where to fetch it, what the last poll said, and when it is due."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config_url: Mapped[str] = mapped_column(Text, unique=True)
    url: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(100))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Which instance is polling it until when (a lease: a dead instance's claim runs out),
    # and which one polled it last.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_polled_by: Mapped[str | None] = mapped_column(String(200))
    # The keys of the entries in its last parsed body: retention never prunes those, so
    # a story still in the feed is never pruned and then stored again as new.
    body_keys: Mapped[list[str] | None] = mapped_column(JSON)
    # Its health (ok, failing, silent) since when, and how many times that changed: each
    # change is a conditional UPDATE on the count, so instances never alert for one twice.
    health_state: Mapped[str] = mapped_column(String(10), default="ok", server_default="ok")
    health_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    health_changes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (Index(None, "active", "next_poll_at"),)


class EntryRow(Base):
    """An entry of a feed, unique per feed by ``key`` (guid/id, else link, else content hash)."""

    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Text)
    guid: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        UniqueConstraint("feed_id", "key"),
        Index(None, "first_seen_at"),
        Index(None, "feed_id", "first_seen_at"),  # a feed's newest entries, for health checks
    )


class StoryRow(Base):
    """One story, told by one entry or by several (other outlets, other links).

    ``key`` is what alerts are unique on, with their rule: the canonical link (else
    feed and entry key) of the story's first entry, so a story alerts once per rule
    whichever of its entries matched. ``signature`` finds later entries of it.
    """

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The feed of its first entry: a feed's own later entries never join it by likeness
    # (one feed's entries are its separate stories, however alike their wording).
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))


class StoryKeyRow(Base):
    """Every story key (canonical link, else feed and entry key) of a story's entries.

    An entry grouped into a story by likeness leaves its own key here, so a later
    entry with that link joins the same story instead of starting one that alerts.
    """

    __tablename__ = "story_keys"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)


class ArticleRow(Base):
    """The linked page of an entry of a ``fetch_articles`` feed: a queue row, then its text."""

    __tablename__ = "articles"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10))  # pending, ok, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    text: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index(None, "state", "next_attempt_at"),)


class AlertRow(Base):
    """One alert per rule and story; the unique constraint makes a second one impossible.

    The entry's title, link and feed are copied in, so an alert reads the same
    after its entry is pruned or its feed leaves the configuration.
    """

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rule: Mapped[str] = mapped_column(Text)
    story_key: Mapped[str] = mapped_column(Text)
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("entries.id", ondelete="SET NULL"), index=True
    )
    matched: Mapped[list[str]] = mapped_column(JSON)
    field: Mapped[str] = mapped_column(String(20))
    snippet: Mapped[str] = mapped_column(Text)
    highlights: Mapped[list[list[int]]] = mapped_column(JSON)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feed_name: Mapped[str] = mapped_column(Text)
    feed_url: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    detected_by: Mapped[str | None] = mapped_column(String(200))
    # "match" for a rule's alert; feed_failing, feed_silent or feed_recovered for a feed's
    # health, whose facts (error, failures, last success, ...) are in ``details``.
    kind: Mapped[str] = mapped_column(String(20), default="match", server_default="match")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("rule", "story_key"),
        Index(None, "detected_at"),
    )


class DeliveryRow(Base):
    """The outbox: one row per (alert, notifier), written in the alert's own transaction."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    notifier: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10))  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("alert_id", "notifier"),
        Index(None, "state", "next_attempt_at"),
    )


class NotifierLeaseRow(Base):
    """Which instance serves a notifier's queue, until when.

    One instance at a time sends to a notifier, so its alerts keep their order
    and Slack's one message a second holds across instances.
    """

    __tablename__ = "notifier_leases"

    notifier: Mapped[str] = mapped_column(Text, primary_key=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AttemptRow(Base):
    """Every delivery attempt: when, the HTTP status if any, the error if any."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(10))  # ok, retry, fail

    __table_args__ = (Index(None, "delivery_id"),)
