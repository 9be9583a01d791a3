"""Feed health alerts end to end: a real SQLite file (or PostgreSQL), a local feed that fails
then recovers, polls driven by an injected clock, and a real webhook receiver that checks
signatures. Each change of a feed's health reaches the receiver exactly once."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from monitor.app import App
from monitor.cli import main
from monitor.config import load_config
from monitor.errors import StorageError
from monitor.fetch import make_client
from monitor.health import RECENT_ENTRIES, transitions
from monitor.health_check import check_feed_health
from monitor.notify.payloads import rfc3339
from monitor.storage import Storage
from monitor.storage.db import create, upgrade
from monitor.storage.health import FEEDS_PER_QUERY, HealthStore
from monitor.storage.repo import FeedSpec
from monitor.storage.tables import AlertRow, DeliveryRow, EntryRow, FeedRow
from tests.conftest import AppOpener, FakeClock
from tests.support.feeds import Item, rss
from tests.support.polling import poll_due
from tests.support.receiver import Receiver
from tests.support.server import FeedServer

SECRET = "whsec_" + base64.b64encode(b"h" * 32).decode()
PASSWORD = "s3cretFeedPass"
AppFactory = Callable[..., App]


def config_text(
    server: FeedServer, receiver: Receiver, database: str, extra: str = "", userinfo: str = ""
) -> str:
    feed_url = server.url("/wire.xml").replace("http://", f"http://{userinfo}")
    return (
        f"database: '{database}'\ndefaults: {{interval: 5m, timeout: 2s}}\n"
        f"feeds:\n  - url: {feed_url}\n    name: Wire\n"
        f"notifiers:\n  hook: {{type: webhook, url: '{receiver.url}', secret: '{SECRET}'}}\n"
        "  stdout: {type: console}\n"
        "health: {failures: 3, silence: 5, min_silence: 1h}\n" + extra
    )


@pytest.fixture
def make_app(
    tmp_path: Path, server: FeedServer, receiver: Receiver, clock: FakeClock, open_app: AppOpener
) -> AppFactory:

    def factory(
        extra: str = "health_notify: [hook]\n", database: str = "", userinfo: str = ""
    ) -> App:
        path = tmp_path / "config.yaml"
        database = database or "sqlite:///monitor.db"
        text = config_text(server, receiver, database, extra, userinfo)
        path.write_text(text, encoding="utf-8")
        return open_app(path)

    return factory


def real_time_clock(hours_ago: float = 0) -> FakeClock:
    """Signatures are checked against the real time: the clock ends near it."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours_ago))


@pytest.fixture
def clock() -> FakeClock:
    return real_time_clock()


def deliver(app: App) -> int:
    async def go() -> int:
        async with make_client() as client:
            return await app.delivery_worker(client).run_due()

    return asyncio.run(go())


def verified(receiver: Receiver) -> list[dict[str, object]]:
    """Every body the receiver accepted, each checked against its Standard Webhooks signature."""
    return [Webhook(SECRET).verify(r.body, r.headers) for r in receiver.ok()]


def health_rows(app: App) -> list[tuple[str, str]]:
    with Session(app.engine) as session:
        rows = session.execute(
            select(AlertRow.kind, AlertRow.story_key).order_by(AlertRow.detected_at)
        )
        return [(kind, key) for kind, key in rows]


def items(newest: datetime, count: int, every: timedelta, prefix: str = "g") -> list[Item]:
    return [
        Item(
            title=f"Story {n}",
            guid=f"{prefix}{n}",
            link=f"https://news.test/{prefix}{n}",
            published=when,
        )
        for n, when in ((n, newest - n * every) for n in range(count))
    ]


