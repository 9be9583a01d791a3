"""Full articles: ``claim due | fetch the linked page | extract | store | match again | alert``.

A feed with ``fetch_articles`` queues each new entry's link in the poll's own
transaction (``monitor.storage.articles``); the poll's alerts are decided on the
feed's text at once, without waiting for any page. This worker, a task apart from
polling with a concurrency of its own, fetches the queued pages through the
poller's Fetcher (the feeds' per-host limits, timeout and size cap), extracts the
article (``monitor.article``, in the parse pool), stores its text and matches the
entry again with it: a rule that had not alerted for the story may now, and one
that had meets the database's unique (rule, story) instead of a second alert.

A page that could not be fetched is retried a few times with backoff (connection
errors, timeouts, 408, 429, 5xx); one that is no article (another 4xx, not HTML,
no text in it) fails at once. Either way the entry keeps what its feed's text
raised, and the failure is recorded on its queue row.

Pages are claimed at most one per host, none of a host already being fetched from,
and a claim's lease starts afresh when the host's slot is taken: a site with a long
backlog neither holds up the other sites nor lets its waiting claims run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from monitor.alerting import FeedContext, NewAlert
from monitor.app import App, claim_lease
from monitor.article import Article, extract_article
from monitor.errors import FetchError, ParseError, StorageError
from monitor.fetch import ClaimLost, Fetcher, Page
from monitor.poller import FeedSettings, Poller, feed_label, log_alert
from monitor.retry import backoff, classify
from monitor.storage.articles import ArticleStore, DueArticle, FetchedArticle, page_host

log = logging.getLogger(__name__)

CONCURRENCY = 4  # pages fetched at once, whatever the feeds are doing
MAX_ATTEMPTS = 4  # a page that fails this many times is given up on
RETRY_BASE = 60.0  # seconds before the first retry, doubling (with jitter) after that
RETRY_CAP = 3600.0
IDLE_SECONDS = 10.0  # how often to look for rows nobody woke us for (other instances')
OFF = "fetch_articles is off for this feed now"

ArticleOutcome = str  # "ok", "retry" or "failed": what one attempt did, for logs and metrics
_T = TypeVar("_T")


def retry_at(
    attempts: int, error: FetchError, now: datetime, rand: Callable[[], float] = random.random
) -> datetime | None:
    """When to fetch again after ``attempts`` failed attempts ending with ``error``; None to
    give up: another 4xx, or MAX_ATTEMPTS used. Retry-After is a floor."""
    outcome = classify(error.status)
    if outcome.kind != "retry" or attempts >= MAX_ATTEMPTS:
        return None
    delay = backoff(attempts, rand, RETRY_BASE, RETRY_CAP)
    if error.retry_after is not None:
        delay = max(delay, min(error.retry_after, RETRY_CAP))
    return now + timedelta(seconds=delay)


class ArticleWorker:
    """Fetches queued pages and matches their entries again; ``run`` it beside the poller."""

    def __init__(
        self,
        app: App,
        fetcher: Fetcher,
        poller: Poller,
        on_alerts: Callable[[], None] | None = None,
        concurrency: int = CONCURRENCY,
        rand: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.fetcher = fetcher
        self.poller = poller  # its settings, alerter, parse pool and write lock, reloads included
        self.on_alerts = on_alerts
        self.concurrency = concurrency
        self.rand = rand
        self.monotonic = monotonic  # drain's deadline
        self.store = ArticleStore(app.engine, app.storage.instance, app.storage.stories)
        self.on_fatal: Callable[[StorageError], None] | None = None  # the database is unusable
        self.on_outcome: Callable[[ArticleOutcome], None] | None = None  # every attempt (metrics)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._hosts: dict[int, str] = {}  # the host of each page in flight
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due pages now (new entries were queued, a fetch ended, a reload)."""
        self._wake.set()

    async def start_due(self) -> int:
        """Claim due pages to fill the free slots and start fetching them; how many started."""
        room = self.concurrency - len(self._tasks)
        if room <= 0:
            return 0
        now = self.app.clock.now()
        lease = claim_lease(self.app.config)
        busy = set(self._hosts.values())
        async with self.poller.store_lock:
            due = await asyncio.to_thread(
                self.store.claim_due, now, lease, room, set(self._tasks), busy
            )
        for item in due:
            task = asyncio.create_task(self._process(item), name=f"article {item.entry_id}")
            self._tasks[item.entry_id] = task
            self._hosts[item.entry_id] = page_host(item.url)
            task.add_done_callback(partial(self._done, item.entry_id))
        return len(due)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set (then call ``wake`` and ``stop``): start due pages as slots
        free up, as new ones are queued, or when a retry comes due."""
        while not stop.is_set():
            self._wake.clear()
            wait = await self._tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _tick(self) -> float:
        """Start what is due; seconds until the next look."""
        try:
            await self.start_due()
            next_due = await asyncio.to_thread(self.store.next_due)
        except StorageError as exc:
            if exc.fatal and self.on_fatal is not None:
                self.on_fatal(exc)
            log.error("cannot read the article queue (trying again shortly): %s", exc)
            return IDLE_SECONDS
        except Exception:
            log.exception("article worker error; trying again shortly")
            return IDLE_SECONDS
        if next_due is None:
            return IDLE_SECONDS
        ahead = (next_due - self.app.clock.now()).total_seconds()
        return min(IDLE_SECONDS, ahead) if ahead > 0 else IDLE_SECONDS  # due: its host is busy

    async def drain(self, max_wait: float) -> None:
        """Fetch every due page, and retries due within ``max_wait`` seconds (``run --once``);
        what is still in flight then is cancelled and stays queued for the next run. A page
        another instance holds is waited for only if its claim runs out within ``max_wait``."""
        deadline = self.monotonic() + max_wait
        while True:
            await self.start_due()
            if self._tasks:
                left = deadline - self.monotonic()
                if left <= 0:
                    break
                tasks = list(self._tasks.values())
                await asyncio.wait(tasks, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                continue
            next_due = await asyncio.to_thread(self.store.next_due)
            if next_due is None:
                return
            wait = max(0.0, (next_due - self.app.clock.now()).total_seconds())
            if self.monotonic() + wait > deadline:
                break
            await asyncio.sleep(min(wait, 1.0) if wait > 0 else 0.05)
        await self.stop(0)
        log.warning("%d articles still queued after --max-wait", self.store.pending_count())

    async def stop(self, grace: float) -> None:
        """Let fetches in progress finish for up to ``grace`` seconds, then cancel them; the
        cancelled ones stay queued (their claims are given back)."""
        tasks = dict(self._tasks)
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks.values(), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.info("%d article fetches cancelled; those pages stay queued", len(pending))
            with contextlib.suppress(StorageError):  # else their claims simply run out
                self.store.release([i for i, t in tasks.items() if t in pending])

    def _done(self, entry_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.pop(entry_id, None)
        self._hosts.pop(entry_id, None)
        exc = None if task.cancelled() else task.exception()
        if isinstance(exc, StorageError):
            log.error("article of entry %d: cannot record it: %s", entry_id, exc)
            if exc.fatal and self.on_fatal is not None:
                self.on_fatal(exc)
        elif exc is not None:
            log.error("article of entry %d: %r", entry_id, exc, exc_info=exc)
        self.wake()

    async def _process(self, due: DueArticle) -> None:
        """Fetch, extract and record one page; every failure is recorded on its row."""
        settings = self.poller.settings.get(due.feed_config_url)
        if settings is None or not settings.fetch_articles:
            await self._write(self.store.record_failure, due.entry_id, OFF, self._now(), None)
            return
        try:
            await self._attempt(due, settings)
        except ClaimLost:  # it waited for the host past its lease: another instance has it
            _log_article(settings, due, "skipped", "taken over by another instance")
        except StorageError:
            raise  # the row stays claimed; it is tried again once the lease runs out
        except Exception as exc:  # a bug: logged with its traceback, the page given up on
            log.exception("article of feed %s <%s>: internal error", feed_label(settings), due.url)
            await self._failed(due, settings, f"internal error: {exc!r}", None)

    async def _attempt(self, due: DueArticle, settings: FeedSettings) -> None:
        """One try: a page that cannot be fetched may be retried; one with no article not."""
        try:
            page = await self.fetcher.fetch_page(due.url, settings.timeout, self._renewer(due))
        except FetchError as exc:
            again = retry_at(due.attempts + 1, exc, self._now(), self.rand)
            await self._failed(due, settings, str(exc), again)
            return
        try:
            article = await self._extract(page)
        except ParseError as exc:
            await self._failed(due, settings, str(exc), None)
            return
        if article is None:
            kind = page.content_type or "no Content-Type"
            await self._failed(due, settings, f"no article text in the page ({kind})", None)
            return
        await self._stored(due, settings, article)

    def _renewer(self, due: DueArticle) -> Callable[[], Awaitable[bool]]:
        """For when the host's slot is taken: the claim's lease starts then, however long the
        page waited for the slot; False if the row is no longer this instance's."""

        async def renew() -> bool:
            lease = claim_lease(self.app.config)
            return await self._write(self.store.renew, due.entry_id, self._now(), lease)

        return renew

    async def _extract(self, page: Page) -> Article | None:
        """The page's article, in the parse pool when there is one (extraction is CPU work)."""
        pool = self.poller.parse_pool
        args = (page.body, page.url, page.content_type)
        if pool is not None:
            return await pool.submit(extract_article, *args, doing="extracting an article")
        return await asyncio.to_thread(extract_article, *args)

    async def _stored(self, due: DueArticle, settings: FeedSettings, article: Article) -> None:
        """The text and the alerts it raises stored together; those inserted go to delivery."""
        now = self._now()
        decide = partial(self._decide, now)
        inserted = await self._write(self.store.record_ok, due.entry_id, article.text, now, decide)
        detail = f"{len(article.text)} characters, {len(inserted)} alerts"
        _log_article(settings, due, "ok", detail, alerts=len(inserted))
        for alert in inserted:
            log_alert(alert, settings)
        self._observe("ok")
        if inserted and self.on_alerts is not None:
            self.on_alerts()

    def _decide(self, now: datetime, fetched: FetchedArticle) -> list[NewAlert]:
        """The rules matched again with the article, under the feed's settings of the moment.

        The backlog window was applied when the page was queued: a page read later
        is not too old for it.
        """
        alerter = self.poller.alerter
        settings = self.poller.settings.get(fetched.feed_config_url)
        if alerter is None or settings is None:
            return []
        entry = fetched.entry
        context = FeedContext(
            id=entry.feed_id,
            name=settings.name or fetched.feed_title or fetched.feed_url,
            url=fetched.feed_url,
            backlog=settings.backlog,
            rules=settings.rules,
        )
        return alerter.alerts_for(context, [entry], False, now)

    async def _failed(
        self, due: DueArticle, settings: FeedSettings, error: str, again: datetime | None
    ) -> None:
        await self._write(self.store.record_failure, due.entry_id, error, self._now(), again)
        outcome = "retry" if again is not None else "failed"
        detail = f"will retry: {error}" if again is not None else f"failed: {error}"
        _log_article(settings, due, outcome, detail, error=error)
        self._observe(outcome)

    async def _write(self, fn: Callable[..., _T], *args: object) -> _T:
        """A write transaction off the event loop, one at a time with the poller's."""
        async with self.poller.store_lock:
            return await asyncio.to_thread(fn, *args)

    def _now(self) -> datetime:
        return self.app.clock.now()

    def _observe(self, outcome: ArticleOutcome) -> None:
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:  # an observer's bug must not fail the article
                log.exception("article outcome observer failed")


def _log_article(
    settings: FeedSettings, due: DueArticle, outcome: ArticleOutcome, detail: str, **fields: object
) -> None:
    """The one line an attempt gets: ``article of feed NAME <url>: detail``."""
    label = feed_label(settings)
    level = logging.WARNING if outcome == "failed" else logging.INFO
    extra = {"event": "article", "feed": label, "status": outcome, "url": due.url, **fields}
    log.log(level, "article of feed %s <%s>: %s", label, due.url, detail, extra=extra)
