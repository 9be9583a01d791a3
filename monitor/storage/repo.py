"""The storage API: feeds in and out of the database as dataclasses, never as rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Update, case, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.instance import instance_name
from monitor.models import (
    FeedForPoll,
    FeedStatus,
    FetchResult,
    ParsedEntry,
    ParsedFeed,
    StoredEntry,
)
from monitor.storage.session import batches, insert_for, unit
from monitor.storage.stories import StoryGrouper
from monitor.storage.tables import (
    AlertRow,
    ArticleRow,
    DeliveryRow,
    EntryRow,
    FeedRow,
    NotifierLeaseRow,
)

if TYPE_CHECKING:
    from monitor.alerting import NewAlert

AlertDecider = Callable[[list[StoredEntry], bool], "Sequence[NewAlert]"]
# Of a poll's stored entries (and whether it is the feed's first poll), those whose
# linked page is to be fetched (``fetch_articles``; see monitor.storage.articles).
ArticlePicker = Callable[[list[StoredEntry], bool], Sequence[StoredEntry]]

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class FeedSpec:
    """A feed as the configuration declares it."""

    config_url: str
    name: str | None


@dataclass(frozen=True)
class UnchangedPoll:
    """A good poll that found nothing new (a 304, or the body stored last time)."""

    feed_id: int
    result: FetchResult
    next_poll: datetime
    now: datetime
    body_hash: str | None


@dataclass(frozen=True)
class PollStored:
    """What one successful poll wrote: new or changed entries, and the alerts inserted."""

    entries: list[StoredEntry] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    alert_rules: list[str] = field(default_factory=list)  # the rule of each alert inserted


class Storage:
    """Transactions over one engine; every public method is one unit of work."""

    def __init__(self, engine: Engine, instance: str | None = None) -> None:
        self.engine = engine
        self.instance = instance or instance_name()
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.stories = StoryGrouper()

    def _session(self) -> Session:
        return self._sessions()

    def sync_feeds(self, feeds: Sequence[FeedSpec], now: datetime) -> None:
        """Make the feeds table follow the config: new feeds are due now, dropped ones inactive.

        Safe when several instances start at once: a feed another one just added is
        left alone (insert or nothing), and rows are updated in id order so two
        instances never wait on each other in a cycle.
        """
        wanted = {f.config_url: f for f in feeds}
        with unit(self._session()) as session:
            rows = {r.config_url: r for r in session.scalars(select(FeedRow).order_by(FeedRow.id))}
            missing = [_new_feed(spec, now) for url, spec in wanted.items() if url not in rows]
            if missing:
                session.execute(
                    insert_for(session, FeedRow).on_conflict_do_nothing(
                        index_elements=["config_url"]
                    ),
                    missing,
                )
            for url, row in rows.items():
                spec = wanted.get(url)
                if spec is None:
                    row.active = False
                elif (row.name, row.active) != (spec.name, True):
                    row.name, row.active = spec.name, True

    def claim_due(
        self, now: datetime, lease: float, limit: int | None = None, every: bool = False
    ) -> list[FeedForPoll]:
        """Claim due feeds (every active one with ``every``) that no live claim holds.

        ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: instances claiming at the same
        moment each get other feeds, without waiting on each other. A claim is a
        lease until ``now + lease``: if this instance dies, the feed is due again
        for the others once it runs out. SQLite serves one instance and ignores
        the row lock.
        """
        free = or_(FeedRow.claimed_until.is_(None), FeedRow.claimed_until < now)
        query = select(FeedRow).where(FeedRow.active.is_(True), free)
        if not every:
            query = query.where(FeedRow.next_poll_at <= now)
        query = query.order_by(FeedRow.next_poll_at, FeedRow.id).with_for_update(skip_locked=True)
        if limit is not None:
            query = query.limit(limit)
        until = now + timedelta(seconds=lease)
        with unit(self._session()) as session:
            rows = list(session.scalars(query))
            for row in rows:
                row.claimed_by, row.claimed_until = self.instance, until
            return [_for_poll(row) for row in rows]

    def renew_claim(self, feed_id: int, now: datetime, lease: float) -> bool:
        """Extend this instance's claim on a feed; False when another instance holds it now."""
        stmt = (
            update(FeedRow)
            .where(FeedRow.id == feed_id, FeedRow.claimed_by == self.instance)
            .values(claimed_until=now + timedelta(seconds=lease))
        )
        with unit(self._session()) as session:
            return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]

    def clear_claims(self) -> None:
        """Drop every claim and notifier lease: for an instance known to be the only one."""
        with unit(self._session()) as session:
            session.execute(
                update(FeedRow)
                .where(FeedRow.claimed_by.is_not(None))
                .values(claimed_by=None, claimed_until=None)
            )
            session.execute(update(NotifierLeaseRow).values(claimed_by=None, claimed_until=None))

    def release(self, feed_ids: Sequence[int]) -> None:
        """Give back claims on feeds whose poll did not finish (they stay due)."""
        if not feed_ids:
            return
        with unit(self._session()) as session:
            session.execute(
                update(FeedRow)
                .where(FeedRow.id.in_(list(feed_ids)), FeedRow.claimed_by == self.instance)
                .values(claimed_by=None, claimed_until=None)
            )

    def next_due(self) -> datetime | None:
        """When the earliest active feed is due."""
        query = (
            select(FeedRow.next_poll_at)
            .where(FeedRow.active.is_(True))
            .order_by(FeedRow.next_poll_at)
            .limit(1)
        )
        with unit(self._session()) as session:
            return session.scalar(query)

    def record_success(
        self,
        feed_id: int,
        result: FetchResult,
        parsed: ParsedFeed | None,
        next_poll: datetime,
        now: datetime,
        body_hash: str | None,
        decide: AlertDecider | None = None,
        articles: ArticlePicker | None = None,
    ) -> PollStored:
        """Store a good poll: validators, status, new or changed entries and their alerts.

        All in one transaction, so an entry is never stored without the alerts it
        raises: a crash in between would make it look old on the next start.
        """
        if parsed is None:
            self.record_unchanged([UnchangedPoll(feed_id, result, next_poll, now, body_hash)])
            return PollStored()
        with unit(self._session()) as session:
            feed = session.get_one(FeedRow, feed_id)
            first_poll = feed.first_polled_at is None
            _mark_ok(feed, result, next_poll, now, body_hash)
            self._unclaim(feed)
            feed.title = parsed.title or feed.title
            feed.body_keys = [e.key for e in parsed.entries]
            feed.last_error = f"malformed feed, read anyway: {parsed.bozo}" if parsed.bozo else None
            if first_poll:
                feed.first_polled_at = now
            entries = _store_entries(session, feed_id, parsed.entries, now)
            alerts = decide(entries, first_poll) if decide and entries else ()
            alerts = self.stories.group(session, entries, alerts, now)
            inserted = _insert_alerts(session, alerts, self.instance)
            if articles is not None and entries:  # queued in this transaction: never lost
                from monitor.storage.articles import enqueue  # it builds on this module

                enqueue(session, articles(entries, first_poll), now)
            return PollStored(entries, [a.id for a in inserted], [a.rule for a in inserted])

    def record_unchanged(self, polls: Sequence[UnchangedPoll]) -> None:
        """A 304, or the same body as last time: one UPDATE, the most frequent write there is.

        A validator the answer leaves out is kept after a 304 and dropped after a 200;
        an error from an earlier failed poll goes, a note on the (same) body stays.
        """
        with unit(self._session()) as session:
            for poll in polls:
                session.execute(self._unchanged_update(poll))

    def _unchanged_update(self, poll: UnchangedPoll) -> Update:
        result, now = poll.result, poll.now
        kept = result.not_modified
        values: dict[str, Any] = {
            "last_poll_at": now,
            "last_success_at": now,
            "last_status": "unchanged",
            "last_http_status": result.status,
            "last_error": case((FeedRow.last_status == "error", None), else_=FeedRow.last_error),
            "consecutive_failures": 0,
            "next_poll_at": poll.next_poll,
            "etag": result.etag if result.etag or not kept else FeedRow.etag,
            "last_modified": (
                result.last_modified if result.last_modified or not kept else FeedRow.last_modified
            ),
            **self._unclaimed(),
        }
        if poll.body_hash is not None:
            values["body_hash"] = poll.body_hash
        if result.permanent_url:
            values["url"] = result.permanent_url
        return update(FeedRow).where(FeedRow.id == poll.feed_id).values(values)

    def record_failure(
        self, feed_id: int, error: str, status: int | None, next_poll: datetime, now: datetime
    ) -> None:
        """Store a failed poll on its feed; the failure streak grows by one."""
        with unit(self._session()) as session:
            session.execute(
                update(FeedRow)
                .where(FeedRow.id == feed_id)
                .values(
                    last_poll_at=now,
                    last_status="error",
                    last_http_status=status,
                    last_error=error[:MAX_ERROR_CHARS],
                    consecutive_failures=FeedRow.consecutive_failures + 1,
                    next_poll_at=next_poll,
                    **self._unclaimed(),
                )
            )

    def _unclaimed(self) -> dict[str, Any]:
        """UPDATE values for a recorded poll: this instance polled the feed last, and its
        claim ends (a claim another instance took over stays theirs)."""
        mine = FeedRow.claimed_by == self.instance
        return {
            "last_polled_by": self.instance,
            "claimed_by": case((mine, None), else_=FeedRow.claimed_by),
            "claimed_until": case((mine, None), else_=FeedRow.claimed_until),
        }

    def _unclaim(self, feed: FeedRow) -> None:
        """``_unclaimed`` for a feed loaded in the session (a poll that stores entries)."""
        feed.last_polled_by = self.instance
        if feed.claimed_by == self.instance:
            feed.claimed_by, feed.claimed_until = None, None

    def feed_statuses(self) -> list[FeedStatus]:
        """Every feed with its entry count, active ones first, in name order."""
        counts = (
            select(EntryRow.feed_id, func.count().label("n")).group_by(EntryRow.feed_id).subquery()
        )
        query = (
            select(FeedRow, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.feed_id == FeedRow.id)
            .order_by(
                FeedRow.active.desc(), func.coalesce(FeedRow.name, FeedRow.title, FeedRow.url)
            )
        )
        with unit(self._session()) as session:
            return [_status(row, n) for row, n in session.execute(query)]

    def entries_since(self, since: datetime) -> Iterator[tuple[str, StoredEntry]]:
        """Stored entries published (else first seen) since ``since``, newest first, with their
        feed's name and the text of their linked page, if fetched."""
        label = func.coalesce(FeedRow.name, FeedRow.title, FeedRow.url)
        when = func.coalesce(EntryRow.published_at, EntryRow.first_seen_at)
        query = (
            select(label, EntryRow, ArticleRow.text)
            .join(FeedRow, FeedRow.id == EntryRow.feed_id)
            .outerjoin(ArticleRow, ArticleRow.entry_id == EntryRow.id)
            .where(when >= since)
            .order_by(when.desc(), EntryRow.id.desc())
            .execution_options(yield_per=500)
        )
        with unit(self._session()) as session:
            for name, row, article in session.execute(query):
                yield name, replace(_stored(row, False), article=article or "")

    def alert_keys(self) -> set[tuple[str, str]]:
        """Every (rule, story) that has alerted; for tests and audits."""
        with unit(self._session()) as session:
            return {(r, k) for r, k in session.execute(select(AlertRow.rule, AlertRow.story_key))}

    def entry_count(self) -> int:
        with unit(self._session()) as session:
            return session.scalar(select(func.count()).select_from(EntryRow)) or 0


