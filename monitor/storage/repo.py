"""The storage API: feeds in and out of the database as dataclasses, never as rows."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    Boolean,
    Engine,
    Insert,
    Update,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Dialect
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
from monitor.storage.session import (
    batches,
    dialect_insert,
    dialect_of,
    insert_for,
    pair_batches,
    table_of,
    unit,
)
from monitor.storage.stories import PollAlerts, StoryGrouper
from monitor.storage.tables import (
    AlertRow,
    ArticleRow,
    DeliveryRow,
    EntryRow,
    FeedRow,
    NotifierLeaseRow,
)
from monitor.storage.types import UTCDateTime

if TYPE_CHECKING:
    from monitor.alerting import NewAlert

log = logging.getLogger(__name__)

AlertDecider = Callable[[list[StoredEntry], bool], "Sequence[NewAlert]"]
# Of a poll's stored entries (and whether it is the feed's first poll), those whose
# linked page is to be fetched (``fetch_articles``; see monitor.storage.articles).
ArticlePicker = Callable[[list[StoredEntry], bool], Sequence[StoredEntry]]

MAX_ERROR_CHARS = 2000

# Core tables: a poll's rows are written with executemany statements on these, not as ORM
# objects, while this process's one writer lock is held (see Poller.store_lock).
FEEDS = table_of(FeedRow)
ENTRIES = table_of(EntryRow)
ALERTS = table_of(AlertRow)
DELIVERIES = table_of(DeliveryRow)


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
class ChangedPoll:
    """A good poll that parsed a body: its feed, entries and alerts are to be stored."""

    feed_id: int
    result: FetchResult
    parsed: ParsedFeed
    next_poll: datetime
    now: datetime
    body_hash: str | None
    decide: AlertDecider | None = None
    articles: ArticlePicker | None = None


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
        self._changed_update: Update | None = None  # built on first use (_changed_feed_update)

    def _session(self) -> Session:
        return self._sessions()

    def sync_feeds(self, feeds: Sequence[FeedSpec], now: datetime) -> None:
        """Make the feeds table follow the config: new feeds are due now, dropped ones inactive.

        Safe when several instances start at once: a feed another one just added is
        left alone (insert or nothing), and rows are updated in id order so two
        instances never wait on each other in a cycle.
        """
        wanted = {f.config_url: f for f in feeds}
        columns = (FeedRow.id, FeedRow.config_url, FeedRow.name, FeedRow.active)
        with unit(self._session()) as session:
            rows = {r.config_url: r for r in session.execute(select(*columns).order_by(FeedRow.id))}
            missing = [_new_feed(spec, now) for url, spec in wanted.items() if url not in rows]
            if missing:
                session.execute(
                    insert_for(session, FeedRow).on_conflict_do_nothing(
                        index_elements=["config_url"]
                    ),
                    missing,
                )
            for url, row in rows.items():  # in id order
                spec = wanted.get(url)
                values: dict[str, Any] | None = None
                if spec is None:
                    values = {"active": False} if row.active else None
                elif (row.name, row.active) != (spec.name, True):
                    values = {"name": spec.name, "active": True}
                if values is not None:
                    session.execute(update(FeedRow).where(FeedRow.id == row.id).values(values))

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
        query = select(*_POLL_COLUMNS).where(FeedRow.active.is_(True), free)
        if not every:
            query = query.where(FeedRow.next_poll_at <= now)
        query = query.order_by(FeedRow.next_poll_at, FeedRow.id).with_for_update(skip_locked=True)
        if limit is not None:
            query = query.limit(limit)
        until = now + timedelta(seconds=lease)
        with unit(self._session()) as session:
            rows = session.execute(query).all()
            for chunk in batches([row.id for row in rows]):
                session.execute(
                    update(FeedRow)
                    .where(FeedRow.id.in_(chunk))
                    .values(claimed_by=self.instance, claimed_until=until)
                )
            return [_for_poll(row, until) for row in rows]

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
        raises: a crash in between would make it look old on the next start. One poll
        of ``record_changed``, which the poller uses to store several at once.
        """
        if parsed is None:
            self.record_unchanged([UnchangedPoll(feed_id, result, next_poll, now, body_hash)])
            return PollStored()
        poll = ChangedPoll(feed_id, result, parsed, next_poll, now, body_hash, decide, articles)
        stored = self.record_changed([poll])[0]
        if isinstance(stored, Exception):
            raise stored
        return stored

    def record_changed(self, polls: Sequence[ChangedPoll]) -> list[PollStored | Exception]:
        """Store good polls that parsed a body, several in one transaction (group commit).

        Each poll's feed, entries and alerts are written as ``record_success`` writes
        them, but the polls' new entries go in together (multi-row INSERTs), their alerts
        too, and the whole lot commits once: what a statement or a commit costs
        whatever its rows is paid once for the batch, so a writer that fell behind
        catches up. A poll's entries and alerts still commit
        together. If the transaction fails, each poll is stored again in one of its
        own, so what fails is that poll alone (a rule's bug, a row the database
        refuses). Item by item: what the poll stored, or what storing it alone raised.
        Polls of one feed go in separate transactions, in order.
        """
        out: list[PollStored | Exception] = []
        for run in _distinct_feeds(polls):
            if len(run) > 1:
                try:
                    with unit(self._session()) as session:
                        stored = self._store_changed(session, run)
                except Exception as exc:
                    log.warning(
                        "storing %d polls together failed, one by one now: %s", len(run), exc
                    )
                else:  # committed
                    out.extend(stored)
                    continue
            for poll in run:
                try:
                    with unit(self._session()) as session:
                        stored = self._store_changed(session, [poll])
                except Exception as exc:
                    out.append(exc)
                else:
                    out.extend(stored)
        return out

    def _store_changed(self, session: Session, polls: Sequence[ChangedPoll]) -> list[PollStored]:
        """``record_changed``'s writes for polls of distinct feeds, in the caller's transaction."""
        before = _feeds_before(session, [p.feed_id for p in polls])
        gone = sorted({p.feed_id for p in polls} - before.keys())
        if gone:  # deleted while it was polled: in a batch, its poll alone fails
            raise LookupError(f"feed {', '.join(map(str, gone))} is no longer in the database")
        first = {p.feed_id: before[p.feed_id].first_polled_at is None for p in polls}
        params = [_changed_feed_params(before[p.feed_id], p) for p in polls]
        session.execute(self._changed_feed_update(), params)
        stored = _store_entries(session, [(p.feed_id, p.parsed.entries, p.now) for p in polls])
        proposed = [
            PollAlerts(
                entries,
                poll.decide(entries, first[poll.feed_id]) if poll.decide and entries else [],
                poll.now,
            )
            for poll, entries in zip(polls, stored, strict=True)
        ]
        # poll by poll, as if stored one after the other: an entry joins by likeness a
        # story that an earlier poll of the batch started
        alerts = [a for grouped in self.stories.group_polls(session, proposed) for a in grouped]
        inserted: dict[int, list[NewAlert]] = {}
        for alert in _insert_alerts(session, alerts, self.instance):
            inserted.setdefault(alert.feed_id, []).append(alert)
        for poll, entries in zip(polls, stored, strict=True):
            if poll.articles is not None and entries:  # queued in this transaction: never lost
                from monitor.storage.articles import enqueue  # it builds on this module

                enqueue(session, poll.articles(entries, first[poll.feed_id]), poll.now)
        return [
            PollStored(
                entries,
                [a.id for a in inserted.get(poll.feed_id, ())],
                [a.rule for a in inserted.get(poll.feed_id, ())],
            )
            for poll, entries in zip(polls, stored, strict=True)
        ]

    def record_unchanged(self, polls: Sequence[UnchangedPoll]) -> None:
        """A 304, or the same body as last time: one UPDATE, the most frequent write there is.

        A validator the answer leaves out is kept after a 304 and dropped after a 200;
        an error from an earlier failed poll goes, a note on the (same) body stays.
        One statement, executed with a parameter set per poll in the order given (one
        executemany), however many polls the batch holds.
        """
        if not polls:
            return
        with unit(self._session()) as session:
            session.execute(self._unchanged_update(), [_unchanged_params(p) for p in polls])

    def _changed_feed_update(self) -> Update:
        """``_store_changed``'s UPDATE of each feed, one parameter set per poll
        (``_changed_feed_params``): ``body_hash`` and ``url`` set only when given,
        ``first_polled_at`` only when unset."""
        if self._changed_update is None:
            c = FEEDS.c

            def param(name: str, column: Any) -> Any:
                return bindparam(f"c_{name}", type_=column.type)

            self._changed_update = (
                update(FEEDS)
                .where(c.id == bindparam("c_id"))
                .values(
                    last_poll_at=param("now", c.last_poll_at),
                    last_success_at=param("now", c.last_success_at),
                    first_polled_at=func.coalesce(c.first_polled_at, param("now", c.last_poll_at)),
                    consecutive_failures=0,
                    body_hash=func.coalesce(param("body_hash", c.body_hash), c.body_hash),
                    url=func.coalesce(param("url", c.url), c.url),
                    **{name: param(name, c[name]) for name in _CHANGED_FEED_FIELDS},
                    **self._unclaimed(),
                )
            )
        return self._changed_update

    def _unchanged_update(self) -> Update:
        """``record_unchanged``'s UPDATE; each poll's values are bound per parameter set.

        What depends on the poll is a parameter, so every poll has the same shape: a
        validator is kept when ``u_keep_*`` says so, and ``body_hash`` and ``url`` are
        set only when given (``coalesce`` keeps the stored value for a NULL).
        """
        return (
            update(FEEDS)
            .where(FEEDS.c.id == bindparam("u_id"))
            .values(
                last_poll_at=bindparam("u_now", type_=FEEDS.c.last_poll_at.type),
                last_success_at=bindparam("u_now", type_=FEEDS.c.last_success_at.type),
                last_status="unchanged",
                last_http_status=bindparam("u_status", type_=FEEDS.c.last_http_status.type),
                last_error=case((FEEDS.c.last_status == "error", None), else_=FEEDS.c.last_error),
                consecutive_failures=0,
                next_poll_at=bindparam("u_next", type_=FEEDS.c.next_poll_at.type),
                etag=_kept_unless_given(FEEDS.c.etag, "u_etag", "u_keep_etag"),
                last_modified=_kept_unless_given(
                    FEEDS.c.last_modified, "u_modified", "u_keep_modified"
                ),
                body_hash=func.coalesce(
                    bindparam("u_body_hash", type_=FEEDS.c.body_hash.type), FEEDS.c.body_hash
                ),
                url=func.coalesce(bindparam("u_url", type_=FEEDS.c.url.type), FEEDS.c.url),
                **self._unclaimed(),
            )
        )

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


