"""The ``monitor`` command as a process: run --once, feeds, and the daemon's clean stop."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.feeds import news_items, rss
from tests.support.process import clean_env, monitor
from tests.support.server import FeedServer

pytestmark = pytest.mark.slow


def write_config(
    tmp_path: Path, server: FeedServer, paths: list[str], interval: str = "5m"
) -> Path:
    feeds = "".join(f"  - url: {server.url(p)}\n    name: {p.strip('/')}\n" for p in paths)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: sqlite:///monitor.db\ndefaults:\n  interval: {interval}\n  timeout: 2s\n"
        f"feeds:\n{feeds}notifiers:\n  stdout: {{type: console}}\n"
    )
    return config


def start_daemon(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def polls(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute(
                "SELECT count(*) FROM feeds WHERE last_poll_at IS NOT NULL"
            ).fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_run_once_then_feeds(tmp_path: Path, server: FeedServer) -> None:
    server.route("/a.xml", body=rss(news_items(4)))
    server.route("/b.xml", body=rss(news_items(2, prefix="b")))
    server.route("/broken.xml", status=500, body=b"oops")
    config = write_config(tmp_path, server, ["/a.xml", "/b.xml", "/broken.xml"])

    run = monitor("run", "--once", "-c", str(config))

    assert run.returncode == 0, run.stderr
    assert "3 feeds polled: 2 ok, 0 unchanged, 1 failed; 6 new or changed entries" in run.stderr
    assert "polled 3/3" not in run.stderr  # progress only on a terminal
    assert (tmp_path / "monitor.db").exists()

    feeds = monitor("feeds", "-c", str(config))
    assert feeds.returncode == 0, feeds.stderr
    lines = feeds.stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "URL",
        "LAST",
        "POLL",
        "STATUS",
        "ENTRIES",
        "NEXT",
        "POLL",
        "POLLED",
        "BY",
    ]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert set(by_name) == {"a.xml", "b.xml", "broken.xml"}
    assert " ok 200 " in by_name["a.xml"] and " 4 " in by_name["a.xml"]
    assert "error (1x): HTTP 500 Internal Server Error" in by_name["broken.xml"]


def test_bad_config_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("feeds:\n  - url: https://a.test/\n    intervl: 5m\n")
    run = monitor("run", "--once", "-c", str(config))
    assert run.returncode == 2
    assert run.stderr.strip() == f"{config}:3: feeds[0].intervl: unknown key"
    assert not (tmp_path / "monitor.db").exists()


def test_unusable_database_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"database: sqlite:///{tmp_path}/no/such/dir/m.db\nfeeds: []\n")
    run = monitor("run", "--once", "-c", str(config))
    assert run.returncode == 1
    assert run.stderr.startswith("monitor: cannot")
    assert "Traceback" not in run.stderr


def test_usage_error_exits_2() -> None:
    assert monitor("frobnicate").returncode == 2


def test_daemon_polls_on_schedule_and_stops_on_sigterm(tmp_path: Path, server: FeedServer) -> None:
    server.route("/a.xml", body=rss(news_items(3)))
    server.route("/b.xml", body=rss(news_items(3, prefix="b")))
    config = write_config(tmp_path, server, ["/a.xml", "/b.xml"], interval="1s")
    proc = start_daemon(config)
    try:
        wait_for(lambda: len(server.seen("/a.xml")) >= 3)  # polled again and again on its interval
        assert polls(tmp_path / "monitor.db") == 2
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _out, err = proc.communicate(timeout=15)
        assert time.monotonic() - started < 10
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopping" in err
    assert "Traceback" not in err


def test_sigterm_during_a_slow_poll_leaves_the_feed_due(tmp_path: Path, server: FeedServer) -> None:
    server.route("/fast.xml", body=rss(news_items(1)))
    server.route("/slow.xml", body=rss(news_items(1, prefix="slow")), delay=30)
    config = write_config(tmp_path, server, ["/fast.xml", "/slow.xml"])
    config.write_text(config.read_text().replace("timeout: 2s", "timeout: 60s"))
    proc = start_daemon(config)
    try:
        wait_for(lambda: len(server.seen("/slow.xml")) == 1 and polls(tmp_path / "monitor.db") == 1)
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _out, err = proc.communicate(timeout=20)
        assert time.monotonic() - started < 10
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "1 polls cancelled" in err
    with sqlite3.connect(tmp_path / "monitor.db") as conn:
        row = conn.execute("SELECT last_poll_at FROM feeds WHERE name = 'slow.xml'").fetchone()
    assert row == (None,)