def _new_feed(spec: FeedSpec, now: datetime) -> dict[str, Any]:
    """A feeds row for a feed new in the config: due now."""
    return {
        "config_url": spec.config_url,
        "url": spec.config_url,
        "name": spec.name,
        "active": True,
        "next_poll_at": now,
        "consecutive_failures": 0,
        "created_at": now,
    }


def _for_poll(row: FeedRow) -> FeedForPoll:
    return FeedForPoll(
        id=row.id,
        config_url=row.config_url,
        url=row.url,
        title=row.title,
        etag=row.etag,
        last_modified=row.last_modified,
        body_hash=row.body_hash,
        consecutive_failures=row.consecutive_failures,
        first_poll=row.first_polled_at is None,
        claimed_until=row.claimed_until,
    )


def _mark_ok(
    feed: FeedRow, result: FetchResult, next_poll: datetime, now: datetime, body_hash: str | None
) -> None:
    feed.last_poll_at = feed.last_success_at = now
    feed.last_status = "unchanged" if result.not_modified or body_hash == feed.body_hash else "ok"
    feed.last_http_status = result.status
    feed.consecutive_failures = 0
    feed.next_poll_at = next_poll
    feed.etag = result.etag or (feed.etag if result.not_modified else None)
    feed.last_modified = result.last_modified or (
        feed.last_modified if result.not_modified else None
    )
    if body_hash is not None:
        feed.body_hash = body_hash
    if result.permanent_url:
        feed.url = result.permanent_url