# What a poll needs to know of its feed (claim_due reads only these).
_POLL_COLUMNS = (
    FeedRow.id,
    FeedRow.config_url,
    FeedRow.url,
    FeedRow.title,
    FeedRow.etag,
    FeedRow.last_modified,
    FeedRow.body_hash,
    FeedRow.consecutive_failures,
    FeedRow.first_polled_at,
)


def _for_poll(row: Any, claimed_until: datetime) -> FeedForPoll:
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
        claimed_until=claimed_until,
    )


def _kept_unless_given(column: Any, value: str, keep: str) -> Any:
    """``column`` as it is when the ``keep`` parameter is true, else the ``value`` one."""
    return case(
        (bindparam(keep, type_=Boolean()), column),
        else_=bindparam(value, type_=column.type),
    )


def _unchanged_params(poll: UnchangedPoll) -> dict[str, Any]:
    """One poll's parameter set for ``Storage._unchanged_update``."""
    result = poll.result
    kept = result.not_modified  # a 304 keeps the validators it leaves out; a 200 drops them
    return {
        "u_id": poll.feed_id,
        "u_now": poll.now,
        "u_status": result.status,
        "u_next": poll.next_poll,
        "u_etag": result.etag,
        "u_keep_etag": kept and not result.etag,
        "u_modified": result.last_modified,
        "u_keep_modified": kept and not result.last_modified,
        "u_body_hash": poll.body_hash,
        "u_url": result.permanent_url or None,
    }


