"""Data passed between the steps, each named after its step.

Frozen dataclasses with timezone-aware UTC datetimes. ORM rows never leave
``monitor.storage``; it converts them to these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.grouping import Signature
    from monitor.matching.matcher import Match


@dataclass(frozen=True)
class FeedForPoll:
    """A due feed, as the poller needs it: where to fetch and which validators to send."""

    id: int
    config_url: str
    url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    consecutive_failures: int
    first_poll: bool
    claimed_until: datetime | None = None  # this instance's claim on it runs out then


@dataclass(frozen=True)
class FetchResult:
    """What one HTTP fetch gave: a body, or ``not_modified`` for a 304."""

    url: str
    status: int
    not_modified: bool
    body: bytes
    etag: str | None
    last_modified: str | None
    content_type: str | None
    permanent_url: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class ParsedEntry:
    """One entry of a feed with a stable identity (``key``) within that feed."""

    key: str
    guid: str | None
    link: str | None
    title: str
    summary: str
    content: str
    published: datetime | None
    updated: datetime | None
    content_hash: str
    # The rules it matches, every rule's, when a parse worker matched it (monitor.parsematch)
    # with the matcher the poll was given, and then, if it matched any, its story signature
    # (monitor.grouping). Not part of what the entry is.
    matches: tuple[Match, ...] | None = field(default=None, compare=False, repr=False)
    signature: Signature | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed body: its title, entries, and whether feedparser noted it malformed."""

    title: str | None
    version: str
    entries: tuple[ParsedEntry, ...]
    bozo: str | None = None


@dataclass(frozen=True)
class FeedStatus:
    """One feed as ``monitor feeds`` shows it."""

    id: int
    config_url: str
    url: str
    name: str | None
    title: str | None
    active: bool
    last_poll: datetime | None
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    consecutive_failures: int
    entries: int
    next_poll: datetime
    polled_by: str | None = None  # the instance that polled it last


@dataclass(frozen=True)
class StoredEntry:
    """An entry that was inserted or changed by a poll, with what matching needs."""

    id: int
    feed_id: int
    key: str
    link: str | None
    title: str
    summary: str
    content: str
    published: datetime | None
    first_seen: datetime
    is_new: bool
    article: str = ""  # the text of its linked page, once fetched (``fetch_articles``)
    story_key: str | None = None  # the story it tells, once grouped (else alerting derives it)
    # Every rule's matches on its title, summary and content, when matched with the parse
    # (no article then), and its signature: ParsedEntry's.
    matches: tuple[Match, ...] | None = field(default=None, compare=False, repr=False)
    signature: Signature | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Alert:
    """One alert for one rule and one story, as notifiers render it."""

    id: str
    rule: str
    matched: tuple[str, ...]
    title: str
    url: str | None
    published: datetime | None
    summary: str
    snippet: str
    feed_name: str
    feed_url: str
    detected_at: datetime
    highlights: tuple[tuple[int, int], ...] = field(default=())
    health: FeedHealthNote | None = None  # set on a feed health alert, whose rule is feed-health
    # Every outlet known to carry the story when the alert is sent, its own entry first.
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class Source:
    """One outlet's entry of a story: which feed, its link and title."""

    feed_name: str
    feed_url: str
    url: str | None
    title: str


@dataclass(frozen=True)
class FeedHealthNote:
    """What a feed health alert tells: the feed's new state and the facts behind it."""

    state: str  # failing, silent or recovered
    error: str | None  # the last poll's error, credentials in URLs hidden
    failures: int  # polls failed in a row
    last_success: datetime | None
    last_entry: datetime | None = None  # when its newest entry was first seen
    usual_gap: float | None = None  # seconds, the median gap between its recent entries
    was: str | None = None  # for recovered: what it recovered from (failing or silent)
