"""The database under stress: a locked SQLite file delays a cycle; a full or unwritable one
stops the monitor with a clear message and exit 1, never a traceback, and loses nothing.

The full disk is real: the monitor runs as a child process with ``RLIMIT_FSIZE``
set, so SQLite's writes fail in the kernel the way they do on a full disk.
"""

from __future__ import annotations

import resource
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.app import App
from monitor.config import load_config
from monitor.storage.session import is_fatal
from tests.conftest import FakeClock
from tests.support.feeds import Item, distinct_words, news_items, rss
from tests.support.polling import poll_due
from tests.support.process import monitor
from tests.support.server import FeedServer

FEEDS = 12


def write_config(
    tmp_path: Path, server: FeedServer, database: str = "sqlite:///monitor.db"
) -> Path:
    for n in range(FEEDS):
        items = news_items(40, prefix=f"f{n}")
        items[0] = Item(
            title=f"Feed {n}: zebra quarantine declared",
            link=f"https://news.example.test/{n}",
            guid=f"emergency-{n}",
            summary=f"A zebra quarantine was declared. {distinct_words(n)}",
        )
        server.route(f"/f{n}.xml", body=rss(items))
    feeds = "".join(f"  - url: {server.url(f'/f{n}.xml')}\n" for n in range(FEEDS))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {database}\ndefaults: {{interval: 5m, timeout: 2s, backlog: 3650d}}\n"
        f"feeds:\n{feeds}"
        "rules:\n  - name: emergency\n    any: [zebra quarantine]\n"
        "notifiers:\n  stdout: {type: console}\n"
    )
    return config


def limited(max_file_bytes: int) -> Callable[[], None]:
    """For ``preexec_fn``: no file may grow past ``max_file_bytes`` (writes fail, EFBIG)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return apply


def counts(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        alerts = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
    return entries, alerts


def test_locked_database_delays_the_cycle_but_fails_nothing(
    tmp_path: Path, server: FeedServer, clock: FakeClock
) -> None:
    config = write_config(tmp_path, server)
    app = App.open(load_config(config, env={}), clock=clock)
    app.sync_feeds()
    locked, released_at = threading.Event(), []

    def hold_write_lock() -> None:
        conn = sqlite3.connect(tmp_path / "monitor.db", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # another writer holds the database
        locked.set()
        time.sleep(1.5)
        released_at.append(time.monotonic())
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    assert locked.wait(5)
    try:
        report = poll_due(app)
        finished_at = time.monotonic()
    finally:
        holder.join()
        app.close()

    assert report.count("ok") == FEEDS and report.count("error") == 0
    assert report.not_recorded == []
    assert finished_at > released_at[0]  # it waited for the lock instead of failing
    assert counts(tmp_path / "monitor.db") == (FEEDS * 40, FEEDS)


@pytest.mark.slow
def test_full_disk_stops_run_once_with_exit_1_and_loses_nothing(
    tmp_path: Path, server: FeedServer
) -> None:
    config = write_config(tmp_path, server)
    assert monitor("feeds", "-c", str(config)).returncode == 0  # creates and migrates
    db = tmp_path / "monitor.db"
    full = limited(db.stat().st_size + 64 * 1024)

    result = monitor("run", "--once", "-c", str(config), preexec=full)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("monitor: ") and "could not be recorded" in last
    assert "disk I/O error" in last or "disk is full" in last
    assert result.stdout == ""  # no alert was announced for entries that were not stored

    # Room again: the next run stores every entry and alerts on every story, once.
    again = monitor("run", "--once", "-c", str(config))
    assert again.returncode == 0, again.stderr
    assert counts(db) == (FEEDS * 40, FEEDS)
    assert again.stdout.count("zebra quarantine declared") == FEEDS


@pytest.mark.slow
def test_full_disk_stops_the_daemon_with_exit_1(tmp_path: Path, server: FeedServer) -> None:
    config = write_config(tmp_path, server)
    assert monitor("feeds", "-c", str(config)).returncode == 0
    full = limited((tmp_path / "monitor.db").stat().st_size + 64 * 1024)

    result = monitor("run", "-c", str(config), preexec=full, timeout=60)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "stopping: the database cannot be written" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("monitor: database ")


def test_unopenable_database_file_exits_1_with_the_reason(
    tmp_path: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.cli import main

    (tmp_path / "not-a-dir").write_text("a file where a folder should be")
    config = write_config(tmp_path, server, database="sqlite:///not-a-dir/monitor.db")

    assert main(["run", "--once", "-c", str(config)]) == 1

    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"monitor: cannot migrate sqlite:///{tmp_path}/not-a-dir/monitor.db: "
        "unable to open database file"
    )


def test_read_only_database_exits_1_with_the_reason(
    tmp_path: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.cli import main

    config = write_config(tmp_path, server)
    assert main(["feeds", "-c", str(config)]) == 0  # created and migrated
    capsys.readouterr()
    read_only = f"sqlite:///file:{tmp_path}/monitor.db?mode=ro&uri=true"
    config = write_config(tmp_path, server, database=read_only)

    assert main(["run", "--once", "-c", str(config)]) == 1

    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("monitor: ") and "readonly database" in last


def test_busy_is_not_fatal_but_a_full_disk_is() -> None:
    class Wrapped(Exception):
        def __init__(self, orig: BaseException) -> None:
            self.orig = orig

    def sqlite_error(code: int) -> sqlite3.OperationalError:
        exc = sqlite3.OperationalError("x")
        exc.sqlite_errorcode = code  # type: ignore[attr-defined]
        return exc

    assert not is_fatal(Wrapped(sqlite_error(5)))  # SQLITE_BUSY
    assert not is_fatal(Wrapped(sqlite_error(6)))  # SQLITE_LOCKED
    assert is_fatal(Wrapped(sqlite_error(13)))  # SQLITE_FULL
    assert is_fatal(Wrapped(sqlite_error(778)))  # SQLITE_IOERR_WRITE
    assert not is_fatal(Wrapped(ValueError("not a database error")))
