"""Parsing in worker processes: the same result as in-process, and a dead worker costs only
the feeds it was parsing."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from monitor.errors import ParseError
from monitor.parse import parse_feed
from monitor.parsepool import ParsePool
from tests.support.feeds import news_items, rss


def test_a_worker_parses_as_the_main_process_does() -> None:
    body = rss(news_items(5))

    async def go() -> object:
        with ParsePool(workers=1) as pool:
            return await pool.parse(body, "application/rss+xml", "http://feeds.test/a.xml")

    assert asyncio.run(go()) == parse_feed(body, "application/rss+xml", "http://feeds.test/a.xml")


def test_a_dead_worker_fails_its_feed_and_the_next_one_parses() -> None:
    body = rss(news_items(2))

    async def go() -> tuple[str, int]:
        with ParsePool(workers=1) as pool:
            await pool.parse(body, None, None)  # the worker is up
            assert pool._pool is not None
            for pid in list(pool._pool._processes):  # it dies, as on running out of memory
                os.kill(pid, signal.SIGKILL)
            with pytest.raises(ParseError) as failed:
                await pool.parse(body, None, None)
            again = await pool.parse(body, None, None)
            return str(failed.value), len(again.entries)

    error, entries = asyncio.run(go())
    assert error == "the parser process died while reading this feed"
    assert entries == 2