class _Before(NamedTuple):
    """What record_success reads of a feed before writing it (not a whole ORM object)."""

    first_polled_at: datetime | None
    body_hash: str | None
    etag: str | None
    last_modified: str | None
    title: str | None


_FEEDS_BEFORE = select(FEEDS.c.id, *(FEEDS.c[name] for name in _Before._fields)).where(
    FEEDS.c.id.in_(bindparam("ids", expanding=True))
)


def _feeds_before(session: Session, feed_ids: list[int]) -> dict[int, _Before]:
    """What the poll needs of each feed as it was, by id (one SELECT per thousand)."""
    return {
        feed_id: _Before(*rest)
        for chunk in batches(feed_ids)
        for feed_id, *rest in session.execute(_FEEDS_BEFORE, {"ids": list(chunk)})
    }


def _distinct_feeds(polls: Sequence[ChangedPoll]) -> list[list[ChangedPoll]]:
    """``polls`` in order, cut so that no run holds two polls of one feed: the second is
    stored after the first, reading what that one wrote."""
    runs: list[list[ChangedPoll]] = []
    seen: set[int] = set()
    for poll in polls:
        if not runs or poll.feed_id in seen:
            runs.append([])
            seen = set()
        runs[-1].append(poll)
        seen.add(poll.feed_id)
    return runs