def _store_entries(
    session: Session, feed_id: int, entries: Iterable[ParsedEntry], now: datetime
) -> list[StoredEntry]:
    by_key = {e.key: e for e in entries}
    if not by_key:
        return []
    keys = list(by_key)
    existing = {
        row.key: row
        for chunk in batches(keys)
        for row in session.scalars(
            select(EntryRow).where(EntryRow.feed_id == feed_id, EntryRow.key.in_(chunk))
        )
    }
    changed: list[EntryRow] = []
    new: list[EntryRow] = []
    for key, entry in by_key.items():
        row = existing.get(key)
        if row is None:
            new.append(_entry_row(feed_id, entry, now))
        elif row.content_hash != entry.content_hash:
            _update_entry(row, entry, now)
            changed.append(row)
    session.add_all(new)
    session.flush()
    return [_stored(r, True) for r in new] + [_stored(r, False) for r in changed]


def _insert_alerts(session: Session, alerts: Iterable[NewAlert], instance: str) -> list[NewAlert]:
    """Insert each alert unless its (rule, story) already alerted; those inserted.

    Insert-or-nothing on the unique (rule, story): when two instances see one
    story at once, the second insert waits for the first and then does nothing.
    """
    inserted = []
    for alert in alerts:
        stmt = (
            insert_for(session, AlertRow)
            .values(**_alert_values(alert), detected_by=instance)
            .on_conflict_do_nothing(index_elements=["rule", "story_key"])
            .returning(AlertRow.id)
        )
        if session.execute(stmt).scalar() is not None:
            inserted.append(alert)
            session.add_all(_deliveries(alert))
    return inserted


