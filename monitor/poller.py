"""Polling: ``due feeds | fetch | parse | store | record outcome``, one feed never stops the rest.

A feed's failure is a value recorded on that feed (status, error, failure
streak, next poll pushed back); only the unexpected is logged with a traceback,
and even then the cycle goes on with the other feeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from monitor.alerting import Alerter, FeedContext, NewAlert, articles_to_fetch
from monitor.batch import ChangedBatch, UnchangedBatch
from monitor.clock import Clock
from monitor.errors import FetchError, MonitorError, ParseError, StorageError
from monitor.fetch import ClaimLost, Fetcher
from monitor.matching.matcher import Matcher
from monitor.models import FeedForPoll, FetchResult, ParsedFeed, StoredEntry
from monitor.parse import parse_feed
from monitor.parsepool import ParsePool
from monitor.schedule import next_poll_after_failure, next_poll_after_success
from monitor.storage import Storage
from monitor.storage.db import safe_url
from monitor.storage.repo import (
    AlertDecider,
    ArticlePicker,
    ChangedPoll,
    PollStored,
    UnchangedPoll,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class FeedSettings:
    """What the configuration says about one feed."""

    label: str
    name: str | None
    interval: float
    timeout: float
    backlog: float
    rules: tuple[str, ...] | None
    fetch_articles: bool = False  # queue each new entry's linked page (monitor.articles)


@dataclass(frozen=True)
class FeedOutcome:
    """How one poll of one feed ended."""

    feed_id: int
    status: str  # "ok", "unchanged", "error", or "skipped" (another instance took it over)
    new_entries: int = 0
    alerts: int = 0
    error: str | None = None
    not_recorded: bool = False  # the database failed: nothing of this poll was stored
    fetch_seconds: float | None = None  # how long the HTTP request took, when one was made
    alert_rules: tuple[str, ...] = ()  # the rule of each alert raised


@dataclass
class CycleReport:
    """Counts over a set of polls, for logs and ``run --once``."""

    outcomes: list[FeedOutcome] = field(default_factory=list)

    @property
    def not_recorded(self) -> list[FeedOutcome]:
        return [o for o in self.outcomes if o.not_recorded]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def new_entries(self) -> int:
        return sum(o.new_entries for o in self.outcomes)

    @property
    def alerts(self) -> int:
        return sum(o.alerts for o in self.outcomes)

    def summary(self) -> str:
        return (
            f"{len(self.outcomes)} feeds polled: {self.count('ok')} ok, "
            f"{self.count('unchanged')} unchanged, {self.count('error')} failed; "
            f"{self.new_entries} new or changed entries, {self.alerts} alerts"
        )


class Poller:
    """Polls feeds concurrently and records each outcome on its feed."""

    def __init__(
        self,
        storage: Storage,
        fetcher: Fetcher,
        settings: dict[str, FeedSettings],
        clock: Clock,
        alerter: Alerter | None = None,
        concurrency: int = 50,
        rand: Callable[[], float] = random.random,
        on_alerts: Callable[[], None] | None = None,
        on_fatal: Callable[[StorageError], None] | None = None,
        on_outcome: Callable[[FeedOutcome], None] | None = None,
    ) -> None:
        self.storage = storage
        self.on_fatal = on_fatal
        self.on_outcome = on_outcome  # told how every poll ended (metrics)
        self.alerter = alerter
        self.on_alerts = on_alerts
        self.fetcher = fetcher
        self.settings = settings
        self.clock = clock
        self.rand = rand
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._store = asyncio.Lock()  # one write transaction at a time from this process
        self._unchanged = UnchangedBatch(storage.record_unchanged, self._store)
        self._changed: ChangedBatch[ChangedPoll, PollStored] = ChangedBatch(
            storage.record_changed, self._store
        )
        self.lease: float | None = None  # set when instances share the database
        self.parse_pool: ParsePool | None = None  # else parsing runs in a thread
        self.on_articles: Callable[[], None] | None = None  # told when articles were queued

    @property
    def store_lock(self) -> asyncio.Lock:
        """Held around this process's write transactions (the article worker's too): SQLite
        takes one writer at a time, and a writer waiting on another in a thread is better
        than one blocking the event loop."""
        return self._store

    async def poll_many(
        self, feeds: Iterable[FeedForPoll], progress: Callable[[int], None] | None = None
    ) -> CycleReport:
        """Poll ``feeds`` concurrently; ``progress`` is told how many are done so far."""
        report = CycleReport()
        tasks = [asyncio.create_task(self.poll_one(feed)) for feed in feeds]
        for done in asyncio.as_completed(tasks):
            report.outcomes.append(await done)
            if progress:
                progress(len(report.outcomes))
        return report

    async def poll_one(self, feed: FeedForPoll) -> FeedOutcome:
        """Fetch, parse and store one feed; every failure is recorded, none is raised."""
        settings = self.settings.get(feed.config_url)
        if settings is None:  # dropped from the config by a reload after it was claimed
            with contextlib.suppress(StorageError):  # else the claim simply runs out
                self.storage.release([feed.id])
            gone = FeedSettings(feed.url, None, 0, 0, 0, None)
            _log_poll(logging.INFO, gone, "skipped", "no longer configured, not polled")
            return FeedOutcome(feed.id, "skipped")
        async with self._slots:
            polled = await self._unless_storage_fails(feed, settings, self._poll_or_record)
        if isinstance(polled, _Unchanged | _Changed):  # written with the slot free for others
            outcome = await self._unless_storage_fails(feed, settings, polled.written_or_failed)
        else:
            outcome = polled
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:  # an observer's bug must not fail the poll
                label = feed_label(settings)  # not a poll line: no "event"
                log.exception("feed %s: outcome observer failed", label, extra={"feed": label})
        return outcome

    async def _unless_storage_fails(
        self,
        feed: FeedForPoll,
        settings: FeedSettings,
        step: Callable[[FeedForPoll, FeedSettings], Awaitable[T]],
    ) -> T | FeedOutcome:
        """``step``'s result, or an error outcome (logged, the feed left due) when the database
        itself failed."""
        try:
            return await step(feed, settings)
        except StorageError as exc:
            _log_poll(logging.ERROR, settings, "error", "%s", exc, error=str(exc))
            if exc.fatal and self.on_fatal is not None:
                self.on_fatal(exc)
            return FeedOutcome(feed.id, "error", error=str(exc), not_recorded=True)

    async def _poll_or_record(
        self, feed: FeedForPoll, settings: FeedSettings
    ) -> FeedOutcome | _Unchanged | _Changed:
        try:
            return await self._poll(feed, settings)
        except (FetchError, ParseError) as exc:
            return self._failed(feed, settings, exc)
        except ClaimLost:
            _log_poll(logging.INFO, settings, "skipped", "taken over by another instance")
            return FeedOutcome(feed.id, "skipped")
        except StorageError:
            raise
        except Exception as exc:  # logged once, with its traceback, by _failed
            return self._failed(feed, settings, exc)

    async def _poll(self, feed: FeedForPoll, settings: FeedSettings) -> _Unchanged | _Changed:
        started = time.monotonic()
        try:
            result = await self.fetcher.fetch(feed, settings.timeout, self._renewer(feed))
        except FetchError as exc:
            exc.elapsed = time.monotonic() - started
            raise
        fetch_seconds = time.monotonic() - started
        body_hash = hashlib.sha256(result.body).hexdigest() if not result.not_modified else None
        parsed, matched_by = None, None
        if _changed(feed, result, body_hash):
            parsed, matched_by = await self._parse(feed, settings, result)
        now = self.clock.now()
        next_poll = next_poll_after_success(now, settings.interval, self.rand)
        if parsed is None:
            poll = UnchangedPoll(feed.id, result, next_poll, now, body_hash)
            return _Unchanged(self._unchanged.add(poll), fetch_seconds, self._failed)
        decided: dict[str, NewAlert] = {}  # by id: those inserted are logged, one line each
        queued: list[StoredEntry] = []  # entries whose linked page is to be fetched
        # off the event loop (a big feed never stalls the others), with the polls that
        # come while the writer is busy
        written = await self._changed.add(
            ChangedPoll(
                feed.id,
                result,
                parsed,
                next_poll,
                now,
                body_hash,
                self._decider(feed, settings, parsed, now, decided, matched_by),
                self._article_picker(settings, now, queued),
            )
        )
        stored = functools.partial(self._stored, feed, settings, fetch_seconds, decided, queued)
        return _Changed(written, stored, self._failed)

    def _stored(
        self,
        feed: FeedForPoll,
        settings: FeedSettings,
        fetch_seconds: float,
        decided: dict[str, NewAlert],
        queued: list[StoredEntry],
        stored: PollStored,
    ) -> FeedOutcome:
        """A poll that found new entries, once stored: its log lines and outcome."""
        if queued and self.on_articles:
            self.on_articles()
        status = "ok"
        new, alerts = len(stored.entries), len(stored.alerts)
        if alerts and self.on_alerts:
            self.on_alerts()
        _log_poll(
            logging.INFO,
            settings,
            status,
            "%s, %d new or changed entries, %d alerts",
            status,
            new,
            alerts,
            new_entries=new,
            alerts=alerts,
            fetch_seconds=fetch_seconds,
        )
        for alert_id in stored.alerts:
            if alert_id in decided:  # always; a log line must never fail a stored poll
                log_alert(decided[alert_id], settings)
        return FeedOutcome(
            feed.id,
            status,
            new_entries=new,
            alerts=alerts,
            fetch_seconds=fetch_seconds,
            alert_rules=tuple(stored.alert_rules),
        )

    def _renewer(self, feed: FeedForPoll) -> Callable[[], bool] | None:
        """With a shared database: when its fetch really starts, renew the feed's claim if
        half its lease went by waiting for a slot or the host (else it is still safely ours)."""
        lease = self.lease
        if lease is None or feed.claimed_until is None:
            return None
        renew_after = feed.claimed_until - timedelta(seconds=lease / 2)

        def renew() -> bool:
            now = self.clock.now()
            return now < renew_after or self.storage.renew_claim(feed.id, now, lease)

        return renew

    def _decider(
        self,
        feed: FeedForPoll,
        settings: FeedSettings,
        parsed: ParsedFeed | None,
        now: datetime,
        decided: dict[str, NewAlert],
        matched_by: Matcher | None = None,
    ) -> AlertDecider | None:
        """The poll's alert decision; every alert it proposes is kept in ``decided`` by id.

        The entries' matches found with the parse (by ``matched_by``) count only if that is
        still the alerter's matcher: a reload in between brings a new one."""
        alerter = self.alerter
        if alerter is None:
            return None
        context = FeedContext(
            id=feed.id,
            name=settings.name or (parsed.title if parsed else None) or feed.title or feed.url,
            url=feed.url,
            backlog=settings.backlog,
            rules=settings.rules,
        )

        def decide(entries: list[StoredEntry], first_poll: bool) -> list[NewAlert]:
            alerts = alerter.alerts_for(context, entries, first_poll, now, matched_by)
            decided.update((alert.id, alert) for alert in alerts)
            return alerts

        return decide

    def _article_picker(
        self, settings: FeedSettings, now: datetime, queued: list[StoredEntry]
    ) -> ArticlePicker | None:
        """With ``fetch_articles``: which stored entries get their linked page fetched."""
        if not settings.fetch_articles:
            return None

        def pick(entries: list[StoredEntry], first_poll: bool) -> list[StoredEntry]:
            picked = articles_to_fetch(entries, first_poll, settings.backlog, now)
            queued.extend(picked)
            return picked

        return pick

    async def _parse(
        self, feed: FeedForPoll, settings: FeedSettings, result: FetchResult
    ) -> tuple[ParsedFeed, Matcher | None]:
        """The parsed body, and the matcher its entries were matched with in a parse worker
        (None: not matched yet)."""
        if self.parse_pool is None:
            body, content_type, url = result.body, result.content_type, result.url
            return await asyncio.to_thread(parse_feed, body, content_type, url), None
        alerter = self.alerter
        matcher = alerter.matcher if alerter is not None and alerter.matcher.rules else None
        # A first poll alerts on its backlog window only: older entries need no matching.
        since = None
        if feed.first_poll:
            since = self.clock.now() - timedelta(seconds=settings.backlog)
        parsed = await self.parse_pool.parse(
            result.body, result.content_type, result.url, matcher, since
        )
        return parsed, matcher

    def _failed(self, feed: FeedForPoll, settings: FeedSettings, exc: Exception) -> FeedOutcome:
        error = str(exc) if isinstance(exc, MonitorError) else f"internal error: {exc!r}"
        status = exc.status if isinstance(exc, FetchError) else None
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        now = self.clock.now()
        failures = feed.consecutive_failures + 1
        next_poll = next_poll_after_failure(
            now, settings.interval, failures, retry_after, self.rand
        )
        self.storage.record_failure(feed.id, error, status, next_poll, now)
        elapsed = exc.elapsed if isinstance(exc, FetchError) else None
        expected = isinstance(exc, MonitorError)  # else a bug: its traceback goes with the line
        _log_poll(
            logging.WARNING if expected else logging.ERROR,
            settings,
            "error",
            "poll failed (%d in a row): %s",
            failures,
            error,
            exc_info=None if expected else exc,
            error=error,
            failures=failures,
            http_status=status,
            fetch_seconds=elapsed,
        )
        return FeedOutcome(feed.id, "error", error=error, fetch_seconds=elapsed)


