"""Alerts end to end: local feeds, a real SQLite file, one alert per rule and story."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.app import App
from monitor.poller import CycleReport
from monitor.storage.outbox import Outbox
from monitor.storage.tables import AlertRow, DeliveryRow
from tests.conftest import AppOpener, FakeClock
from tests.support.feeds import Item, rss, seed_paragraphs
from tests.support.polling import poll_due
from tests.support.server import FeedServer

RULES = """\
rules:
  - name: emergency
    any: ["state of emergency", "martial law"]
  - name: shutdown
    query: '"internet blackout" OR (internet NEAR/3 (shutdown OR cut OR blocked))'
    notify: [hook]
notifiers:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
  stdout: {type: console}
"""

AppFactory = Callable[..., App]


@pytest.fixture
def make_app(
    tmp_path: Path, server: FeedServer, clock: FakeClock, open_app: AppOpener
) -> AppFactory:

    def factory(feeds: str) -> App:
        config = tmp_path / "config.yaml"
        config.write_text(
            "database: sqlite:///monitor.db\ndefaults: {interval: 5m, timeout: 2s, backlog: 24h}\n"
            f"feeds:\n{feeds}{RULES}"
        )
        return open_app(config)

    return factory


def feed(server: FeedServer, path: str, rules: str = "") -> str:
    line = f"  - url: {server.url(path)}\n    name: {path.strip('/')}\n"
    return line + (f"    rules: {rules}\n" if rules else "")


def poll(app: App) -> CycleReport:
    return poll_due(app, every_feed=True)


def alerts(app: App) -> list[tuple[str, str, str | None]]:
    with Session(app.engine) as session:
        rows = session.execute(
            select(AlertRow.rule, AlertRow.feed_name, AlertRow.url).order_by(AlertRow.detected_at)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def deliveries(app: App) -> dict[str, int]:
    with Session(app.engine) as session:
        rows = session.execute(
            select(DeliveryRow.notifier, func.count()).group_by(DeliveryRow.notifier)
        )
        return {name: count for name, count in rows}


STORY = "https://news.example.test/asia/kazakhstan-unrest"


def story_item(guid: str, link: str, clock: FakeClock) -> Item:
    lead = seed_paragraphs()
    return Item(
        title="Troops, protesters clash as state of emergency declared",
        link=link,
        guid=guid,
        summary=" ".join(lead[1:3]) + " Authorities cut the internet nationwide.",
        published=clock.now() - timedelta(hours=1),
    )


def test_same_story_in_two_feeds_alerts_once_per_rule_and_not_after_restart(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/wire.xml", body=rss([story_item("wire-1", STORY, clock)]))
    tracked = f"{STORY}/?utm_source=rss&utm_medium=feed#comments"
    server.route("/paper.xml", body=rss([story_item("paper-77", tracked, clock)]))
    app = make_app(feed(server, "/wire.xml") + feed(server, "/paper.xml"))

    report = poll(app)

    assert report.new_entries == 2
    assert sorted(rule for rule, _, _ in alerts(app)) == ["emergency", "shutdown"]
    assert report.alerts == 2
    assert deliveries(app) == {"hook": 2, "stdout": 1}  # shutdown notifies hook only

    app.close()
    clock.advance(minutes=10)
    restarted = make_app(feed(server, "/wire.xml") + feed(server, "/paper.xml"))
    edited = story_item("wire-1", STORY, clock)
    server.route("/wire.xml", body=rss([replace(edited, title="Updated: " + edited.title)]))
    again = poll(restarted)

    assert again.new_entries == 1  # the edited entry is stored again ...
    assert len(alerts(restarted)) == 2  # ... but alerts no more


def test_an_edit_that_matches_another_rule_alerts_for_that_rule(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    plain = Item(
        title="Curfew in the capital",
        link=f"{STORY}-2",
        guid="g2",
        summary="Martial law was declared overnight.",
    )
    server.route("/wire.xml", body=rss([plain]))
    app = make_app(feed(server, "/wire.xml"))
    poll(app)
    assert [r for r, _, _ in alerts(app)] == ["emergency"]

    server.route(
        "/wire.xml",
        body=rss([replace(plain, summary=plain.summary + " An internet blackout followed.")]),
    )
    clock.advance(minutes=6)
    poll(app)

    assert [r for r, _, _ in alerts(app)] == ["emergency", "shutdown"]


def test_backlog_on_first_poll_only(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    old = Item(
        title="Old: state of emergency",
        link=f"{STORY}-old",
        guid="old",
        published=clock.now() - timedelta(days=3),
    )
    recent = Item(
        title="New: state of emergency",
        link=f"{STORY}-new",
        guid="new",
        published=clock.now() - timedelta(hours=2),
    )
    undated = Item(title="Undated: state of emergency", link=f"{STORY}-undated", guid="undated")
    server.route("/wire.xml", body=rss([old, recent, undated]))
    app = make_app(feed(server, "/wire.xml"))

    report = poll(app)

    assert report.new_entries == 3
    assert sorted(url or "" for _, _, url in alerts(app)) == [f"{STORY}-new", f"{STORY}-undated"]

    late = Item(
        title="Late: state of emergency",
        link=f"{STORY}-late",
        guid="late",
        published=clock.now() - timedelta(days=5),
    )
    server.route("/wire.xml", body=rss([old, recent, undated, late]))
    clock.advance(minutes=6)
    poll(app)
    assert f"{STORY}-late" in [url for _, _, url in alerts(app)]  # not the first poll any more


def test_a_feeds_rules_limit_what_it_alerts(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/wire.xml", body=rss([story_item("w", STORY, clock)]))
    app = make_app(feed(server, "/wire.xml", rules="[shutdown]"))
    poll(app)
    assert [r for r, _, _ in alerts(app)] == ["shutdown"]


def test_alert_keeps_matched_phrases_and_a_snippet(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/wire.xml", body=rss([story_item("w", STORY, clock)]))
    app = make_app(feed(server, "/wire.xml", rules="[emergency]"))
    poll(app)
    (record,) = Outbox(app.engine).alerts()
    alert = record.alert
    assert alert.matched == ("state of emergency",)
    assert alert.feed_name == "wire.xml" and alert.url == STORY
    assert 0 < len(alert.snippet) <= 260
    start, end = alert.highlights[0]
    assert alert.snippet[start:end].casefold() == "state of emergency"
    assert {d.notifier for d in record.deliveries} == {"hook", "stdout"}
