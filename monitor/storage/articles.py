"""The article queue: entries of ``fetch_articles`` feeds whose linked page is to be fetched.

``enqueue (in the poll's transaction) | claim_due | fetch, extract | record_ok or
record_failure``. A row is ``pending`` until its page is read (``ok``, with the text)
or given up on (``failed``, with the error); it lives in the database, so a restart
carries on where the last run stopped. With several instances on PostgreSQL, claims
take rows with ``FOR UPDATE SKIP LOCKED`` and hold them for a lease, like feeds. A claim
takes at most one page per host, and none of a host this process is already fetching from:
one site's backlog never fills every slot while other sites' pages wait behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import Engine, Select, and_, case, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.instance import instance_name
from monitor.models import StoredEntry
from monitor.storage.repo import MAX_ERROR_CHARS, _insert_alerts, _stored
from monitor.storage.session import insert_for, unit
from monitor.storage.stories import StoryGrouper
from monitor.storage.tables import ArticleRow, EntryRow, FeedRow, StoryRow

if TYPE_CHECKING:
    from monitor.alerting import NewAlert

MAX_URL_CHARS = 4000  # a link longer than this is not worth a request
CANDIDATES_PER_SLOT = 5  # rows read per page wanted, so other hosts' rows are in reach
SCAN_ROUNDS = 10  # reads of candidates at most per claim, past one host's long backlog


@dataclass(frozen=True)
class DueArticle:
    """A claimed queue row: which entry's page, where, and how many attempts so far."""

    entry_id: int
    url: str
    attempts: int
    queued_at: datetime
    feed_config_url: str  # the feed's key in the configuration, for its settings


@dataclass(frozen=True)
class FetchedArticle:
    """An entry whose page was just read, as alerting needs it: the article text is in
    ``entry.article``, its story key in ``entry.story_key`` once grouped."""

    entry: StoredEntry
    feed_config_url: str
    feed_url: str
    feed_title: str | None


@dataclass(frozen=True)
class ArticleState:
    """One queue row as tests and status views see it."""

    entry_id: int
    url: str
    state: str  # pending, ok, failed
    attempts: int
    next_attempt_at: datetime
    text: str | None
    error: str | None
    fetched_at: datetime | None


ArticleDecider = Callable[[FetchedArticle], "Sequence[NewAlert]"]


def enqueue(session: Session, entries: Iterable[StoredEntry], now: datetime) -> int:
    """Queue the linked pages of ``entries`` (http or https links only), due now.

    Insert or nothing: an entry queued before keeps its row.
    """
    rows = [
        {"entry_id": e.id, "url": e.link, "state": "pending", "attempts": 0,
         "next_attempt_at": now, "created_at": now}
        for e in entries
        if e.link and e.link.startswith(("http://", "https://")) and len(e.link) <= MAX_URL_CHARS
    ]  # fmt: skip
    if rows:
        session.execute(
            insert_for(session, ArticleRow).on_conflict_do_nothing(index_elements=["entry_id"]),
            rows,
        )
    return len(rows)


class ArticleStore:
    """The ``articles`` table; every public method is one transaction."""

    def __init__(
        self, engine: Engine, instance: str | None = None, stories: StoryGrouper | None = None
    ) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.instance = instance or instance_name()
        self.stories = stories or StoryGrouper()  # the poller's, so both see one index

    def claim_due(
        self,
        now: datetime,
        lease: float,
        limit: int,
        exclude: Collection[int] = (),
        busy_hosts: Collection[str] = (),
    ) -> list[DueArticle]:
        """Claim up to ``limit`` due rows no live claim holds (and not in ``exclude``, this
        process's own in flight), oldest due first, until ``now + lease``: at most one per
        host, and none on ``busy_hosts`` (those this process is fetching from)."""
        if limit <= 0:
            return []
        until = now + timedelta(seconds=lease)
        with unit(self._sessions()) as session:
            chosen = _pick(session, now, limit, exclude, busy_hosts)
            for row, _ in chosen:
                row.claimed_by, row.claimed_until = self.instance, until
            return [_due(row, config_url) for row, config_url in chosen]

    def renew(self, entry_id: int, now: datetime, lease: float) -> bool:
        """Start this instance's claim on a pending row afresh (its fetch is starting now);
        False when the row is no longer ours to fetch."""
        stmt = (
            update(ArticleRow)
            .where(
                ArticleRow.entry_id == entry_id,
                ArticleRow.state == "pending",
                ArticleRow.claimed_by == self.instance,
            )
            .values(claimed_until=now + timedelta(seconds=lease))
        )
        with unit(self._sessions()) as session:
            return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]

    def record_ok(
        self, entry_id: int, text: str, now: datetime, decide: ArticleDecider | None = None
    ) -> list[NewAlert]:
        """Store the page's text and the alerts it raises, in one transaction; those inserted.

        Alerts go in insert-or-nothing, with their outbox rows, exactly as a poll's do:
        a rule that alerted on the feed's own text for this story does not alert again.
        A row already done (another instance's lease ran out meanwhile) is left alone.
        """
        with unit(self._sessions()) as session:
            row = session.get(ArticleRow, entry_id, with_for_update=True)
            if row is None or row.state != "pending":
                return []
            _finish(row, "ok", now, text=text)
            fetched = _fetched(session, entry_id, text)
            if decide is None or fetched is None:
                return []
            alerts = self.stories.group(session, [fetched.entry], decide(fetched), now)
            return _insert_alerts(session, alerts, self.instance)

    def record_failure(
        self, entry_id: int, error: str, now: datetime, next_attempt: datetime | None
    ) -> None:
        """A failed attempt: due again at ``next_attempt``, or ``failed`` for good with None."""
        with unit(self._sessions()) as session:
            row = session.get(ArticleRow, entry_id, with_for_update=True)
            if row is None or row.state != "pending":
                return
            if next_attempt is None:
                _finish(row, "failed", now, error=error)
            else:
                _finish(row, "pending", now, error=error)
                row.next_attempt_at = next_attempt

    def release(self, entry_ids: Sequence[int]) -> None:
        """Give back claims on rows whose fetch did not finish (they stay due)."""
        if not entry_ids:
            return
        with unit(self._sessions()) as session:
            session.execute(
                update(ArticleRow)
                .where(
                    ArticleRow.entry_id.in_(list(entry_ids)),
                    ArticleRow.claimed_by == self.instance,
                )
                .values(claimed_by=None, claimed_until=None)
            )

    def next_due(self) -> datetime | None:
        """When the earliest pending row can be claimed: when it is due, or when the claim on
        it runs out if that is later (another instance's, or one a failed run left behind)."""
        ready = case(
            (ArticleRow.claimed_until > ArticleRow.next_attempt_at, ArticleRow.claimed_until),
            else_=ArticleRow.next_attempt_at,
        )
        query = select(func.min(ready)).where(ArticleRow.state == "pending")
        with unit(self._sessions()) as session:
            return session.scalar(query)

    def pending_count(self) -> int:
        query = select(func.count()).select_from(ArticleRow).where(ArticleRow.state == "pending")
        with unit(self._sessions()) as session:
            return session.scalar(query) or 0

    def states(self) -> list[ArticleState]:
        """Every row, in entry order; for tests and audits."""
        with unit(self._sessions()) as session:
            rows = session.scalars(select(ArticleRow).order_by(ArticleRow.entry_id))
            return [_state(row) for row in rows]