# The columns of an entry a poll writes, new or changed (see _entry_values).
ENTRY_FIELDS = (
    "guid", "link", "title", "summary", "content", "published_at", "updated_at", "content_hash"
)  # fmt: skip


class _Existing(NamedTuple):
    """A stored entry, as far as telling a new or changed entry from an old one needs."""

    id: int
    content_hash: str
    first_seen_at: datetime


# The feed columns a poll that parsed a body sets outright (Storage._changed_feed_update).
_CHANGED_FEED_FIELDS = (
    "last_status", "last_http_status", "next_poll_at", "etag", "last_modified", "title",
    "body_keys", "last_error",
)  # fmt: skip


def _changed_feed_params(feed: _Before, poll: ChangedPoll) -> dict[str, Any]:
    """The feed's new values after a good poll that parsed a body (``feed``: as it was),
    as ``Storage._changed_feed_update``'s parameter set."""
    result, parsed = poll.result, poll.parsed
    return {
        "c_id": poll.feed_id,
        "c_now": poll.now,
        "c_last_status": (
            "unchanged" if result.not_modified or poll.body_hash == feed.body_hash else "ok"
        ),
        "c_last_http_status": result.status,
        "c_next_poll_at": poll.next_poll,
        "c_etag": result.etag or (feed.etag if result.not_modified else None),
        "c_last_modified": result.last_modified
        or (feed.last_modified if result.not_modified else None),
        "c_title": parsed.title or feed.title,
        "c_body_keys": [e.key for e in parsed.entries],
        "c_last_error": f"malformed feed, read anyway: {parsed.bozo}" if parsed.bozo else None,
        "c_body_hash": poll.body_hash,
        "c_url": result.permanent_url or None,
    }


def _store_entries(
    session: Session, polls: Sequence[tuple[int, Iterable[ParsedEntry], datetime]]
) -> list[list[StoredEntry]]:
    """Each poll's new and changed entries, given its feed (one per poll), the entries it
    read and when: new ones first, each in the order of the body (the last of a key given
    twice wins). The new entries of every poll go in together (``_insert_entries``), the
    changed in one executemany UPDATE.
    """
    read = [(feed_id, {e.key: e for e in entries}, now) for feed_id, entries, now in polls]
    existing = _existing_entries(session, [(f, key) for f, by_key, _ in read for key in by_key])
    new: list[tuple[int, ParsedEntry, datetime]] = []
    changed: list[tuple[int, _Existing, ParsedEntry, datetime]] = []
    for feed_id, by_key, now in read:
        for key, entry in by_key.items():
            row = existing.get((feed_id, key))
            if row is None:
                new.append((feed_id, entry, now))
            elif row.content_hash != entry.content_hash:
                changed.append((feed_id, row, entry, now))
    ids = _insert_entries(session, new)
    _update_entries(session, [(row, entry, now) for _, row, entry, now in changed])
    out: dict[int, list[StoredEntry]] = {feed_id: [] for feed_id, _, _ in read}
    for feed_id, entry, now in new:
        out[feed_id].append(_stored_entry(feed_id, ids[feed_id, entry.key], entry, now, True))
    for feed_id, row, entry, _ in changed:
        out[feed_id].append(_stored_entry(feed_id, row.id, entry, row.first_seen_at, False))
    return [out[feed_id] for feed_id, _, _ in read]


