"""Polling: ``due feeds | fetch | parse | store | record outcome``, one feed never stops the rest.

A feed's failure is a value recorded on that feed (status, error, failure
streak, next poll pushed back); only the unexpected is logged with a traceback,
and even then the cycle goes on with the other feeds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.alerting import Alerter, FeedContext
from monitor.batch import UnchangedBatch
from monitor.clock import Clock
from monitor.errors import FetchError, MonitorError, ParseError, StorageError
from monitor.fetch import ClaimLost, Fetcher
from monitor.models import FeedForPoll, FetchResult, ParsedFeed
from monitor.parse import parse_feed
from monitor.parsepool import ParsePool
from monitor.schedule import next_poll_after_failure, next_poll_after_success
from monitor.storage import Storage
from monitor.storage.repo import AlertDecider, UnchangedPoll

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedSettings:
    """What the configuration says about one feed."""

    label: str
    name: str | None
    interval: float
    timeout: float
    backlog: float
    rules: tuple[str, ...] | None


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
        self.lease: float | None = None  # set when instances share the database
        self.parse_pool: ParsePool | None = None  # else parsing runs in a thread

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
        settings = self.settings[feed.config_url]
        async with self._slots:
            try:
                outcome = await self._poll_or_record(feed, settings)
            except StorageError as exc:  # the database itself failed: log, leave the feed due
                log.error("feed %s: %s", settings.label, exc)
                if exc.fatal and self.on_fatal is not None:
                    self.on_fatal(exc)
                outcome = FeedOutcome(feed.id, "error", error=str(exc), not_recorded=True)
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:  # an observer's bug must not fail the poll
                log.exception("feed %s: outcome observer failed", settings.label)
        return outcome

    async def _poll_or_record(self, feed: FeedForPoll, settings: FeedSettings) -> FeedOutcome:
        try:
            return await self._poll(feed, settings)
        except (FetchError, ParseError) as exc:
            return self._failed(feed, settings, exc)
        except ClaimLost:
            log.info("feed %s: taken over by another instance", settings.label)
            return FeedOutcome(feed.id, "skipped")
        except StorageError:
            raise
        except Exception as exc:
            log.exception("feed %s: unexpected error", settings.label)
            return self._failed(feed, settings, exc)

    async def _poll(self, feed: FeedForPoll, settings: FeedSettings) -> FeedOutcome:
        started = time.monotonic()
        try:
            result = await self.fetcher.fetch(feed, settings.timeout, self._renewer(feed))
        except FetchError as exc:
            exc.elapsed = time.monotonic() - started
            raise
        fetch_seconds = time.monotonic() - started
        body_hash = hashlib.sha256(result.body).hexdigest() if not result.not_modified else None
        parsed = await self._parse(result) if _changed(feed, result, body_hash) else None
        now = self.clock.now()
        next_poll = next_poll_after_success(now, settings.interval, self.rand)
        if parsed is None:
            poll = UnchangedPoll(feed.id, result, next_poll, now, body_hash)
            await self._unchanged.record(poll)
            log.info("feed %s: unchanged", settings.label)
            return FeedOutcome(feed.id, "unchanged", fetch_seconds=fetch_seconds)
        async with self._store:  # off the event loop, so a big feed never stalls the others
            stored = await asyncio.to_thread(
                self.storage.record_success,
                feed.id,
                result,
                parsed,
                next_poll,
                now,
                body_hash,
                self._decider(feed, settings, parsed, now),
            )
        status = "ok"
        new, alerts = len(stored.entries), len(stored.alerts)
        if alerts and self.on_alerts:
            self.on_alerts()
        log.info(
            "feed %s: %s, %d new or changed entries, %d alerts", settings.label, status, new, alerts
        )
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
        self, feed: FeedForPoll, settings: FeedSettings, parsed: ParsedFeed | None, now: datetime
    ) -> AlertDecider | None:
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
        return lambda entries, first_poll: alerter.alerts_for(context, entries, first_poll, now)

    async def _parse(self, result: FetchResult) -> ParsedFeed:
        if self.parse_pool is not None:
            return await self.parse_pool.parse(result.body, result.content_type, result.url)
        return await asyncio.to_thread(parse_feed, result.body, result.content_type, result.url)

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
        log.warning("feed %s: poll failed (%d in a row): %s", settings.label, failures, error)
        elapsed = exc.elapsed if isinstance(exc, FetchError) else None
        return FeedOutcome(feed.id, "error", error=error, fetch_seconds=elapsed)


def _changed(feed: FeedForPoll, result: FetchResult, body_hash: str | None) -> bool:
    """Parse only a body that differs from the last one stored."""
    return not result.not_modified and body_hash != feed.body_hash
