"""Group commit of polls that found new entries (monitor.batch.ChangedBatch)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from monitor.batch import ChangedBatch


class Writer:
    """Stores polls (strings) one call per transaction; the first call waits for ``go``."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.started, self.go = threading.Event(), threading.Event()

    def __call__(self, polls: Sequence[str]) -> list[str | Exception]:
        self.calls.append(list(polls))
        self.started.set()
        assert self.go.wait(10)
        return [ValueError(p) if p.startswith("bad") else p.upper() for p in polls]


async def started(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 10)


def test_polls_that_come_while_the_writer_is_busy_are_written_together() -> None:
    writer = Writer()

    async def go() -> list[str | BaseException]:
        batch: ChangedBatch[str, str] = ChangedBatch(writer, asyncio.Lock())
        first = asyncio.create_task(batch.record("a"))
        await started(writer.started)  # "a" alone: nobody waits for company
        rest = [asyncio.create_task(batch.record(p)) for p in ("b", "bad c", "d")]
        await asyncio.sleep(0)
        writer.go.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(go())

    assert writer.calls == [["a"], ["b", "bad c", "d"]]
    assert results[:2] == ["A", "B"] and results[3] == "D"
    assert isinstance(results[2], ValueError) and str(results[2]) == "bad c"


def test_a_transaction_holds_at_most_max_items_and_waits_for_the_writer_lock() -> None:
    writer = Writer()
    writer.go.set()

    async def go() -> list[str]:
        lock = asyncio.Lock()
        batch: ChangedBatch[str, str] = ChangedBatch(writer, lock, max_items=2)
        async with lock:  # another writer (a batch of unchanged polls) holds it
            tasks = [asyncio.create_task(batch.record(p)) for p in "abcde"]
            await asyncio.sleep(0.05)
            assert writer.calls == []
        return await asyncio.gather(*tasks)

    assert asyncio.run(go()) == ["A", "B", "C", "D", "E"]
    assert writer.calls == [["a", "b"], ["c", "d"], ["e"]]


def test_a_bug_in_the_writer_fails_the_polls_it_held_and_the_next_poll_is_written() -> None:
    calls: list[list[str]] = []

    def write(polls: Sequence[str]) -> list[str | Exception]:
        calls.append(list(polls))
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return [p.upper() for p in polls]

    async def go() -> str:
        batch: ChangedBatch[str, str] = ChangedBatch(write, asyncio.Lock())
        with pytest.raises(RuntimeError, match="a bug"):
            await batch.record("a")
        return await batch.record("b")

    assert asyncio.run(go()) == "B"
    assert calls == [["a"], ["b"]]


def test_polls_waiting_when_the_writer_is_cancelled_are_cancelled_too() -> None:
    writer = Writer()

    async def go() -> tuple[bool, bool]:
        lock = asyncio.Lock()
        batch: ChangedBatch[str, str] = ChangedBatch(writer, lock)
        await lock.acquire()  # the writer waits for the lock: then it is cancelled
        waiting = asyncio.create_task(batch.record("a"))
        await asyncio.sleep(0.01)
        assert batch._writer is not None
        batch._writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return waiting.cancelled(), writer.started.is_set()

    assert asyncio.run(go()) == (True, False)
