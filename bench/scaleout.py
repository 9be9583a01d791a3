"""Feeds per second with one and three `monitor run` on PostgreSQL, beside one on SQLite.

    python -m bench.scaleout [--feeds 1000] [--quick]

Each row starts that many daemons on a fresh database and N local feeds spread
over 20 loopback hosts, then measures two passes from the database itself:

- first pass: every feed new (fetch, parse, store, match);
- unchanged pass: every feed made due again, every one answers 304.

Rate = feeds / (time between the first and the last poll recorded in the pass),
so process start-up and the scheduler's tick are not counted. Needs the
PostgreSQL server at 127.0.0.1:5432 (database ``test``, user ``postgres``).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text

from bench.feeds import ENV, RULES, write_feeds
from bench.server import started

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def pg_schema() -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres") as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.commit()
    try:
        yield f"{PG}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres") as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            conn.commit()


def measure(root: Path, urls: list[str], database: str, instances: int) -> tuple[float, float]:
    """(first pass, unchanged pass) in feeds/s for ``instances`` daemons on ``database``."""
    feeds = "".join(f"  - url: {u}\n" for u in urls)
    config = root / f"config-{uuid.uuid4().hex[:6]}.yaml"
    config.write_text(
        f"database: '{database}'\ndefaults: {{interval: 1h, timeout: 20s}}\nfeeds:\n{feeds}{RULES}"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config), "--log-level", "ERROR"],
            env={**ENV, "MONITOR_INSTANCE": f"bench-{i}"},
        )
        for i in range(instances)
    ]
    url = database if not database.startswith("sqlite") else f"sqlite:///{root / 'monitor.db'}"
    engine = create_engine(url)
    try:
        first = _pass(engine, len(urls), since=None)
        mark = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(text("UPDATE feeds SET next_poll_at = :now"), {"now": _db_time(url, mark)})
        second = _pass(engine, len(urls), since=_db_time(url, mark))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
        engine.dispose()
    return first, second


def _db_time(url: str, when: datetime) -> object:
    # SQLite stores naive UTC text (monitor.storage.types.UTCDateTime)
    return when.replace(tzinfo=None) if url.startswith("sqlite") else when


def _pass(engine, count: int, since: object) -> float:  # type: ignore[no-untyped-def]
    where = "last_poll_at IS NOT NULL" if since is None else "last_poll_at > :since"
    query = text(f"SELECT count(*), min(last_poll_at), max(last_poll_at) FROM feeds WHERE {where}")
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        try:
            with engine.connect() as conn:
                done, first, last = conn.execute(query, {"since": since}).one()
        except Exception:  # the table may not exist yet while the first daemon migrates
            done, first, last = 0, None, None
        if done >= count:
            first, last = _aware(first), _aware(last)
            return count / max((last - first).total_seconds(), 1e-3)
        time.sleep(0.2)
    raise SystemExit("a pass did not finish within 15 minutes")


def _aware(value: object) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 feeds, for CI")
    args = parser.parse_args()
    count = 100 if args.quick else args.feeds
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = write_feeds(root / "feeds", count)
        with started(root / "feeds") as (_, bases):
            urls = [f"{bases[n % len(bases)]}/{name}" for n, name in enumerate(names)]
            sqlite_root = root / "sqlite"
            sqlite_root.mkdir()
            rows.append(
                ("SQLite, 1 instance", *measure(sqlite_root, urls, "sqlite:///monitor.db", 1))
            )
            for instances in (1, 3):
                with pg_schema() as url:
                    label = f"PostgreSQL, {instances} instance{'s' if instances > 1 else ''}"
                    rows.append((label, *measure(root, urls, url, instances)))
    base_first, base_second = rows[0][1], rows[0][2]
    print(f"{count} feeds of about 40 entries on 20 loopback hosts; daemons, interval 1h")
    print(
        f"{'database':<26}{'first pass/s':>14}{'x SQLite':>10}{'unchanged/s':>14}{'x SQLite':>10}"
    )
    for label, first, second in rows:
        print(
            f"{label:<26}{first:>14.1f}{first / base_first:>10.2f}"
            f"{second:>14.1f}{second / base_second:>10.2f}"
        )


if __name__ == "__main__":
    main()
