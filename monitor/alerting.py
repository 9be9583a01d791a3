"""Which stored entries alert, for which rules: pure, with ``now`` passed in.

``stored entries | prepare text once | one matcher for all rules | backlog window | story key``.
A story is the one storage grouped the entry into (monitor.storage.stories:
the same link, or a likeness to a recent story from another outlet), else its
canonical link, else its feed and entry key, so the same story in two feeds,
an edit, a re-poll or a restart meets the database's unique (rule, story)
constraint instead of a second alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.canonical import canonical_link
from monitor.matching.matcher import Match, Matcher
from monitor.matching.text import html_to_text, prepare_entry
from monitor.models import StoredEntry

SUMMARY_CHARS = 1000


@dataclass(frozen=True)
class FeedContext:
    """What alerting needs to know about the feed the entries came from."""

    id: int
    name: str
    url: str
    backlog: float
    rules: tuple[str, ...] | None


@dataclass(frozen=True)
class NewAlert:
    """An alert to insert (unless its rule and story already alerted) and whom to notify."""

    id: str
    rule: str
    story_key: str
    feed_id: int
    entry_id: int
    matched: tuple[str, ...]
    field: str
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    title: str
    url: str | None
    summary: str
    published: datetime | None
    feed_name: str
    feed_url: str
    detected_at: datetime
    notifiers: tuple[str, ...]


def story_key(feed_id: int, entry_key: str, link: str | None) -> str:
    """The canonical link when there is one, else this feed's own key for the entry."""
    if link:
        canonical = canonical_link(link)
        if canonical:
            return f"url:{canonical}"
    return f"feed:{feed_id}:{entry_key}"


def within_backlog(entry: StoredEntry, first_poll: bool, backlog: float, now: datetime) -> bool:
    """False for an entry older than the backlog window on its feed's first poll.

    An entry with no date is taken as current: feeds that give no dates list recent items.
    """
    if not first_poll or entry.published is None:
        return True
    return entry.published >= now - timedelta(seconds=backlog)


def articles_to_fetch(
    entries: Sequence[StoredEntry], first_poll: bool, backlog: float, now: datetime
) -> list[StoredEntry]:
    """The entries whose linked page is worth fetching (``fetch_articles``): new ones with a
    link that may still alert; an edit keeps the article already fetched."""
    return [
        e for e in entries if e.is_new and e.link and within_backlog(e, first_poll, backlog, now)
    ]


class Alerter:
    """Turns new or changed entries into alerts, with one matcher for every rule."""

    def __init__(
        self,
        matcher: Matcher,
        notify: dict[str, tuple[str, ...]],
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.matcher = matcher
        self.notify = notify
        self.new_id = new_id

    def alerts_for(
        self,
        feed: FeedContext,
        entries: Sequence[StoredEntry],
        first_poll: bool,
        now: datetime,
        matched_by: Matcher | None = None,
    ) -> list[NewAlert]:
        """Alerts for ``entries`` under the feed's rules; duplicates are the database's to drop.

        An entry's ``matches``, found with the parse, are used when ``matched_by`` (the
        matcher that found them) is this alerter's and the entry has no article text.
        """
        alerts: list[NewAlert] = []
        if not self.matcher.rules:
            return alerts
        prematched = matched_by is self.matcher
        allowed = set(feed.rules) if feed.rules is not None else None
        for entry in entries:
            if not within_backlog(entry, first_poll, feed.backlog, now):
                continue
            if prematched and entry.matches is not None and not entry.article:
                matches = [m for m in entry.matches if allowed is None or m.rule in allowed]
            else:
                prepared = prepare_entry(entry.title, entry.summary, entry.content, entry.article)
                matches = self.matcher.match(prepared, feed.rules)
            if matches:
                alerts.extend(self._alerts(feed, entry, matches, now))
        return alerts

    def _alerts(
        self, feed: FeedContext, entry: StoredEntry, matches: Sequence[Match], now: datetime
    ) -> list[NewAlert]:
        """One alert per match; what they share about the entry is worked out once."""
        key = entry.story_key or story_key(feed.id, entry.key, entry.link)
        title = html_to_text(entry.title).strip()
        summary = html_to_text(entry.summary)[:SUMMARY_CHARS]
        return [
            NewAlert(
                id=self.new_id(),
                rule=match.rule,
                story_key=key,
                feed_id=feed.id,
                entry_id=entry.id,
                matched=match.matched,
                field=match.field,
                snippet=match.snippet,
                highlights=match.highlights,
                title=title,
                url=entry.link,
                summary=summary,
                published=entry.published,
                feed_name=feed.name,
                feed_url=feed.url,
                detected_at=now,
                notifiers=self.notify.get(match.rule, ()),
            )
            for match in matches
        ]