def _deliveries(alert: NewAlert) -> list[DeliveryRow]:
    return [
        DeliveryRow(
            alert_id=alert.id,
            notifier=notifier,
            state="pending",
            attempts=0,
            next_attempt_at=alert.detected_at,
            created_at=alert.detected_at,
        )
        for notifier in alert.notifiers
    ]


def _alert_values(alert: NewAlert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "rule": alert.rule,
        "story_key": alert.story_key,
        "feed_id": alert.feed_id,
        "entry_id": alert.entry_id,
        "matched": list(alert.matched),
        "field": alert.field,
        "snippet": alert.snippet,
        "highlights": [list(h) for h in alert.highlights],
        "title": alert.title,
        "url": alert.url,
        "summary": alert.summary,
        "published_at": alert.published,
        "feed_name": alert.feed_name,
        "feed_url": alert.feed_url,
        "detected_at": alert.detected_at,
    }


def _entry_row(feed_id: int, entry: ParsedEntry, now: datetime) -> EntryRow:
    row = EntryRow(feed_id=feed_id, key=entry.key, first_seen_at=now)
    _update_entry(row, entry, None)
    return row


def _update_entry(row: EntryRow, entry: ParsedEntry, now: datetime | None) -> None:
    row.guid, row.link, row.title = entry.guid, entry.link, entry.title
    row.summary, row.content = entry.summary, entry.content
    row.published_at, row.updated_at = entry.published, entry.updated
    row.content_hash = entry.content_hash
    row.changed_at = now


def _stored(row: EntryRow, is_new: bool) -> StoredEntry:
    return StoredEntry(
        id=row.id,
        feed_id=row.feed_id,
        key=row.key,
        link=row.link,
        title=row.title,
        summary=row.summary,
        content=row.content,
        published=row.published_at,
        first_seen=row.first_seen_at,
        is_new=is_new,
    )


def _status(row: FeedRow, entries: int) -> FeedStatus:
    return FeedStatus(
        id=row.id,
        config_url=row.config_url,
        url=row.url,
        name=row.name,
        title=row.title,
        active=row.active,
        last_poll=row.last_poll_at,
        last_status=row.last_status,
        last_http_status=row.last_http_status,
        last_error=row.last_error,
        consecutive_failures=row.consecutive_failures,
        entries=entries,
        next_poll=row.next_poll_at,
        polled_by=row.last_polled_by,
    )
