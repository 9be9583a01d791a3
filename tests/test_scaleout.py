"""Several ``monitor run`` processes: three on one PostgreSQL database, one killed with SIGKILL
mid-cycle; and a second one on a SQLite file, refused.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.daemon import wait_for
from tests.support.feeds import Item, distinct_words, rss
from tests.support.process import clean_env, monitor
from tests.support.receiver import Receiver
from tests.support.server import FeedServer

pytestmark = pytest.mark.slow

FEEDS = 300
CHANGED = 30  # feeds that publish a second story during the run
INTERVAL = 20.0
TIMEOUT = 1.0
LEASE = 2 * TIMEOUT + 10  # monitor.app.claim_lease for this config
TICK = 5.0
SLACK = 3.0  # scheduling and start-up noise on a busy 2-core machine


def start(config: Path, name: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(MONITOR_INSTANCE=name),
        )


def story(n: int, second: bool = False) -> Item:
    kind = "second" if second else "first"
    return Item(
        title=f"Feed {n}: curfew declared ({kind})",
        link=f"https://news.example.test/{n}/{kind}",
        guid=f"{n}-{kind}",
        # made-up words of its own: each feed's story is a story of its own, not grouped
        summary="Authorities declared a curfew. " + distinct_words(2 * n + second, count=30),
        published=datetime.now(UTC).replace(microsecond=0),
    )


def filler(n: int) -> list[Item]:
    return [
        Item(title=f"Feed {n} market report {k}", link=f"https://news.example.test/{n}/m{k}")
        for k in range(5)
    ]


@pytest.mark.postgres
def test_three_instances_one_killed_share_every_feed_once(
    pg_url: str, tmp_path: Path, server: FeedServer, receiver: Receiver
) -> None:
    for n in range(FEEDS):
        server.route(f"/f{n}.xml", body=rss([story(n), *filler(n)]), delay=0.03)
    feeds = "".join(f"  - url: {server.url(f'/f{n}.xml')}\n" for n in range(FEEDS))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: '{pg_url}'\n"
        f"defaults: {{interval: {INTERVAL:g}s, timeout: {TIMEOUT:g}s, backlog: 1d}}\n"
        f"feeds:\n{feeds}"
        "rules:\n  - name: curfew\n    any: [curfew]\n"
        f"notifiers:\n  hook: {{type: webhook, url: '{receiver.url}'}}\n"
    )
    names = ["m0", "m1", "m2"]
    procs = {name: start(config, name, tmp_path / f"{name}.log") for name in names}
    started = time.monotonic()
    engine = create_engine(pg_url)
    try:
        # Kill m0 in the middle of the first cycle, while it holds claims.
        wait_for(lambda: len(server.requests) >= 60, 60, "the first cycle to start")
        procs["m0"].send_signal(signal.SIGKILL)
        procs["m0"].wait(10)
        killed_at = time.monotonic()
        with engine.connect() as conn:
            held = {
                f"/f{int(url.rsplit('/f', 1)[1].split('.')[0])}.xml"
                for (url,) in conn.execute(text("SELECT url FROM feeds WHERE claimed_by = 'm0'"))
            }
        assert held, "m0 held no claims when it was killed: the test did not test anything"

        # A second story on some feeds, after the first cycle.
        wait_for(lambda: time.monotonic() > started + INTERVAL * 1.2, 60, "the second interval")
        for n in range(CHANGED):
            server.route(f"/f{n}.xml", body=rss([story(n, True), story(n), *filler(n)]), delay=0.03)
        expected = FEEDS + CHANGED
        wait_for(lambda: len(receiver.accepted) >= expected, 90, "every alert to be delivered")
        wait_for(lambda: time.monotonic() > started + INTERVAL * 3.2, 60, "three intervals")
    finally:
        for name in names[1:]:
            procs[name].send_signal(signal.SIGTERM)
        codes = {name: procs[name].wait(30) for name in names[1:]}
        engine.dispose()
    ended = time.monotonic()
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in names}
    assert codes == {"m1": 0, "m2": 0}, logs
    assert all("Traceback" not in logs[name] for name in names[1:]), logs

    # Every expected alert delivered, each once.
    assert len(receiver.accepted) == len(set(receiver.accepted)) == expected
    empty = [r for r in receiver.ok() if not r.body]
    assert empty == [], [(r.headers, r.at) for r in empty]
    delivered = sorted(r.json()["entry"]["url"] for r in receiver.ok())
    wanted = [f"https://news.example.test/{n}/first" for n in range(FEEDS)]
    wanted += [f"https://news.example.test/{n}/second" for n in range(CHANGED)]
    assert sorted(set(delivered)) == sorted(wanted)
    assert len(receiver.duplicates) <= 1  # at most the one send m0 had in flight

    # Every feed polled in each interval, and by one instance only.
    times: dict[str, list[float]] = defaultdict(list)
    for seen in server.requests:
        times[seen.path].append(seen.at)
    assert len(times) == FEEDS
    recovered_by = killed_at + LEASE + TICK + SLACK
    for path, at in times.items():
        assert at[0] <= max(started + INTERVAL, recovered_by), f"{path} not polled in time"
        gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
        assert max(gaps + [ended - at[-1] - TICK]) <= INTERVAL * 1.1 + TICK + SLACK, (path, at)
        short = [g for g in gaps if g < INTERVAL * 0.9 - SLACK]
        if path in held:  # m0's unfinished fetch, then the one that recorded it
            assert len(short) <= 1, (path, at)
        else:
            assert short == [], (path, at)
    assert min(len(at) for path, at in times.items() if path not in held) >= 3


def test_a_second_instance_on_one_sqlite_file_is_refused(
    tmp_path: Path, server: FeedServer
) -> None:
    server.route("/wire.xml", body=rss([story(1)]))
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: sqlite:///monitor.db\ndefaults: {interval: 5m, timeout: 2s}\n"
        f"feeds:\n  - url: {server.url('/wire.xml')}\n"
    )
    first = start(config, "first", tmp_path / "first.log")
    try:
        wait_for(lambda: len(server.requests) >= 1, 30, "the first instance to poll")
        second = monitor("run", "--once", "-c", str(config))
        assert second.returncode == 1
        assert second.stderr.strip().splitlines()[-1] == (
            f"monitor: another monitor (pid {first.pid}) is already running on "
            f"{tmp_path / 'monitor.db'}; SQLite serves one instance: stop it first, or use "
            "PostgreSQL to run several (README: Running several instances)"
        )
        assert len(server.requests) == 1  # the second one polled nothing

        first.send_signal(signal.SIGKILL)  # the kernel drops a dead process's lock
        first.wait(10)
        again = monitor("run", "--once", "-c", str(config))
        assert again.returncode == 0, again.stderr
        assert len(server.requests) == 2
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
