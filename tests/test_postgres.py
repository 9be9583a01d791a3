"""The same code on SQLite and PostgreSQL, and what several instances on PostgreSQL share.

Feeds are claimed with ``FOR UPDATE SKIP LOCKED`` and a lease; a notifier's queue is
leased to one instance at a time; the unique (rule, story) makes a second alert
impossible even when two instances insert it at the same moment.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from monitor.alerting import NewAlert
from monitor.app import App
from monitor.cli import main
from monitor.config import load_config
from monitor.models import FetchResult, ParsedEntry, ParsedFeed, StoredEntry
from monitor.storage import Storage
from monitor.storage.outbox import Outbox
from monitor.storage.tables import FeedRow
from tests.conftest import FakeClock
from tests.support.feeds import Item, rss
from tests.support.polling import poll_due
from tests.support.receiver import Receiver
from tests.support.server import FeedServer
from tests.support.storage import migrated, with_feeds

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
LEASE = 30.0


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    with migrated(pg_url) as eng:
        yield eng


def ok_result(feed_id: int) -> FetchResult:
    return FetchResult(f"http://feeds.example/{feed_id}.xml", 200, True, b"", None, None, None)


# -- the same behaviour on both databases ----------------------------------------------


def test_a_poll_stores_and_reads_back_the_same_on_both(
    db_url: str, tmp_path: Path, server: FeedServer, receiver: Receiver, clock: FakeClock
) -> None:
    """Aware UTC timestamps, JSON lists and booleans come back alike from SQLite and PostgreSQL."""
    published = datetime(2026, 11, 24, 9, 30, tzinfo=timezone(timedelta(hours=5))).astimezone(UTC)
    server.route(
        "/wire.xml",
        body=rss(
            [
                Item(
                    title="State of emergency declared in the capital",
                    link="https://news.example.test/a",
                    guid="a",
                    summary="Authorities declared a state of emergency; internet blackout.",
                    published=published,
                ),
                Item(title="No date here", link="https://news.example.test/b", guid="b"),
            ]
        ),
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: '{db_url}'\ndefaults: {{interval: 5m, timeout: 2s, backlog: 30d}}\n"
        f"feeds:\n  - url: {server.url('/wire.xml')}\n    name: Wire\n"
        "rules:\n  - name: emergency\n    any: [state of emergency, internet blackout]\n"
        f"notifiers:\n  hook: {{type: webhook, url: '{receiver.url}'}}\n"
    )
    app = App.open(load_config(config, env={}), clock=clock)
    try:
        app.sync_feeds()
        assert poll_due(app).count("ok") == 1

        (status,) = app.storage.feed_statuses()
        assert status.active is True and status.entries == 2
        assert status.last_poll == clock.now() and status.last_poll.tzinfo is not None
        assert status.polled_by == app.storage.instance

        (record,) = Outbox(app.engine).alerts()
        alert = record.alert
        assert alert.published == published.astimezone(UTC)
        assert alert.published is not None and alert.published.utcoffset() == timedelta(0)
        assert alert.matched == ("state of emergency", "internet blackout")
        assert all(isinstance(h, tuple) and len(h) == 2 for h in alert.highlights)
        assert record.detected_by == app.storage.instance

        async def deliver() -> int:
            async with app.http_client() as client:
                return await app.delivery_worker(client).run_due()

        assert asyncio.run(deliver()) == 1
        (record,) = Outbox(app.engine).alerts()
        (delivery,) = record.deliveries
        assert (delivery.state, delivery.by) == ("sent", app.storage.instance)
        assert receiver.ok()[0].json()["entry"]["published"] == "2026-11-24T04:30:00Z"
    finally:
        app.close()


# -- feed claims -------------------------------------------------------------------------


@pytest.mark.postgres
def test_instances_claiming_together_get_disjoint_feeds(engine: Engine) -> None:
    ids = with_feeds(engine, 60, NOW)
    instances = [Storage(engine, f"i{n}") for n in range(3)]
    start = threading.Barrier(3)

    def claim(storage: Storage) -> list[int]:
        start.wait()
        got: list[int] = []
        while batch := storage.claim_due(NOW, LEASE, limit=7):
            got += [f.id for f in batch]
        return got

    with ThreadPoolExecutor(3) as pool:
        claimed = list(pool.map(claim, instances))

    flat = [i for got in claimed for i in got]
    assert sorted(flat) == ids  # every feed claimed, none twice
    assert all(got for got in claimed)  # and the work was shared
    assert Storage(engine, "late").claim_due(NOW, LEASE) == []


@pytest.mark.postgres
def test_claims_skip_rows_another_transaction_has_locked(engine: Engine) -> None:
    """SKIP LOCKED: a claim in progress elsewhere does not make this one wait."""
    ids = with_feeds(engine, 10, NOW)
    locked, done = threading.Event(), threading.Event()

    def hold_three() -> None:
        with Session(engine) as session:
            session.execute(select(FeedRow).where(FeedRow.id.in_(ids[:3])).with_for_update()).all()
            locked.set()
            done.wait(10)  # holds the row locks until the other claim has returned
            session.rollback()

    holder = threading.Thread(target=hold_three)
    holder.start()
    try:
        assert locked.wait(5)
        claimed = [f.id for f in Storage(engine, "b").claim_due(NOW, LEASE)]
        still_held = not done.is_set()
    finally:
        done.set()
        holder.join()

    assert still_held
    assert claimed == ids[3:]


@pytest.mark.postgres
def test_a_dead_instances_claims_run_out(engine: Engine) -> None:
    with_feeds(engine, 4, NOW)
    dead, alive = Storage(engine, "dead"), Storage(engine, "alive")
    assert len(dead.claim_due(NOW, LEASE)) == 4

    assert alive.claim_due(NOW + timedelta(seconds=LEASE - 1), LEASE) == []
    taken = alive.claim_due(NOW + timedelta(seconds=LEASE + 1), LEASE)
    assert len(taken) == 4


@pytest.mark.postgres
def test_recording_a_poll_ends_the_claim_and_names_the_instance(engine: Engine) -> None:
    with_feeds(engine, 2, NOW)
    a, b = Storage(engine, "a"), Storage(engine, "b")
    first, second = a.claim_due(NOW, LEASE)
    a.record_success(first.id, ok_result(first.id), None, NOW + timedelta(minutes=5), NOW, None)
    a.record_failure(second.id, "HTTP 500", 500, NOW, NOW)

    statuses = {s.id: s for s in b.feed_statuses()}
    assert statuses[first.id].polled_by == "a" and statuses[second.id].polled_by == "a"
    # the failed feed is due again at once and no longer claimed; the other is not due
    assert [f.id for f in b.claim_due(NOW, LEASE)] == [second.id]


@pytest.mark.postgres
def test_release_gives_back_only_this_instances_claims(engine: Engine) -> None:
    ids = with_feeds(engine, 2, NOW)
    a, b = Storage(engine, "a"), Storage(engine, "b")
    assert len(a.claim_due(NOW, LEASE, limit=1)) == 1
    assert len(b.claim_due(NOW, LEASE, limit=1)) == 1
    b.release(ids)  # b gives back its own feed, not a's
    assert [f.id for f in Storage(engine, "c").claim_due(NOW, LEASE)] == [ids[1]]


# -- notifier leases ----------------------------------------------------------------------


def insert_alert(storage: Storage, feed_id: int, link: str, notifiers: tuple[str, ...]) -> None:
    parsed = ParsedFeed(title="Wire", version="rss20", entries=(entry(link),))

    def decide(entries: list[StoredEntry], _first: bool) -> list[NewAlert]:
        return [new_alert(feed_id, e, notifiers) for e in entries]

    storage.record_success(
        feed_id, ok_result(feed_id), parsed, NOW + timedelta(minutes=5), NOW, "h", decide
    )


def entry(link: str) -> ParsedEntry:
    return ParsedEntry(link, link, link, "Curfew declared", "", "", None, None, "c")


def new_alert(feed_id: int, e: StoredEntry, notifiers: tuple[str, ...]) -> NewAlert:
    return NewAlert(
        id=str(uuid.uuid4()),
        rule="curfew",
        story_key=e.link or e.key,
        feed_id=feed_id,
        entry_id=e.id,
        matched=("curfew",),
        field="title",
        snippet="Curfew declared",
        highlights=((0, 6),),
        title=e.title,
        url=e.link,
        summary="",
        published=None,
        feed_name="Wire",
        feed_url="http://feeds.example/wire.xml",
        detected_at=NOW,
        notifiers=notifiers,
    )


@pytest.mark.postgres
def test_one_instance_at_a_time_serves_a_notifier(engine: Engine) -> None:
    (feed_id,) = with_feeds(engine, 1, NOW)
    insert_alert(Storage(engine, "a"), feed_id, "https://news.example.test/1", ("hook", "chat"))
    a, b = Outbox(engine, "a"), Outbox(engine, "b")

    got_a = a.claim_due(NOW, LEASE)
    got_b = b.claim_due(NOW, LEASE)
    assert set(got_a) == {"chat", "hook"} and got_b == {}

    a.release("hook")
    assert set(b.claim_due(NOW, LEASE)) == {"hook"}
    assert not a.renew("hook", NOW, LEASE)  # a lost it: its sender stops
    assert b.renew("hook", NOW, LEASE)

    # a dies holding "chat": b gets it once the lease runs out
    assert b.claim_due(NOW + timedelta(seconds=LEASE - 1), LEASE, exclude={"hook"}) == {}
    assert set(b.claim_due(NOW + timedelta(seconds=LEASE + 1), LEASE, exclude={"hook"})) == {"chat"}


# -- one alert per story, even at the same moment ----------------------------------------


@pytest.mark.postgres
def test_two_instances_inserting_one_story_at_once_make_one_alert(engine: Engine) -> None:
    """Both transactions reach the alert insert together; the unique (rule, story) lets one in."""
    feed_a, feed_b = with_feeds(engine, 2, NOW)
    link = "https://news.example.test/same-story"
    together = threading.Barrier(2)
    inserted: dict[str, list[str]] = {}

    def poll(instance: str, feed_id: int) -> None:
        def decide(entries: list[StoredEntry], _first: bool) -> list[NewAlert]:
            together.wait(5)  # both have stored their entry; now both insert the alert
            return [new_alert(feed_id, e, ("hook",)) for e in entries]

        parsed = ParsedFeed(title="Wire", version="rss20", entries=(entry(link),))
        stored = Storage(engine, instance).record_success(
            feed_id, ok_result(feed_id), parsed, NOW, NOW, instance, decide
        )
        inserted[instance] = stored.alerts

    threads = [
        threading.Thread(target=poll, args=("a", feed_a)),
        threading.Thread(target=poll, args=("b", feed_b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)

    assert sorted(len(v) for v in inserted.values()) == [0, 1]
    (record,) = Outbox(engine).alerts()
    assert len(record.deliveries) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM entries")).scalar() == 2


# -- what the commands show ----------------------------------------------------------------


@pytest.mark.postgres
def test_feeds_and_alerts_commands_name_the_instance(
    pg_url: str,
    tmp_path: Path,
    server: FeedServer,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.route(
        "/wire.xml",
        body=rss([Item(title="Curfew declared", link="https://news.example.test/c", guid="c")]),
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: '{pg_url}'\ndefaults: {{interval: 5m, timeout: 2s, backlog: 3650d}}\n"
        f"feeds:\n  - url: {server.url('/wire.xml')}\n    name: Wire\n"
        "rules:\n  - name: curfew\n    any: [curfew]\nnotifiers:\n  out: {type: console}\n"
    )
    monkeypatch.setenv("MONITOR_INSTANCE", "monitor-b")
    assert main(["run", "--once", "-c", str(config)]) == 0
    capsys.readouterr()

    assert main(["feeds", "-c", str(config)]) == 0
    (row,) = capsys.readouterr().out.splitlines()[1:]
    assert row.split()[0] == "Wire" and row.endswith("  monitor-b")

    assert main(["alerts", "-c", str(config)]) == 0
    listed = capsys.readouterr().out
    assert "    detected by monitor-b" in listed
    assert "-> out: sent " in listed and "(by monitor-b)" in listed
