"""Retention: old entries go; alerts, their deliveries and entries still in a feed stay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor.app import App
from monitor.config import load_config
from monitor.retention import prune_entries
from monitor.storage.tables import AlertRow, DeliveryRow, EntryRow, FeedRow
from tests.conftest import FakeClock
from tests.support.feeds import Item, distinct_words, rss
from tests.support.polling import poll_due
from tests.support.process import monitor
from tests.support.server import FeedServer

NINETY_DAYS = 90 * 86400.0

CONFIG = """\
database: sqlite:///monitor.db
defaults: {{interval: 5m, timeout: 2s, backlog: 1000d}}
{retention}feeds:
  - url: {news}
    name: news
  - url: {static}
    name: static
rules:
  - name: emergency
    any: ["state of emergency"]
notifiers:
  hook: {{type: webhook, url: "http://127.0.0.1:9/hook"}}
"""


def items(prefix: str, numbers: range, clock: FakeClock) -> list[Item]:
    return [
        Item(
            title=f"{prefix} story {n}" + (": state of emergency declared" if n == 1 else ""),
            link=f"https://news.example.test/{prefix}/{n}",
            guid=f"{prefix}-{n}",
            summary="A report. " + distinct_words(sum(map(ord, prefix)) * 10 + n, count=40),
            published=clock.now() - timedelta(hours=n),
        )
        for n in numbers
    ]


@pytest.fixture
def app(tmp_path: Path, server: FeedServer, clock: FakeClock) -> Iterator[App]:
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(
            retention="retention: {entries: 90d}\n",
            news=server.url("/news.xml"),
            static=server.url("/static.xml"),
        )
    )
    app = App.open(load_config(config, env={}), clock=clock)
    app.sync_feeds()
    yield app
    app.close()


def entry_keys(app: App) -> set[str]:
    with Session(app.engine) as session:
        return set(session.scalars(select(EntryRow.key)))


def count(app: App, table: type[AlertRow] | type[DeliveryRow]) -> int:
    with Session(app.engine) as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_old_entries_go_but_alerts_pending_deliveries_and_entries_still_in_a_feed_stay(
    app: App, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/news.xml", body=rss(items("news", range(1, 6), clock)))
    server.route("/static.xml", body=rss(items("static", range(1, 4), clock)))
    poll_due(app, every_feed=True)
    assert count(app, AlertRow) == 2  # story 1 of each feed; the webhook is down: pending
    clock.advance(days=100)
    server.route("/news.xml", body=rss(items("news", range(6, 9), clock)))  # 1-5 left the feed
    poll_due(app, every_feed=True)

    would = prune_entries(app.engine, clock.now(), NINETY_DAYS, dry_run=True)
    result = prune_entries(app.engine, clock.now(), NINETY_DAYS)

    assert would.pruned == result.pruned == 5
    assert result.cutoff == clock.now() - timedelta(days=90)
    news = {f"id:news-{n}" for n in range(6, 9)}
    static = {f"id:static-{n}" for n in range(1, 4)}  # 100 days old, but still in their feed
    assert entry_keys(app) == news | static
    assert count(app, AlertRow) == 2
    with Session(app.engine) as session:
        states = set(session.scalars(select(DeliveryRow.state)))
    assert states == {"pending"}


def test_a_pruned_story_that_comes_back_is_not_an_alert_twice(
    app: App, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/news.xml", body=rss(items("news", range(1, 3), clock)))
    server.route("/static.xml", body=rss(items("static", range(5, 6), clock)))
    poll_due(app, every_feed=True)
    clock.advance(days=100)
    server.route("/news.xml", body=rss(items("news", range(3, 4), clock)))
    poll_due(app, every_feed=True)
    assert prune_entries(app.engine, clock.now(), NINETY_DAYS).pruned == 2

    clock.advance(minutes=10)
    server.route("/news.xml", body=rss(items("news", range(1, 4), clock)))  # back again
    report = poll_due(app, every_feed=True)

    assert report.new_entries == 2  # stored again, as the pruned entries are unknown ...
    assert report.alerts == 0  # ... but story 1 alerted 100 days ago: not again
    assert count(app, AlertRow) == 1


def test_an_old_entry_still_in_its_feed_is_kept_and_a_feed_not_parsed_since_keeps_all(
    app: App, server: FeedServer, clock: FakeClock
) -> None:
    """A pinned story stays in the feed while others come and go: it is never pruned.
    A feed whose last body is unknown (not parsed since the upgrade) keeps everything."""
    pinned = items("news", range(1, 2), clock)
    server.route("/news.xml", body=rss(pinned + items("news", range(2, 6), clock)))
    server.route("/static.xml", body=rss(items("static", range(1, 4), clock)))
    poll_due(app, every_feed=True)
    with Session(app.engine) as session, session.begin():
        session.execute(update(FeedRow).where(FeedRow.name == "static").values(body_keys=None))
    clock.advance(days=100)
    server.route("/news.xml", body=rss(pinned + items("news", range(6, 10), clock)))
    poll_due(app, every_feed=True)  # /static.xml: the same body, not parsed again

    assert prune_entries(app.engine, clock.now(), NINETY_DAYS).pruned == 4
    news = {"id:news-1"} | {f"id:news-{n}" for n in range(6, 10)}
    assert entry_keys(app) == news | {f"id:static-{n}" for n in range(1, 4)}


def test_nothing_recent_is_pruned(app: App, server: FeedServer, clock: FakeClock) -> None:
    server.route("/news.xml", body=rss(items("news", range(1, 6), clock)))
    server.route("/static.xml", body=rss(items("static", range(1, 3), clock)))
    poll_due(app, every_feed=True)
    clock.advance(days=89)
    server.route("/news.xml", body=rss([]))
    poll_due(app, every_feed=True)

    assert prune_entries(app.engine, clock.now(), NINETY_DAYS).pruned == 0
    assert len(entry_keys(app)) == 7


def write_config(tmp_path: Path, server: FeedServer, retention: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(
            retention=retention, news=server.url("/news.xml"), static=server.url("/static.xml")
        )
    )
    return config


def test_prune_command(tmp_path: Path, server: FeedServer, clock: FakeClock) -> None:
    """`monitor prune` runs on the real clock: entries stored two days 'ago' by the fake one."""
    clock.current = clock.current.replace(year=2020)
    server.route("/news.xml", body=rss(items("news", range(1, 4), clock)))
    server.route("/static.xml", body=rss([]))
    config = write_config(tmp_path, server, "")
    app = App.open(load_config(config, env={}), clock=clock)
    app.sync_feeds()
    poll_due(app, every_feed=True)
    server.route("/news.xml", body=rss([]))
    clock.advance(minutes=10)
    poll_due(app, every_feed=True)
    app.close()

    refused = monitor("prune", "-c", str(config))
    dry = monitor("prune", "-c", str(config), "--older-than", "30d", "--dry-run")
    bad = monitor("prune", "-c", str(config), "--older-than", "soon")
    done = monitor("prune", "-c", str(config), "--older-than", "30d")

    assert refused.returncode == 2
    assert "no retention.entries in the configuration: give --older-than" in refused.stderr
    assert (dry.returncode, dry.stdout.split()[:3]) == (0, ["would", "prune", "3"])
    assert bad.returncode == 2 and "--older-than" in bad.stderr
    assert (done.returncode, done.stdout.split()[:2]) == (0, ["pruned", "3"])
    assert monitor("prune", "-c", str(config), "--older-than", "30d").stdout.startswith("pruned 0")