_EXISTING = select(
    ENTRIES.c.feed_id, ENTRIES.c.key, *(ENTRIES.c[name] for name in _Existing._fields)
).where(
    ENTRIES.c.feed_id.in_(bindparam("feeds", expanding=True)),
    ENTRIES.c.key.in_(bindparam("keys", expanding=True)),
)


def _existing_entries(
    session: Session, pairs: list[tuple[int, str]]
) -> dict[tuple[int, str], _Existing]:
    """The stored entries of these (feed, key) pairs, by pair: every poll of a batch in one
    SELECT (``pair_batches``), not one a poll."""
    return {  # (and a few pairs not asked for: another feed's key, never looked up)
        (feed_id, key): _Existing(*rest)
        for feeds, keys in pair_batches(pairs)
        for feed_id, key, *rest in session.execute(_EXISTING, {"feeds": feeds, "keys": keys})
    }


# The columns of a new entry, in the order _insert_entries gives their values.
_NEW_ENTRY_COLUMNS = (
    "feed_id", "key", "guid", "link", "title", "summary", "content", "published_at",
    "updated_at", "content_hash", "first_seen_at", "changed_at",
)  # fmt: skip
# At most this many entries an INSERT: SQLite keeps each statement it prepared, one per
# number of rows, and a batch of polls would otherwise make ones of a thousand rows and
# more (the daemon's peak RSS rose from 141 to 225 MB with 32 polls a transaction; 151 MB
# with 50).
ENTRY_PAGE = 50


def _insert_entries(
    session: Session, entries: list[tuple[int, ParsedEntry, datetime]]
) -> dict[tuple[int, str], int]:
    """Entries given with their feed and when they were first seen, ENTRY_PAGE a multi-row
    INSERT ... RETURNING; (feed, key) -> id.

    The statement is the driver's SQL, its values a flat tuple: SQLAlchemy's insert bound
    each row's dict in Python (1,280 entries took 24.6 ms of the writer's CPU that way,
    16.5 ms this way). Each returned row names its feed and key, so ids map back to
    entries whatever order RETURNING gives them in (keys are unique per feed)."""
    if not entries:
        return {}
    conn = session.connection()
    when = _time_binder(conn.dialect)
    ids: dict[tuple[int, str], int] = {}
    for start in range(0, len(entries), ENTRY_PAGE):
        page = entries[start : start + ENTRY_PAGE]
        values: list[Any] = []
        for feed_id, e, now in page:  # as _NEW_ENTRY_COLUMNS
            values += (feed_id, e.key, e.guid, e.link, e.title, e.summary, e.content)
            values += (when(e.published), when(e.updated), e.content_hash, when(now), None)
        sql = _insert_entries_sql(conn.dialect.paramstyle, len(page))
        for feed_id, key, id_ in conn.exec_driver_sql(sql, tuple(values)):
            ids[feed_id, key] = id_
    return ids


@functools.cache
def _insert_entries_sql(paramstyle: str, rows: int) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"  # else psycopg's format / pyformat
    row = f"({', '.join([mark] * len(_NEW_ENTRY_COLUMNS))})"
    columns = ", ".join(f'"{name}"' for name in _NEW_ENTRY_COLUMNS)
    return (
        f'INSERT INTO "{ENTRIES.name}" ({columns}) VALUES {", ".join([row] * rows)} '
        'RETURNING "feed_id", "key", "id"'
    )


@functools.lru_cache(maxsize=8)  # one dialect a database: a few in a test run
def _time_binder(dialect: Dialect) -> Callable[[datetime | None], Any]:
    """How a UTC column binds a datetime for ``dialect``, as a statement of SQLAlchemy's would."""
    return UTCDateTime().bind_processor(dialect) or (lambda value: value)


# An entry whose content changed: what the poll read, and when it changed.
_UPDATE_ENTRY = (
    update(ENTRIES)
    .where(ENTRIES.c.id == bindparam("e_id"))
    .values(
        {
            name: bindparam(f"e_{name}", type_=ENTRIES.c[name].type)
            for name in (*ENTRY_FIELDS, "changed_at")
        }
    )
)


