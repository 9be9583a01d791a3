"""Feed parsing in worker processes, so every core parses while the main process fetches
and stores. Given the alerter's matcher, a worker matches the entries it parsed too
(``monitor.parsematch``).

feedparser is pure Python: in threads it shares one core with everything else.
Workers ignore SIGINT and SIGTERM (the daemon decides when to stop, and shuts the
pool down itself), run at a lower priority than the monitor (``NICENESS``), and exit
when the monitor is gone (killed, it cannot shut them down). A worker that dies (a
body that exhausts its memory) breaks the pool: the feeds being parsed at that moment
get a ParseError, recorded on each, and a fresh pool takes the next ones.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from monitor import gctune
from monitor.errors import ParseError
from monitor.matching.matcher import Matcher
from monitor.models import ParsedFeed
from monitor.parse import parse_feed
from monitor.parsematch import RulesFile, parse_matched

T = TypeVar("T")
NICENESS = 10  # how much lower than the monitor's a worker's priority is


def _start_worker(parent: int) -> None:
    """Stop signals are the parent's to act on; a worker outlives it by at most a second.

    ``parent`` is the monitor's pid, passed in: one killed while this worker was
    starting is already gone when this runs, and ``getppid()`` would name init.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def orphaned() -> None:  # a SIGKILLed monitor never shuts its pool down
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    # Below the main process: its fetching and storing are what every poll waits on, and
    # parsing keeps up on what they leave (a 10%-changed pass of 2,000 feeds took 10% less
    # time, six passes of six, taking turns with workers at the same priority).
    os.nice(NICENESS)
    gctune.settle()


class ParsePool:
    """``await pool.parse(body, content_type, url)``; one worker per core by default."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._rules = RulesFile()

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def parse(
        self,
        body: bytes,
        content_type: str | None,
        url: str | None,
        matcher: Matcher | None = None,
        since: datetime | None = None,
    ) -> ParsedFeed:
        """The parsed feed; with a ``matcher``, each entry (published since ``since``, when
        given) with the rules it matches (``parsematch.parse_matched``)."""
        if matcher is None:
            return await self.submit(parse_feed, body, content_type, url, doing="reading this feed")
        rules = self._rules.path_for(matcher)
        return await self.submit(
            parse_matched, body, content_type, url, rules, since, doing="reading this feed"
        )

    async def submit(self, fn: Callable[..., T], *args: Any, doing: str = "at work") -> T:
        """``fn(*args)`` in a worker, for other CPU-heavy work too (article extraction); ``fn``
        must be a module-level function. A ParseError, saying what it was ``doing``, when the
        worker dies on it."""
        pool = self._pool or self._start()
        try:
            return await asyncio.wrap_future(pool.submit(fn, *args))
        except BrokenProcessPool as exc:
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise ParseError(f"the parser process died while {doing}") from exc

    def _start(self) -> ProcessPoolExecutor:
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded process
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._rules.close()
