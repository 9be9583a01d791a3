"""The long-running daemon and the one-shot run, over the same poller.

Which feeds are due lives in the database (``next_poll_at``); APScheduler only
fires a short tick that starts a poll for every due feed not already in flight,
so a slow feed never holds up the others and a restart needs no scheduler state.
SIGTERM/SIGINT stop it: in-flight polls get a grace period, then are cancelled,
and a cancelled feed simply stays due for the next start. SIGHUP reloads
config.yaml: a valid new config replaces the feeds, rules and notifiers in
place; an invalid one is logged and the old one kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.alerting import Alerter
from monitor.app import App, alerter_for, claim_lease, feed_settings, feed_specs
from monitor.articles import ArticleWorker
from monitor.config import Config, LoadedConfig, load_config
from monitor.delivery import DeliveryWorker
from monitor.errors import ConfigError, MonitorError, StorageError
from monitor.notify.base import Notifier
from monitor.notify.senders import build_senders
from monitor.parsepool import ParsePool
from monitor.poller import CycleReport, FeedSettings, Poller
from monitor.reload import restart_only_changes
from monitor.retention import prune_entries

if TYPE_CHECKING:
    from monitor.web import WebServer

log = logging.getLogger(__name__)

TICK_SECONDS = 5.0
DELIVERY_IDLE_SECONDS = 1.0
MIN_TICK_SECONDS = 0.5
GRACE_SECONDS = 5.0
CLAIM_CHUNK = 10  # top the poller's slots up when this many are free
HEALTH_SECONDS = 60.0  # how often feed health is checked
PRUNE_SECONDS = 86400.0  # retention runs once a day
PRUNE_DELAY_SECONDS = 300.0  # the first prune waits for start-up polls to settle


async def run_once(
    app: App,
    max_wait: float = 30.0,
    progress: Callable[[int, int], None] | None = None,
    parse_pool: ParsePool | None = None,
) -> CycleReport:
    """Poll every active feed once, whether due or not, then fetch the queued articles and
    deliver (retries included; articles and delivery together within max_wait).

    Parsing runs in ``parse_pool`` when one is given (its workers already started, as a
    benchmark timing passes keeps them), else in a pool of its own."""
    app.sync_feeds()
    feeds = app.storage.claim_due(app.clock.now(), claim_lease(app.config), every=True)
    deadline = time.monotonic() + max_wait
    async with app.http_client() as client:
        poller = app.poller(client)
        with contextlib.nullcontext(parse_pool) if parse_pool else ParsePool() as pool:
            poller.parse_pool = pool
            report = await poller.poll_many(
                feeds, (lambda done: progress(done, len(feeds))) if progress else None
            )
            if failed := report.not_recorded:
                raise StorageError(f"{len(failed)} feeds could not be recorded: {failed[0].error}")
            # At most half of what is left: delivery, retries included, keeps the rest.
            articles_wait = max(0.0, deadline - time.monotonic()) / 2
            await ArticleWorker(app, poller.fetcher, poller).drain(articles_wait)
        try:
            check_health(app)
        except StorageError as exc:  # the alerts just stored still go out
            log.error("feed health check failed (next run tries again): %s", exc)
        await app.delivery_worker(client).drain(max(0.0, deadline - time.monotonic()))
    return report


def tick_for(app: App) -> float:
    """Check for due feeds every 5 s, or more often when a feed's interval is shorter."""
    intervals = [s.interval for s in feed_settings(app.config).values()]
    return max(MIN_TICK_SECONDS, min([TICK_SECONDS, *(i / 2 for i in intervals)]))


