"""One story from several outlets: one alert per rule, naming every outlet known when sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from monitor.app import App
from monitor.config import load_config
from monitor.storage.session import unit
from monitor.storage.tables import AlertRow, StoryRow
from tests.conftest import AppOpener, FakeClock
from tests.support.feeds import Item, rss
from tests.support.polling import poll_due
from tests.support.receiver import Receiver
from tests.support.server import FeedServer

AppFactory = Callable[..., App]

WIRE = Item(
    title="Troops, protesters clash in Kazakhstan as US, UN call for 'restraint'",
    link="https://wire.example/world/kazakhstan-clashes",
    guid="wire-1",
    summary="At least eight security forces have been killed and over 300 injured as violent"
    " protests resume in Almaty. A state of emergency was declared and the internet was cut.",
)
PAPER = Item(
    title="US, UN urge Kazakhstan to show restraint as clashes flare in Almaty",
    link="https://paper.example/2026/11/24/almaty-clashes?utm_source=rss",
    guid="paper-9",
    summary="Washington and the United Nations urged restraint after eight security officers"
    " were killed in Almaty, where a state of emergency is in force.",
)
BROADCASTER = Item(
    title="Kazakhstan unrest: UN and US call for calm as troops fire on crowds in Almaty",
    link="https://tv.example/news/kazakhstan-unrest",
    guid="tv-3",
    summary="Eight security officers killed in Almaty; state of emergency declared.",
)
OTHER_EVENT = Item(
    title="State of emergency declared in Ecuador after prison riots",
    link="https://wire.example/americas/ecuador-emergency",
    guid="wire-2",
    summary="Ecuador's president declared a state of emergency after riots in three prisons.",
)


@pytest.fixture
def make_app(
    tmp_path: Path, server: FeedServer, receiver: Receiver, clock: FakeClock, open_app: AppOpener
) -> AppFactory:

    def factory(database: str | None = None) -> App:
        feeds = "".join(
            f"  - url: {server.url(f'/{name}.xml')}\n    name: {name.title()}\n"
            for name in ("wire", "paper", "tv")
        )
        config = tmp_path / "config.yaml"
        config.write_text(
            f"database: {database or 'sqlite:///monitor.db'}\n"
            f"defaults: {{interval: 5m, timeout: 2s, backlog: 24h}}\nfeeds:\n{feeds}"
            'rules:\n  - name: emergency\n    any: ["state of emergency"]\n'
            f'notifiers:\n  hook: {{type: webhook, url: "{receiver.url}"}}\n'
        )
        return open_app(config)

    return factory


def recent(item: Item, clock: FakeClock) -> Item:
    return Item(**{**item.__dict__, "published": clock.now() - timedelta(minutes=20)})


def serve(server: FeedServer, clock: FakeClock, **feeds: list[Item]) -> None:
    for name in ("wire", "paper", "tv"):
        server.route(f"/{name}.xml", body=rss([recent(i, clock) for i in feeds.get(name, [])]))


def deliver(app: App) -> None:
    async def go() -> None:
        async with app.http_client() as client:
            await app.delivery_worker(client).run_due()

    asyncio.run(go())


def alert_count(app: App) -> int:
    with Session(app.engine) as session:
        return int(session.scalar(select(func.count()).select_from(AlertRow)) or 0)


def test_two_outlets_one_alert_naming_both_and_a_later_one_does_not_alert(
    make_app: AppFactory, server: FeedServer, receiver: Receiver, clock: FakeClock
) -> None:
    app = make_app()
    serve(server, clock, wire=[WIRE], paper=[PAPER])
    report = poll_due(app, every_feed=True)
    deliver(app)

    assert report.alerts == 1 and alert_count(app) == 1
    (body,) = receiver.bodies()
    names = sorted(s["feed"]["name"] for s in body["sources"])
    assert names == ["Paper", "Wire"]
    assert body["sources"][0]["feed"]["name"] == body["feed"]["name"]  # its own entry first

    clock.advance(minutes=30)
    serve(server, clock, wire=[WIRE], paper=[PAPER], tv=[BROADCASTER, OTHER_EVENT])
    later = poll_due(app, every_feed=True)
    deliver(app)

    assert later.alerts == 1  # Ecuador: another story; the broadcaster's Almaty report is not
    assert [b["entry"]["title"] for b in receiver.bodies()[1:]] == [OTHER_EVENT.title]
    assert receiver.bodies()[1]["sources"][0]["feed"]["name"] == "Tv"


def test_a_link_grouped_by_likeness_keeps_later_copies_in_the_story(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    """The paper's link joined the wire's story by likeness; the broadcaster later carries
    that same link under a headline of its own: by key it is still the wire's story."""
    app = make_app()
    serve(server, clock, wire=[WIRE])
    poll_due(app, every_feed=True)
    serve(server, clock, wire=[WIRE], paper=[PAPER])
    poll_due(app, every_feed=True)
    clock.advance(minutes=5)
    retold = Item(
        title="Emergency rule in force",
        link=PAPER.link,
        guid="tv-77",
        summary="A state of emergency.",
    )
    serve(server, clock, wire=[WIRE], paper=[PAPER], tv=[retold])

    report = poll_due(app, every_feed=True)

    assert report.new_entries == 1 and report.alerts == 0
    assert alert_count(app) == 1
    with Session(app.engine) as session:
        assert session.scalar(select(func.count()).select_from(StoryRow)) == 1


