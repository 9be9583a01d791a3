"""The status page as a person sees it: ``monitor run`` with its web endpoint, a local feed
server with a good and a failing feed, two webhook receivers (one answering 200, one 400),
and the page driven in headless Chromium (Debian's, through Playwright)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.ci import require
from tests.support.daemon import ServingDaemon, wait_for
from tests.support.feeds import Item, rss
from tests.support.receiver import Receiver
from tests.support.server import FeedServer

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def refusing() -> Iterator[Receiver]:
    srv = Receiver(default=400).start()
    yield srv
    srv.stop()


def write_config(tmp_path: Path, server: FeedServer, good: Receiver, bad: Receiver) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: sqlite:///monitor.db\n"
        "defaults: {interval: 1h, timeout: 2s, backlog: 24h}\n"
        "feeds:\n"
        f"  - url: {server.url('/world.xml')}\n    name: World news\n"
        f"  - url: {server.url('/down.xml')}\n    name: Down feed\n"
        "rules:\n"
        '  - name: emergency\n    any: ["state of emergency"]\n'
        '  - name: blackout\n    any: ["internet blackout"]\n'
        "notifiers:\n"
        f"  ingest: {{type: webhook, url: '{good.url}'}}\n"
        f"  archive: {{type: webhook, url: '{bad.url}'}}\n"
        "web: {listen: '127.0.0.1:0'}\n"
    )
    return config


def news(now: datetime) -> bytes:
    return rss(
        [
            Item(
                "State of emergency declared in the capital",
                link="https://example.test/emergency",
                guid="e1",
                summary="The government declared a state of emergency overnight.",
                published=now - timedelta(minutes=20),
            ),
            Item(
                "Internet blackout spreads",
                link="https://example.test/blackout",
                guid="b1",
                summary="An internet blackout cut the country off.",
                published=now - timedelta(minutes=5),
            ),
            Item("Weather: mild", guid="w1", summary="Nothing to see.", published=now),
        ],
        title="World news",
    )


def delivery_states(db: Path) -> dict[str, list[str]]:
    try:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT notifier, state FROM deliveries").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return {}
    states: dict[str, list[str]] = {}
    for notifier, state in rows:
        states.setdefault(notifier, []).append(state)
    return states


def test_status_page_in_a_browser(
    tmp_path: Path, server: FeedServer, receiver: Receiver, refusing: Receiver
) -> None:
    require(CHROMIUM, "install Debian's chromium (see .ci/run)")
    from playwright.sync_api import expect, sync_playwright

    server.route("/world.xml", body=news(datetime.now(UTC)))
    server.route("/down.xml", status=500, body=b"upstream exploded", content_type="text/plain")
    daemon = ServingDaemon(write_config(tmp_path, server, receiver, refusing))
    try:
        base = daemon.url()
        done = {"ingest": ["sent", "sent"], "archive": ["failed", "failed"]}
        wait_for(
            lambda: delivery_states(tmp_path / "monitor.db") == done,
            30,
            "both alerts delivered to ingest and failed at archive",
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(base)

                down = page.locator("#feeds-table tbody tr", has_text="Down feed")
                expect(down).to_have_class("failing")
                expect(down.locator("td.status")).to_contain_text("HTTP 500")
                expect(down.locator("td.status .badge")).to_have_text("error")

                alerts = page.locator("#alerts-table tbody tr")
                expect(alerts).to_have_count(2)
                expect(page.locator("li.sent-delivery")).to_have_count(2)
                expect(page.locator("li.failed-delivery")).to_have_count(2)
                expect(page.locator("li.failed-delivery").first).to_contain_text("HTTP 400")
                expect(page.locator("li.sent-delivery").first).to_contain_text("ingest")

                names = page.locator("#feeds-table tbody td.name")
                expect(names).to_have_text(["Down feed", "World news"])  # failing first
                page.get_by_role("link", name="Name", exact=True).click()
                expect(page.locator('th[data-key="name"]')).to_have_attribute(
                    "aria-sort", "ascending"
                )
                expect(names).to_have_text(["Down feed", "World news"])
                page.get_by_role("link", name="Name ▲", exact=True).click()
                expect(names).to_have_text(["World news", "Down feed"])
                assert "sort=name&dir=desc" in page.url

                page.goto(base)  # the default order, for the picture
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)
            finally:
                browser.close()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log
    assert "Traceback" not in daemon.log