class Daemon:
    """Polls due feeds until told to stop."""

    def __init__(self, app: App, tick: float | None = None, grace: float = GRACE_SECONDS):
        self.app = app
        self.tick = tick or tick_for(app)
        self.grace = grace
        self._in_flight: dict[int, asyncio.Task[object]] = {}
        self._stop = asyncio.Event()
        self._wake_delivery = asyncio.Event()
        self.fatal: StorageError | None = None  # why it stopped on its own, if it did
        self.lease = claim_lease(app.config)
        self._drained = False  # the last claim found nothing more due: wait for the tick
        self._live: _Live | None = None  # what a reload updates, while serving
        self._reloading: asyncio.Task[None] | None = None

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        """Serving and not stopping: what ``/healthz`` reports besides the database."""
        return self._live is not None and self._live.scheduler.running and not self._stop.is_set()

    def reload(self) -> None:
        """Re-read config.yaml (SIGHUP); one reload at a time, later ones wait their turn."""
        previous = self._reloading

        async def again() -> None:
            if previous is not None:
                await asyncio.wait([previous])  # its outcome is logged by itself
            try:
                await self._reload()
            except Exception:  # a reload must never take the daemon down
                log.exception("reload: failed; keeping the configuration in use")

        self._reloading = asyncio.create_task(again())

    async def _reload(self) -> None:
        path = self.app.loaded.path
        if self._stop.is_set():
            log.info("reload: stopping; %s not reloaded", path)
            return
        try:
            loaded = await asyncio.to_thread(load_config, path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload: %s", problem)
            log.error("reload: %s is invalid; keeping the configuration in use", path)
            return
        if refused := restart_only_changes(self.app.config, loaded.config):
            for reason in refused:
                log.error("reload: %s", reason)
            log.error("reload: %s not applied; keeping the configuration in use", path)
            return
        parts = self._parts(loaded.config)  # what could fail, before anything changes
        try:
            specs, now = feed_specs(loaded.config), self.app.clock.now()
            await asyncio.to_thread(self.app.storage.sync_feeds, specs, now)
        except StorageError as exc:
            log.error("reload: cannot update the feeds table, keeping the old config: %s", exc)
            return
        self._apply(loaded, parts)
        config = loaded.config
        log.info(
            "reload: %s applied: %d feeds, %d rules, %d notifiers",
            path,
            len(config.feeds),
            len(config.rules),
            len(config.notifiers),
        )

    def _parts(self, config: Config) -> _Parts | None:
        """The running parts a new configuration replaces (None before serving starts)."""
        live = self._live
        if live is None:
            return None
        return _Parts(
            settings=feed_settings(config),
            alerter=alerter_for(config),
            senders=build_senders(dict(config.notifiers), live.client, self.app.clock),
        )

    def _apply(self, loaded: LoadedConfig, parts: _Parts | None) -> None:
        """Swap the new configuration in, all at once (no await in between), then poll
        what is now due. The feeds table already follows it."""
        live = self._live
        if parts is None and live is not None:  # serving began while the feeds were synced
            parts = self._parts(loaded.config)
        self.app.loaded = loaded
        self.lease = claim_lease(loaded.config)
        if live is None or parts is None:
            return
        live.poller.settings = parts.settings
        live.poller.alerter = parts.alerter
        if live.poller.lease is not None:
            live.poller.lease = self.lease
        live.worker.notifiers = parts.senders
        tick = tick_for(self.app)
        if tick != self.tick:
            self.tick = tick
            live.scheduler.reschedule_job("poll-due", trigger="interval", seconds=tick)
        self._drained = False
        self._claim_more(live.poller)
        self._wake_delivery.set()
        live.articles.wake()  # a feed may have fetch_articles now, or no longer

    def _on_fatal(self, exc: StorageError) -> None:
        """The database cannot be written: stop rather than poll feeds that cannot be recorded."""
        if self.fatal is None:
            log.error("stopping: the database cannot be written: %s", exc)
            self.fatal = exc
        self.stop()

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT (or ``stop()``), then stop cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.app.sync_feeds()
        try:
            with ParsePool() as pool:
                await self._serve(loop, pool)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    async def _serve(self, loop: asyncio.AbstractEventLoop, pool: ParsePool) -> None:
        async with self.app.http_client() as client:
            poller = self.app.poller(
                client, on_alerts=self._wake_delivery.set, on_fatal=self._on_fatal
            )
            poller.parse_pool = pool
            worker = self.app.delivery_worker(client)
            worker.on_done = self._wake_delivery.set
            worker.on_fatal = self._on_fatal
            articles = ArticleWorker(self.app, poller.fetcher, poller, self._wake_delivery.set)
            articles.on_fatal = self._on_fatal
            poller.on_articles = articles.wake
            scheduler = self._scheduler(loop, poller)
            self._live = _Live(poller, worker, client, scheduler, articles)  # reloads see it now
            web = await self._start_web(poller, worker, articles)
            scheduler.start()
            delivery = asyncio.create_task(self._deliver(worker))
            fetching = asyncio.create_task(articles.run(self._stop))
            log.info("monitor running: %d feeds", len(self.app.config.feeds))
            await self._stop.wait()
            log.info("stopping: %d polls in flight", len(self._in_flight))
            scheduler.shutdown(wait=False)
            self._wake_delivery.set()
            articles.wake()
            await fetching
            await asyncio.gather(self._finish_in_flight(), articles.stop(self.grace))
            await _cancel_after(delivery, self.grace)
            await worker.stop(self.grace)
            if web is not None:
                await web.stop()
            self._live = None

    async def _start_web(
        self, poller: Poller, worker: DeliveryWorker, articles: ArticleWorker
    ) -> WebServer | None:
        """The status page, /healthz and /metrics, when ``web.listen`` is configured."""
        if self.app.config.web is None:
            return None
        from monitor.metrics import Metrics
        from monitor.web import WebServer

        metrics = Metrics(self.app)
        poller.on_outcome = metrics.poll_done
        worker.on_attempt = metrics.delivery_attempt
        articles.on_outcome = metrics.article_done
        web = WebServer(self.app, metrics, is_running=lambda: self.running)
        try:
            await web.start()
        except OSError as exc:  # the port is taken, or the address is not this machine's
            listen = self.app.config.web.listen
            raise MonitorError(f"web: cannot listen on {listen}: {exc.strerror or exc}") from exc
        return web

    def _scheduler(self, loop: asyncio.AbstractEventLoop, poller: Poller) -> AsyncIOScheduler:
        # every job: one run at a time, late runs merged, never skipped for being late
        defaults = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC, job_defaults=defaults)
        scheduler.add_job(
            self._start_due_polls,
            "interval",
            seconds=self.tick,
            args=[poller],
            next_run_time=datetime.now(UTC),
            id="poll-due",
        )
        scheduler.add_job(
            self._check_health,
            "interval",
            seconds=HEALTH_SECONDS,
            id="feed-health",
        )
        scheduler.add_job(
            self._prune,
            "interval",
            seconds=PRUNE_SECONDS,
            next_run_time=datetime.now(UTC) + timedelta(seconds=PRUNE_DELAY_SECONDS),
            id="prune",
        )
        return scheduler

    async def _check_health(self) -> None:
        """Raise feed health alerts (failing, silent, recovered); a failure waits for next time."""
        try:
            if await asyncio.to_thread(check_health, self.app):
                self._wake_delivery.set()
        except Exception:
            log.exception("feed health check failed; trying again in a minute")

    async def _prune(self) -> None:
        """Drop entries older than ``retention.entries``, once a day."""
        retention = self.app.config.retention.entries
        if retention is None:
            return
        try:
            await asyncio.to_thread(prune_entries, self.app.engine, self.app.clock.now(), retention)
        except Exception:
            log.exception("pruning old entries failed; trying again tomorrow")

    async def _start_due_polls(self, poller: Poller) -> None:
        self._drained = False
        self._claim_more(poller)

    def _claim_more(self, poller: Poller) -> None:
        """Claim due feeds to fill the poller's free slots, and start polling them.

        Claiming only what it can start now leaves the rest to the other instances
        on the same database. Polls finishing top the slots up without waiting for
        the next tick, until a claim finds nothing more due.
        """
        room = poller.concurrency - len(self._in_flight)
        if room <= 0 or self._stop.is_set():
            return
        try:
            due = self.app.storage.claim_due(self.app.clock.now(), self.lease, limit=room)
        except StorageError as exc:
            if exc.fatal:
                self._on_fatal(exc)
            else:
                log.error("cannot claim due feeds (trying again next tick): %s", exc)
            return
        except Exception:
            log.exception("cannot claim due feeds (trying again next tick)")
            return
        self._drained = len(due) < room
        for feed in due:
            task: asyncio.Task[object] = asyncio.create_task(poller.poll_one(feed))
            self._in_flight[feed.id] = task
            task.add_done_callback(partial(self._done, feed.id, poller))

    def _done(self, feed_id: int, poller: Poller, _task: asyncio.Task[object]) -> None:
        self._in_flight.pop(feed_id, None)
        if not self._drained and len(self._in_flight) <= poller.concurrency - CLAIM_CHUNK:
            self._claim_more(poller)

    async def _deliver(self, worker: DeliveryWorker) -> None:
        """Start sends for due deliveries; look again on new alerts, when a notifier's send
        ends, or when the next retry is due.
        """
        while not self._stop.is_set():
            try:
                worker.start_due()
                next_due = worker.outbox.next_due()
            except StorageError as exc:
                if exc.fatal:
                    self._on_fatal(exc)
                log.error("cannot read the outbox (trying again shortly): %s", exc)
                next_due = None
            except Exception:
                log.exception("delivery worker error; trying again shortly")
                next_due = None
            wait = DELIVERY_IDLE_SECONDS
            if next_due is not None:
                ahead = (next_due - self.app.clock.now()).total_seconds()
                if ahead > 0:  # due now means in flight: its task wakes us when it ends
                    wait = min(wait, ahead)
            self._wake_delivery.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_delivery.wait(), timeout=wait)

    async def _finish_in_flight(self) -> None:
        tasks = list(self._in_flight.values())
        if not tasks:
            return
        unfinished = dict(self._in_flight)
        _done, pending = await asyncio.wait(tasks, timeout=self.grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.info("%d polls cancelled; those feeds stay due", len(pending))
            cancelled = [feed_id for feed_id, task in unfinished.items() if task in pending]
            with contextlib.suppress(StorageError):  # else their claims simply run out
                self.app.storage.release(cancelled)


@dataclass(frozen=True)
class _Parts:
    """What a reload swaps into the running poller and delivery worker."""

    settings: dict[str, FeedSettings]
    alerter: Alerter
    senders: dict[str, Notifier]


@dataclass
class _Live:
    """The parts of a running daemon that a reload updates."""

    poller: Poller
    worker: DeliveryWorker
    client: httpx.AsyncClient
    scheduler: AsyncIOScheduler
    articles: ArticleWorker


def check_health(app: App) -> int:
    """Feed health alerts for the notifiers in ``health_notify``; how many were raised."""
    if not app.config.health_notify:
        return 0
    from monitor.health_check import check_feed_health

    return check_feed_health(app, app.clock.now())


async def _cancel_after(task: asyncio.Task[None], grace: float) -> None:
    """Let ``task`` finish a send in progress for up to ``grace`` seconds, then cancel it."""
    _done, pending = await asyncio.wait([task], timeout=grace)
    for t in pending:
        t.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