@dataclass(frozen=True)
class _Unchanged:
    """A poll that found nothing new, queued to be written with others."""

    queued: asyncio.Future[None]
    fetch_seconds: float

    failed: Callable[[FeedForPoll, FeedSettings, Exception], FeedOutcome]  # Poller._failed

    async def written_or_failed(self, feed: FeedForPoll, settings: FeedSettings) -> FeedOutcome:
        """Once the batch is written; a StorageError is raised, anything else (a bug) is
        recorded on the feed as ``_poll_or_record`` records it."""
        try:
            await self.queued
        except StorageError:
            raise
        except Exception as exc:
            return self.failed(feed, settings, exc)
        _log_poll(
            logging.INFO, settings, "unchanged", "unchanged", fetch_seconds=self.fetch_seconds
        )
        return FeedOutcome(feed.id, "unchanged", fetch_seconds=self.fetch_seconds)


@dataclass(frozen=True)
class _Changed:
    """A poll that found new entries, queued for the writer with others (group commit)."""

    queued: asyncio.Future[PollStored]
    stored: Callable[[PollStored], FeedOutcome]  # Poller._stored, for this poll
    failed: Callable[[FeedForPoll, FeedSettings, Exception], FeedOutcome]  # Poller._failed

    async def written_or_failed(self, feed: FeedForPoll, settings: FeedSettings) -> FeedOutcome:
        """Once the poll is stored; a StorageError is raised, any other error storing it (a
        row the database refused) is recorded on the feed as ``_poll_or_record`` records it."""
        try:
            return self.stored(await self.queued)
        except StorageError:
            raise
        except Exception as exc:
            return self.failed(feed, settings, exc)


