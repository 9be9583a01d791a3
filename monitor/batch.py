"""Polls written together: one transaction for many.

Unchanged polls (``UnchangedBatch``): most polls find nothing new, and each would
otherwise be a transaction of its own. A poll waits until its batch is written (it
ends recorded, as every poll does), but outside the poller's fetch slots (``add``
then await): a batch is written when it holds ``max_items`` or ``delay`` seconds
after its first poll, off the event loop and one writer at a time, and the fetches
go on meanwhile.

Polls that found new entries (``ChangedBatch``): group commit. No poll waits for
company: the first is written as soon as the writer is free, and the polls that
arrive while a transaction runs are written together in the next one. A writer
that keeps up writes polls one by one; one that falls behind writes more per
transaction, at a fraction of the cost each. These polls too wait for the writer
outside the fetch slots, so a busy writer does not hold up fetching; at most
``max_queued`` of them wait at a time (each holds its parsed feed), and the next
waits for room while still holding its slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from monitor.storage.repo import UnchangedPoll

P = TypeVar("P")
R = TypeVar("R")


class UnchangedBatch:
    def __init__(
        self,
        write: Callable[[Sequence[UnchangedPoll]], None],
        lock: asyncio.Lock,
        max_items: int = 200,
        delay: float = 0.05,
    ) -> None:
        self.write, self.lock = write, lock
        self.max_items, self.delay = max_items, delay
        self._items: list[tuple[UnchangedPoll, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    async def record(self, poll: UnchangedPoll) -> None:
        """Returns once ``poll`` is written; raises what writing its batch raised."""
        await self.add(poll)

    def add(self, poll: UnchangedPoll) -> asyncio.Future[None]:
        """Queue ``poll``; the future is done once it is written, or holds what writing its
        batch raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items.append((poll, done))
        if len(self._items) >= self.max_items:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._flush)
        return done

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._items = self._items, []
        if items:
            task = asyncio.create_task(self._write(items))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _write(self, items: list[tuple[UnchangedPoll, asyncio.Future[None]]]) -> None:
        waiting = [done for _, done in items if not done.done()]
        try:
            async with self.lock:
                await asyncio.to_thread(self.write, [poll for poll, _ in items])
        except BaseException as exc:  # a database error, or cancelled (the daemon stopping)
            _fail(waiting, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for done in waiting:
                if not done.done():
                    done.set_result(None)


class ChangedBatch(Generic[P, R]):
    """Group commit: ``write`` stores polls in one transaction and answers, poll by poll,
    with what it stored or the exception storing it raised."""

    def __init__(
        self,
        write: Callable[[Sequence[P]], Sequence[R | Exception]],
        lock: asyncio.Lock,
        max_items: int = 32,
        max_queued: int = 64,
    ) -> None:
        self.write, self.lock, self.max_items = write, lock, max_items
        self._items: list[tuple[P, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._room = asyncio.Semaphore(max_queued)  # polls queued or being written

    async def record(self, poll: P) -> R:
        """What ``poll`` stored, once its transaction committed; raises what storing it raised."""
        return await (await self.add(poll))

    async def add(self, poll: P) -> asyncio.Future[R]:
        """Queue ``poll`` once fewer than ``max_queued`` polls wait for the writer; the future
        holds what it stored once its transaction committed, or what storing it raised."""
        await self._room.acquire()
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        done.add_done_callback(lambda _: self._room.release())
        self._items.append((poll, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return done

    async def _write_all(self) -> None:
        """Write the queue, ``max_items`` a transaction, until it is empty."""
        items: list[tuple[P, asyncio.Future[R]]] = []
        try:
            while self._items:
                async with self.lock:
                    # taken once the writer is free: all that queued while it was busy
                    items = self._items[: self.max_items]
                    del self._items[: len(items)]
                    results = await asyncio.to_thread(self.write, [poll for poll, _ in items])
                for (_, done), result in zip(items, results, strict=True):
                    if done.done():  # the poll was cancelled
                        continue
                    if isinstance(result, Exception):
                        done.set_exception(result)
                    else:
                        done.set_result(result)
                items = []
        except BaseException as exc:  # a bug here, or cancelled (the daemon stopping)
            failed, self._items = items + self._items, []
            _fail([done for _, done in failed], exc)
            if not isinstance(exc, Exception):
                raise


def _fail(waiting: Sequence[asyncio.Future[R]], exc: BaseException) -> None:
    """Each poll still waiting reports what writing it raised: an error, or cancelled when
    the writer was."""
    for done in waiting:
        if done.done():
            continue
        if isinstance(exc, Exception):
            done.set_exception(exc)
        else:
            done.cancel()