def _update_entries(
    session: Session, changed: list[tuple[_Existing, ParsedEntry, datetime]]
) -> None:
    """One executemany UPDATE for the entries whose content changed (and when it did)."""
    if changed:
        session.execute(_UPDATE_ENTRY, [_changed_params(row.id, e, now) for row, e, now in changed])


def _changed_params(entry_id: int, entry: ParsedEntry, now: datetime) -> dict[str, Any]:
    params = {f"e_{name}": value for name, value in _entry_values(entry).items()}
    params.update(e_id=entry_id, e_changed_at=now)
    return params


def _entry_values(entry: ParsedEntry) -> dict[str, Any]:
    """The ``ENTRY_FIELDS`` of an entry: what a poll writes, new or changed."""
    return {
        "guid": entry.guid,
        "link": entry.link,
        "title": entry.title,
        "summary": entry.summary,
        "content": entry.content,
        "published_at": entry.published,
        "updated_at": entry.updated,
        "content_hash": entry.content_hash,
    }


def _stored_entry(
    feed_id: int, entry_id: int, entry: ParsedEntry, first_seen: datetime, is_new: bool
) -> StoredEntry:
    return StoredEntry(
        id=entry_id,
        feed_id=feed_id,
        key=entry.key,
        link=entry.link,
        title=entry.title,
        summary=entry.summary,
        content=entry.content,
        published=entry.published,
        first_seen=first_seen,
        is_new=is_new,
        matches=entry.matches,
        signature=entry.signature,
    )


def _insert_alerts(session: Session, alerts: Iterable[NewAlert], instance: str) -> list[NewAlert]:
    """Insert each alert unless its (rule, story) already alerted; those inserted.

    Insert-or-nothing on the unique (rule, story): when two instances see one
    story at once, the second insert waits for the first and then does nothing.
    All of them in multi-row INSERTs (of two alerts for one rule and story, the
    first given is kept), then every outbox row of those inserted in one
    executemany; those inserted are returned in the order given.
    """
    alerts = list(alerts)
    if not alerts:
        return []
    # Most alerts a busy poll proposes are for stories that alerted already (other outlets'
    # copies of one story): those are left out before any row is built for them. The
    # insert still does nothing on a conflict, for what other instances insert meanwhile.
    alerted = _alerted(session, [(a.rule, a.story_key) for a in alerts])
    firsts: dict[tuple[str, str], NewAlert] = {}  # of two for one rule and story, the first
    for a in alerts:
        if (a.rule, a.story_key) not in alerted:
            firsts.setdefault((a.rule, a.story_key), a)
    if not firsts:
        return []
    # In (rule, story) order, as stories are grouped in key order: two instances storing
    # alerts of the same stories never wait on each other in a cycle.
    ordered = [firsts[pair] for pair in sorted(firsts)]
    rows = [{**_alert_values(a), "detected_by": instance} for a in ordered]
    ids = set(session.scalars(_alert_insert(dialect_of(session)), rows))
    inserted = [a for a in alerts if a.id in ids]
    deliveries = [row for a in inserted for row in _deliveries(a)]
    if deliveries:
        session.execute(insert(DELIVERIES), deliveries)
    return inserted


_ALERTED = select(ALERTS.c.rule, ALERTS.c.story_key).where(
    ALERTS.c.rule.in_(bindparam("rules", expanding=True)),
    ALERTS.c.story_key.in_(bindparam("keys", expanding=True)),
)


def _alerted(session: Session, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (rule, story) pairs have an alert already (and maybe a few others)."""
    return {
        (rule, key)
        for rules, keys in pair_batches(pairs)
        for rule, key in session.execute(_ALERTED, {"rules": rules, "keys": keys})
    }


@functools.cache
def _alert_insert(dialect: str) -> Insert:
    """The alerts' insert-or-nothing, built once per dialect."""
    stmt = dialect_insert(dialect, ALERTS)
    stmt = stmt.on_conflict_do_nothing(index_elements=["rule", "story_key"]).returning(ALERTS.c.id)
    return stmt.execution_options(insertmanyvalues_page_size=ENTRY_PAGE)  # as entries


def _deliveries(alert: NewAlert) -> list[dict[str, Any]]:
    """The outbox rows of an alert: one per notifier, due at once."""
    return [
        {
            "alert_id": alert.id,
            "notifier": notifier,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": alert.detected_at,
            "created_at": alert.detected_at,
        }
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
