"""Parsing in worker processes: the same result as in-process, and a dead worker costs only
the feeds it was parsing."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parse import parse_feed
from monitor.parsepool import NICENESS, ParsePool
from tests.support.feeds import news_items, rss
from tests.support.server import FeedServer


def test_a_worker_parses_as_the_main_process_does() -> None:
    body = rss(news_items(5))

    async def go() -> object:
        with ParsePool(workers=1) as pool:
            return await pool.parse(body, "application/rss+xml", "http://feeds.test/a.xml")

    assert asyncio.run(go()) == parse_feed(body, "application/rss+xml", "http://feeds.test/a.xml")


def test_workers_run_below_the_monitors_priority() -> None:
    """Fetching and storing, in the monitor, come first; parsing takes what they leave."""

    async def go() -> list[int]:
        with ParsePool(workers=2) as pool:
            return await asyncio.gather(*(pool.submit(os.nice, 0) for _ in range(4)))

    expected = min(19, os.nice(0) + NICENESS)  # 19 is the lowest priority there is
    assert asyncio.run(go()) == [expected] * 4


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


def children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_workers_do_not_outlive_a_killed_monitor(tmp_path: Path, server: FeedServer) -> None:
    server.route("/wire.xml", body=rss(news_items(3)))
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: sqlite:///monitor.db\ndefaults: {interval: 1h, timeout: 2s}\n"
        f"feeds:\n  - url: {server.url('/wire.xml')}\n"
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        with sqlite3.connect(tmp_path / "monitor.db", timeout=10) as conn:
            while time.monotonic() < deadline:  # the feed was parsed: the workers are up
                time.sleep(0.2)
                try:
                    row = conn.execute("SELECT last_status FROM feeds").fetchone()
                except sqlite3.OperationalError:
                    continue
                if row and row[0] == "ok":
                    break
        workers = children(daemon.pid)
        assert workers, "no worker process was started"
    finally:
        daemon.kill()
        daemon.wait(10)

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers)


def test_a_worker_whose_monitor_died_before_it_started_exits() -> None:
    """The monitor is gone before the worker's start-up ran: it must not wait for it."""
    code = (
        "import time; from monitor.parsepool import _start_worker; "
        "_start_worker(parent=2**22 + 7); time.sleep(30)"  # not this process's parent
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], timeout=20)
    assert done.returncode == 0 and time.monotonic() - started < 15
