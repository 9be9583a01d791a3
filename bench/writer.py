"""The writer alone: CPU per poll to store polls that found new entries, batched or not.

    python -m bench.writer [--feeds 200] [--rounds 3] [--batch 20]

Every feed's body is parsed and matched first (as the parse workers do), then stored
round after round with all-new entries, as in ``python -m bench`` row 3: the feed row,
40 entries, their stories and alerts, in one transaction per batch of polls
(``Storage.record_changed``), into a SQLite file. Each round is timed twice on copies
of the same database, by the writing thread's CPU time: the polls one per transaction,
the baseline, and in batches. The ratio is what group commit saves a poll.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bench.feeds import RULES, make_feed
from monitor.alerting import Alerter, FeedContext, NewAlert
from monitor.app import alerter_for
from monitor.config import load_config
from monitor.models import FetchResult, ParsedFeed, StoredEntry
from monitor.parse import parse_feed
from monitor.parsematch import match_entry
from monitor.storage.db import open_database
from monitor.storage.repo import ChangedPoll, FeedSpec, Storage
from monitor.storage.tables import FeedRow

START = datetime(2026, 11, 24, 9, tzinfo=UTC)


def parsed_rounds(alerter: Alerter, feeds: int, rounds: int) -> list[list[ParsedFeed]]:
    """Each round's bodies of every feed, parsed and matched; round 0 stores them first."""
    out = []
    for r in range(rounds + 1):
        bodies = [parse_feed(make_feed(n + 1_000_000 * r), "application/xml") for n in range(feeds)]
        for parsed in bodies:
            for entry in parsed.entries:
                match_entry(alerter.matcher, entry)
        out.append(bodies)
    return out


def polls(
    alerter: Alerter, ids: list[int], parsed: list[ParsedFeed], now: datetime
) -> list[ChangedPoll]:
    def poll(feed_id: int, feed: ParsedFeed) -> ChangedPoll:
        context = FeedContext(
            feed_id, f"feed {feed_id}", f"http://bench.test/{feed_id}", 86_400.0, None
        )

        def decide(entries: list[StoredEntry], first: bool) -> list[NewAlert]:
            return alerter.alerts_for(context, entries, first, now, alerter.matcher)

        result = FetchResult(context.url, 200, False, b"", None, None, "application/xml")
        return ChangedPoll(feed_id, result, feed, now + timedelta(hours=1), now, f"{now}", decide)

    return [poll(feed_id, feed) for feed_id, feed in zip(ids, parsed, strict=True)]


def stored(root: Path, name: str, batch: list[ChangedPoll], size: int) -> float:
    """Seconds of this thread's CPU to store ``batch`` in the database file ``name``,
    ``size`` polls a transaction."""
    engine = open_database(f"sqlite:///{root / name}", root)
    storage = Storage(engine, "bench")
    cpu = 0.0
    for start in range(0, len(batch), size):
        before = time.thread_time()
        out = storage.record_changed(batch[start : start + size])
        cpu += time.thread_time() - before
        failed = [o for o in out if isinstance(o, Exception)]
        if failed:
            raise failed[0]
    engine.dispose()
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = root / "bench.yaml"
        config.write_text(
            f"database: sqlite:///unused.db\nfeeds:\n  - url: http://bench.test/\n{RULES}"
        )
        alerter = alerter_for(load_config(config).config)
        rounds = parsed_rounds(alerter, args.feeds, args.rounds)
        engine = open_database(f"sqlite:///{root / 'base.db'}", root)
        storage = Storage(engine, "bench")
        storage.sync_feeds(
            [FeedSpec(f"http://bench.test/{n}", None) for n in range(args.feeds)], START
        )
        with engine.connect() as conn:
            ids = list(conn.scalars(select(FeedRow.id).order_by(FeedRow.id)))
        engine.dispose()
        stored(root, "base.db", polls(alerter, ids, rounds[0], START), args.batch)
        print(f"{args.feeds} feeds of 40 new entries a round; CPU ms per poll stored")
        print(f"round   one a transaction   {args.batch} a transaction   ratio")
        for r, parsed in enumerate(rounds[1:], 1):
            now = START + timedelta(minutes=10 * r)
            for name in ("single.db", "batched.db"):
                shutil.copy(root / "base.db", root / name)
            single = stored(root, "single.db", polls(alerter, ids, parsed, now), 1)
            batched = stored(root, "batched.db", polls(alerter, ids, parsed, now), args.batch)
            shutil.copy(root / "batched.db", root / "base.db")
            per = 1000 / args.feeds
            print(
                f"{r:5d}   {single * per:17.2f}   {batched * per:16.2f}   {batched / single:5.2f}"
            )


if __name__ == "__main__":
    main()
