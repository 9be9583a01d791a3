"""Unchanged polls written together: one transaction for many 304s.

Most polls find nothing new, and each would otherwise be a transaction of its
own. A poll waits until its batch is written (it ends recorded, as every poll
does), but outside the poller's fetch slots (``add`` then await): a batch is
written when it holds ``max_items`` or ``delay`` seconds after its first poll,
off the event loop and one writer at a time, and the fetches go on meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from monitor.storage.repo import UnchangedPoll


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
        except Exception as exc:  # a database error: each poll of the batch reports it
            for done in waiting:
                if not done.done():
                    done.set_exception(exc)
        except BaseException:  # cancelled (the daemon stopping): so are the polls
            for done in waiting:
                done.cancel()
            raise
        else:
            for done in waiting:
                if not done.done():
                    done.set_result(None)