def feed_label(settings: FeedSettings) -> str:
    """How log lines name a feed: its configured name, else its URL with credentials as ***."""
    return settings.name or safe_url(settings.label)


def _log_poll(
    level: int,
    settings: FeedSettings,
    status: str,
    text: str,
    *args: object,
    exc_info: BaseException | None = None,
    **fields: object,
) -> None:
    """The one line a poll gets: ``feed NAME: text``, with the feed and status as fields."""
    if not log.isEnabledFor(level):
        return
    label = feed_label(settings)
    shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in fields.items()}  # seconds
    extra = {"event": "poll", "feed": label, "status": status, **shown}
    log.log(level, "feed %s: " + text, label, *args, exc_info=exc_info, extra=extra)


def log_alert(alert: NewAlert, settings: FeedSettings) -> None:
    """The one line an alert gets, naming its rule and feed; the console notifier is apart."""
    label = feed_label(settings)
    title = " ".join(alert.title.split())  # a line break in a title must not split the line
    log.info(
        "alert: rule %s, feed %s: %s <%s>",
        alert.rule,
        label,
        title,
        alert.url or "no link",
        extra={
            "event": "alert",
            "rule": alert.rule,
            "feed": label,
            "title": alert.title,
            "url": alert.url,
            "alert_id": alert.id,
        },
    )


def _changed(feed: FeedForPoll, result: FetchResult, body_hash: str | None) -> bool:
    """Parse only a body that differs from the last one stored."""
    return not result.not_modified and body_hash != feed.body_hash