def page_host(url: str) -> str:
    """The host a page is fetched from, as the fetcher's per-host limits name it."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # a malformed [IPv6] host: its fetch fails on its own
        return ""


def _pick(
    session: Session, now: datetime, limit: int, exclude: Collection[int], busy: Collection[str]
) -> list[tuple[ArticleRow, str]]:
    """Due rows in order, the first of each host not busy, up to ``limit``; read in batches
    (locked, skipping locked ones) so a host's long backlog does not hide the rows behind it."""
    hosts = set(busy)
    chosen: list[tuple[ArticleRow, str]] = []
    size = limit * CANDIDATES_PER_SLOT
    after: tuple[datetime, int] | None = None
    for _ in range(SCAN_ROUNDS):
        batch = list(session.execute(_candidates(now, exclude, after, size)))
        for row, config_url in batch:
            host = page_host(row.url)
            if host not in hosts:
                hosts.add(host)
                chosen.append((row, config_url))
                if len(chosen) == limit:
                    return chosen
        if len(batch) < size:
            break
        after = (batch[-1][0].next_attempt_at, batch[-1][0].entry_id)
    return chosen


def _candidates(
    now: datetime, exclude: Collection[int], after: tuple[datetime, int] | None, size: int
) -> Select[ArticleRow, str]:
    """Up to ``size`` due rows no live claim holds, in claim order, past ``after``."""
    free = or_(ArticleRow.claimed_until.is_(None), ArticleRow.claimed_until < now)
    query = (
        select(ArticleRow, FeedRow.config_url)
        .join(EntryRow, EntryRow.id == ArticleRow.entry_id)
        .join(FeedRow, FeedRow.id == EntryRow.feed_id)
        .where(ArticleRow.state == "pending", ArticleRow.next_attempt_at <= now, free)
        .order_by(ArticleRow.next_attempt_at, ArticleRow.entry_id)
        .limit(size)
        .with_for_update(skip_locked=True, of=ArticleRow)
    )
    if exclude:
        query = query.where(ArticleRow.entry_id.not_in(list(exclude)))
    if after is not None:
        at, entry_id = after
        query = query.where(
            or_(
                ArticleRow.next_attempt_at > at,
                and_(ArticleRow.next_attempt_at == at, ArticleRow.entry_id > entry_id),
            )
        )
    return query


def _finish(
    row: ArticleRow, state: str, now: datetime, text: str | None = None, error: str | None = None
) -> None:
    """One attempt over: its outcome on the row, and this instance's claim gone."""
    row.state = state
    row.attempts += 1
    row.fetched_at = now
    row.text = text
    row.error = error[:MAX_ERROR_CHARS] if error is not None else None
    row.claimed_by = row.claimed_until = None


def _fetched(session: Session, entry_id: int, text: str) -> FetchedArticle | None:
    """The entry with its article text and story key, and its feed; None if it is gone."""
    found = session.execute(
        select(EntryRow, FeedRow, StoryRow.key)
        .join(FeedRow, FeedRow.id == EntryRow.feed_id)
        .outerjoin(StoryRow, StoryRow.id == EntryRow.story_id)
        .where(EntryRow.id == entry_id)
    ).first()
    if found is None:
        return None
    entry_row, feed, story = found
    entry = replace(_stored(entry_row, False), article=text)
    if story is not None:
        entry = replace(entry, story_key=story)
    return FetchedArticle(entry, feed.config_url, feed.url, feed.title)


def _due(row: ArticleRow, config_url: str) -> DueArticle:
    return DueArticle(row.entry_id, row.url, row.attempts, row.created_at, config_url)


def _state(row: ArticleRow) -> ArticleState:
    return ArticleState(
        entry_id=row.entry_id,
        url=row.url,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        text=row.text,
        error=row.error,
        fetched_at=row.fetched_at,
    )