def test_stories_age_out_of_the_likeness_window(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    app = make_app()
    serve(server, clock, wire=[WIRE])
    poll_due(app, every_feed=True)
    clock.advance(days=3)  # the same words three days on: a follow-up, alerted again
    serve(server, clock, wire=[WIRE], paper=[PAPER])

    report = poll_due(app, every_feed=True)

    assert report.alerts == 1 and alert_count(app) == 2


def test_a_story_started_in_a_rolled_back_transaction_is_forgotten(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    app = make_app()
    serve(server, clock, wire=[WIRE])
    grouper = app.storage.stories
    with pytest.raises(RuntimeError), unit(Session(app.engine)) as session:
        entry = _stored()
        grouper.group(session, [entry], [_proposed(entry)], clock.now())
        assert len(grouper._index) == 1
        raise RuntimeError("the poll's transaction fails")
    assert len(grouper._index) == 0 and grouper._keys == {} and grouper._feeds == {}

    serve(server, clock, paper=[PAPER])
    report = poll_due(app, every_feed=True)  # joins no ghost story: its entry is stored
    assert report.alerts == 1


def test_feeds_noted_as_telling_a_story_in_a_rolled_back_transaction_are_forgotten(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    app = make_app()
    grouper = app.storage.stories
    with unit(Session(app.engine)) as session:
        entry = _stored()
        grouper.group(session, [entry], [_proposed(entry)], clock.now())
    (story,) = grouper._keys
    with unit(Session(app.engine)) as session:
        grouper._note_feed(session, story, 2)  # committed: stays
    with pytest.raises(RuntimeError), unit(Session(app.engine)) as session:
        session.execute(text("SELECT 1"))  # a transaction under way, as a poll's is
        grouper._note_feed(session, story, 3)
        grouper._note_feed(session, story, 4)
        assert grouper._feeds[story] == {1, 2, 3, 4}
        raise RuntimeError("the poll's transaction fails")

    assert grouper._feeds[story] == {1, 2}


def _stored():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from monitor.models import StoredEntry

    now = datetime(2026, 11, 24, tzinfo=UTC)
    return StoredEntry(1, 1, "k", WIRE.link, WIRE.title, WIRE.summary, "", None, now, True)


def _proposed(entry):  # type: ignore[no-untyped-def]
    from monitor.alerting import NewAlert

    return NewAlert(
        id="a-1", rule="unrest", story_key="unset", feed_id=entry.feed_id, entry_id=entry.id,
        matched=("emergency",), field="summary", snippet="", highlights=(), title=entry.title,
        url=entry.link, summary=entry.summary, published=None, feed_name="Wire",
        feed_url="http://feeds.example/wire.xml", detected_at=entry.first_seen, notifiers=(),
    )  # fmt: skip


@pytest.mark.postgres
def test_two_instances_on_postgresql_group_each_others_stories(
    make_app: AppFactory, server: FeedServer, pg_url: str, clock: FakeClock
) -> None:
    first, second = make_app(pg_url), make_app(pg_url)
    second.storage.instance = "second"
    serve(server, clock, wire=[WIRE])
    poll_due(first, every_feed=True)
    serve(server, clock, wire=[WIRE], paper=[PAPER])

    report = poll_due(second, every_feed=True)  # its index learns the first's story

    assert report.alerts == 0 and alert_count(second) == 1


def test_a_process_sharing_a_sqlite_file_learns_the_stories_stored_after_its_first_read(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    """On SQLite stories are re-read by id: one the other process stores after this one
    read its index is still found (a `run --once` beside the daemon, say)."""
    first, second = make_app(), make_app()
    second.storage.instance = "second"
    serve(server, clock, tv=[OTHER_EVENT])
    poll_due(second, every_feed=True)  # an alert: second's index has read the database
    serve(server, clock, wire=[WIRE])
    poll_due(first, every_feed=True)
    serve(server, clock, wire=[WIRE], paper=[PAPER])

    report = poll_due(second, every_feed=True)

    assert report.alerts == 0 and alert_count(second) == 2  # Ecuador, and the one story


def test_sources_are_feeds_the_rule_watches_with_credentials_hidden(
    tmp_path: Path, server: FeedServer, receiver: Receiver, clock: FakeClock
) -> None:
    """An internal feed kept to its own rule joins the story, but an alert of another rule
    never names it; feed URLs go out with their passwords as ***."""
    serve(server, clock, wire=[WIRE], paper=[PAPER], tv=[BROADCASTER])
    wire = server.url("/wire.xml").replace("http://", "http://bob:wirepass@")
    intel = server.url("/paper.xml").replace("http://", "http://intel:s3cret@")
    config = tmp_path / "config.yaml"
    config.write_text(
        "defaults: {backlog: 24h}\n"
        f"feeds:\n  - url: {wire}\n  - url: {intel}\n    name: Internal\n    rules: [internal]\n"
        f"  - url: {server.url('/tv.xml')}\n    name: TV\n"
        'rules:\n  - name: emergency\n    any: ["state of emergency"]\n'
        '  - name: internal\n    any: ["Almaty"]\n    notify: [console]\n'
        f'notifiers:\n  hook: {{type: webhook, url: "{receiver.url}"}}\n'
        "  console: {type: console}\n"
    )
    app = App.open(load_config(config, env={}), clock=clock)
    try:
        app.sync_feeds()
        poll_due(app, every_feed=True)
        deliver(app)
    finally:
        app.close()

    hooked = [b for b in receiver.bodies() if b["rule"] == "emergency"]
    assert len(hooked) == 1
    names = {s["feed"]["name"] for s in hooked[0]["sources"]}
    assert "Internal" not in names and "TV" in names
    sent = json.dumps(receiver.bodies())
    assert "wirepass" not in sent and "s3cret" not in sent and "bob:***@" in sent


def test_a_feeds_own_entries_stay_apart_after_a_restart(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    """The paper joined the wire's story; restarted, the monitor still knows the paper tells
    it, so the paper's next look-alike entry is a story of its own and alerts."""
    app = make_app()
    serve(server, clock, wire=[WIRE], paper=[PAPER])
    poll_due(app, every_feed=True)
    app.close()
    restarted = make_app()
    again = Item(**{**BROADCASTER.__dict__, "link": "https://paper.example/b", "guid": "p2"})
    serve(server, clock, wire=[WIRE], paper=[PAPER, again])

    report = poll_due(restarted, every_feed=True)

    assert report.alerts == 1 and alert_count(restarted) == 2