def test_failing_three_polls_then_recovering_reaches_the_webhook_once_each_signed(
    make_app: AppFactory,
    server: FeedServer,
    receiver: Receiver,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app()
    server.route("/wire.xml", status=503, body=b"down for maintenance")
    for _ in range(2):
        poll_due(app, every_feed=True)
        assert check_feed_health(app, clock.now()) == 0  # 1, then 2 failures: not yet
        clock.advance(seconds=30)
    poll_due(app, every_feed=True)
    failing_at = clock.now()
    assert check_feed_health(app, failing_at) == 1
    assert check_feed_health(app, failing_at) == 0  # nothing changed: nothing raised
    clock.advance(seconds=30)
    poll_due(app, every_feed=True)  # a fourth failure is the same episode
    assert check_feed_health(app, clock.now()) == 0

    clock.advance(seconds=30)
    server.route("/wire.xml", body=rss(items(clock.now(), 3, timedelta(hours=1))))
    poll_due(app, every_feed=True)
    recovered_at = clock.now()
    assert check_feed_health(app, recovered_at) == 1
    assert check_feed_health(app, recovered_at + timedelta(minutes=1)) == 0

    assert deliver(app) == 2
    failing, recovered = verified(receiver)
    feed = {"name": "Wire", "url": server.url("/wire.xml")}
    assert failing == {
        "type": "feed_health",
        "id": receiver.ok()[0].headers["webhook-id"],
        "state": "failing",
        "feed": feed,
        "error": "HTTP 503 Service Unavailable",
        "failures": 3,
        "last_success": None,
        "detected_at": rfc3339(failing_at),
    }
    assert (recovered["state"], recovered["error"], recovered["failures"]) == ("recovered", None, 0)
    assert recovered["last_success"] == rfc3339(recovered_at)
    assert recovered["feed"] == feed
    assert [(kind, key.rsplit(":", 1)[0]) for kind, key in health_rows(app)] == [
        ("feed_failing", "health:1:1"),
        ("feed_recovered", "health:1:2"),
    ]

    assert main(["alerts", "-c", str(tmp_path / "config.yaml")]) == 0
    listed = capsys.readouterr().out
    assert "[feed-health] Wire: feed is failing (3 polls in a row): HTTP 503" in listed
    assert "[feed-health] Wire: feed has recovered (was failing)" in listed
    assert listed.count("-> hook: sent") == 2


def test_credentials_in_the_feed_url_or_its_error_never_reach_a_receiver_or_the_listing(
    make_app: AppFactory,
    receiver: Receiver,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app(userinfo=f"bob:{PASSWORD}@")
    (status,) = app.storage.feed_statuses()
    error = f"cannot reach {status.url}: login {PASSWORD} refused"
    for _ in range(3):
        app.storage.record_failure(status.id, error, None, clock.now(), clock.now())
    assert check_feed_health(app, clock.now()) == 1
    assert deliver(app) == 1

    (body,) = verified(receiver)
    hidden = status.url.replace(PASSWORD, "***")
    assert body["feed"] == {"name": "Wire", "url": hidden}
    assert body["error"] == f"cannot reach {hidden}: login *** refused"
    assert not any(PASSWORD.encode() in r.body for r in receiver.received)
    assert main(["alerts", "-c", str(tmp_path / "config.yaml")]) == 0
    listed = capsys.readouterr().out
    assert "bob:***@" in listed and PASSWORD not in listed


def test_a_feed_quiet_for_five_times_its_usual_gap_is_silent_once_then_recovers(
    make_app: AppFactory, server: FeedServer, receiver: Receiver
) -> None:
    clock = real_time_clock(hours_ago=6)  # ends at the real time, when it delivers
    app = make_app()
    app.clock = clock
    start = clock.now()
    hourly = items(start - timedelta(hours=1), 8, timedelta(hours=1))
    server.route("/wire.xml", body=rss(hourly))
    poll_due(app, every_feed=True)

    # published an hour apart: silent after max(5 x 1h, 1h) = 5 h without a new entry,
    # as seen by a poll that worked: until one does, the feed is not called silent
    assert check_feed_health(app, start) == 0
    assert check_feed_health(app, start + timedelta(hours=5, seconds=1)) == 0
    clock.advance(hours=5)
    poll_due(app, every_feed=True)  # fine, nothing new
    assert check_feed_health(app, clock.now()) == 0
    clock.advance(seconds=1)
    poll_due(app, every_feed=True)
    silent_at = clock.now()
    assert check_feed_health(app, silent_at) == 1
    assert check_feed_health(app, silent_at + timedelta(minutes=30)) == 0

    clock.advance(hours=1, seconds=-1)
    server.route(
        "/wire.xml", body=rss([*items(clock.now(), 1, timedelta(hours=1), "new"), *hourly])
    )
    poll_due(app, every_feed=True)
    assert check_feed_health(app, clock.now()) == 1

    assert deliver(app) == 2
    silent, recovered = verified(receiver)
    assert (silent["state"], silent["error"], silent["failures"]) == ("silent", None, 0)
    assert silent["last_success"] == rfc3339(silent_at)
    assert silent["detected_at"] == rfc3339(silent_at)
    assert recovered["state"] == "recovered"


def test_without_health_notify_nothing_is_checked_or_written(
    make_app: AppFactory, server: FeedServer, receiver: Receiver, clock: FakeClock
) -> None:
    app = make_app(extra="")
    server.route("/wire.xml", status=500)
    for _ in range(4):
        poll_due(app, every_feed=True)
    assert check_feed_health(app, clock.now()) == 0
    with Session(app.engine) as session:
        assert session.scalar(select(FeedRow.health_state)) == "ok"
        assert session.scalar(select(func.count()).select_from(AlertRow)) == 0


def test_a_health_notifier_switched_off_by_an_empty_url_gets_nothing(
    tmp_path: Path, server: FeedServer, receiver: Receiver, clock: FakeClock
) -> None:
    path = tmp_path / "config.yaml"
    text = config_text(server, receiver, "sqlite:///monitor.db", "health_notify: [quiet]\n")
    path.write_text(text.replace("  stdout:", "  quiet: {type: slack, url: '${Q:-}'}\n  stdout:"))
    app = App.open(load_config(path, env={}), clock=clock)
    try:
        app.sync_feeds()
        fail(app, 3)
        assert check_feed_health(app, clock.now()) == 0
    finally:
        app.close()


def fail(app: App, times: int) -> None:
    """Record ``times`` failed polls on every feed, as the poller does."""
    now = app.clock.now()
    for status in app.storage.feed_statuses():
        for _ in range(times):
            app.storage.record_failure(status.id, "HTTP 503", 503, now, now)


def health_alert_count(app: App) -> tuple[int, int]:
    with Session(app.engine) as session:
        alerts = session.scalar(select(func.count()).where(AlertRow.rule == "feed-health"))
        deliveries = session.scalar(select(func.count()).select_from(DeliveryRow))
        return alerts or 0, deliveries or 0


def test_two_readers_of_one_change_write_it_once(
    make_app: AppFactory, clock: FakeClock, db_url: str
) -> None:
    first, second = make_app(database=db_url), make_app(database=db_url)
    fail(first, 3)
    health = first.config.health
    changes = [
        transitions(HealthStore(a.engine, f"instance-{i}").feeds(), health, clock.now())
        for i, a in enumerate((first, second))
    ]
    assert [len(c) for c in changes] == [1, 1]  # both saw the feed start failing
    recorded = [
        HealthStore(a.engine, "x").record(c[0], ["hook"])
        for a, c in zip((first, second), changes, strict=True)
    ]
    assert recorded == [True, False]
    assert health_alert_count(first) == (1, 1)


def test_a_change_whose_alert_cannot_be_written_is_not_recorded_either(
    make_app: AppFactory, clock: FakeClock
) -> None:
    app = make_app()
    fail(app, 3)
    store = HealthStore(app.engine, "test")
    (change,) = transitions(store.feeds(), app.config.health, clock.now())
    with pytest.raises(StorageError):
        store.record(change, ["hook", "hook"])  # a second delivery row for one notifier
    assert health_alert_count(app) == (0, 0)
    (again,) = transitions(store.feeds(), app.config.health, clock.now())  # still ok: retried
    assert store.record(again, ["hook"])
    assert health_alert_count(app) == (1, 1)


@pytest.mark.postgres
def test_instances_checking_at_once_on_postgresql_alert_once_per_change(
    make_app: AppFactory, clock: FakeClock, pg_url: str
) -> None:
    apps = [make_app(database=pg_url) for _ in range(4)]
    for round_ in range(6):
        if round_ % 2 == 0:
            fail(apps[0], 3)
        else:
            with Session(apps[0].engine) as session, session.begin():
                session.execute(update(FeedRow).values(consecutive_failures=0))
        assert sum(race(apps, clock.now())) == 1
    assert health_alert_count(apps[0]) == (6, 6)


def race(apps: list[App], now: datetime) -> list[int]:
    """``check_feed_health`` from every app at the same moment, each in its own thread."""
    start = threading.Barrier(len(apps))
    raised = [0] * len(apps)

    def check(i: int) -> None:
        start.wait()
        raised[i] = check_feed_health(apps[i], now)

    threads = [threading.Thread(target=check, args=(i,)) for i in range(len(apps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return raised


def test_each_feed_gets_its_own_newest_entries_across_query_batches(
    db_url: str, clock: FakeClock
) -> None:
    engine = create(db_url)
    upgrade(engine)
    storage = Storage(engine)
    count = FEEDS_PER_QUERY + 30
    storage.sync_feeds(
        [FeedSpec(f"https://f{n}.test/rss", None) for n in range(count)], clock.now()
    )
    start = clock.now()
    with Session(engine) as session, session.begin():
        ids = list(session.scalars(select(FeedRow.id).order_by(FeedRow.id)))
        session.add_all(
            EntryRow(
                feed_id=feed_id,
                key=f"k{i}",
                content_hash="h",
                first_seen_at=start + timedelta(minutes=i),
                published_at=None if i % 2 else start,
            )
            for feed_id in ids
            for i in range(feed_id % 30)  # from none to 29 entries each
        )
    feeds = HealthStore(engine, "test").feeds()
    engine.dispose()

    assert [f.id for f in feeds] == ids
    for f in feeds:
        stored = f.id % 30
        newest = [start + timedelta(minutes=i) for i in reversed(range(stored))][:RECENT_ENTRIES]
        assert sorted((e.first_seen for e in f.entries), reverse=True) == newest
