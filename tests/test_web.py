"""The web endpoint in-process: a real aiohttp server on 127.0.0.1, a real SQLite file, real
polls of local feeds and real deliveries to local receivers, a fake clock."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from monitor.app import App, claim_lease
from monitor.config import load_config
from monitor.metrics import Metrics
from monitor.models import FeedStatus
from monitor.poller import CycleReport, FeedOutcome
from monitor.storage.db import create, upgrade
from monitor.storage.outbox import AlertWithDeliveries, DeliveryState
from monitor.storage.status import HealthProbe, OutboxDepth, RuleHour, StatusReader
from monitor.web import WebServer
from monitor.web.page import (
    Moment,
    PageData,
    build_view,
    coarse,
    moment,
    redact,
    render,
    rule_views,
    safe_href,
    sort_order,
    strip_userinfo,
)
from tests.conftest import AppOpener, FakeClock
from tests.support.ci import require
from tests.support.daemon import ServingDaemon, wait_for
from tests.support.feeds import Item, rss
from tests.support.receiver import Receiver
from tests.support.server import FeedServer
from tests.test_payloads import make_alert

T = TypeVar("T")

SETPRIV = Path("/usr/bin/setpriv")
# Root reads any file whatever its mode: drop the capabilities that let it, so that a
# database made unreadable (chmod 000) is unreadable to the daemon too.
NO_DAC_OVERRIDE = [
    str(SETPRIV),
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
    "--",
]

PASSWORD = "hunter2-feed-password"
TOKEN = "tok-7f3a9c1e5b"
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
HOSTILE_ERROR = '<script>alert("error")</script>'


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture
def refusing() -> Iterator[Receiver]:
    """A webhook receiver that answers 400: the delivery fails at once, without a retry."""
    srv = Receiver(default=400).start()
    yield srv
    srv.stop()


def hostile_500(handler: BaseHTTPRequestHandler) -> None:
    """A feed answering 500 with markup in its reason phrase, which the error text quotes."""
    handler.send_response(500, HOSTILE_ERROR)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def good_feed(now: datetime) -> bytes:
    items = [
        Item(
            title='<script>alert("entry")</script> State of emergency declared',
            link="http://example.test/a",
            guid="a",
            summary="A state of emergency was declared overnight.",
            published=now - timedelta(hours=1),
        ),
        Item(
            title="Internet blackout",
            link="javascript:alert(1)",
            guid="b",
            summary="An internet blackout hit the whole country.",
            published=now - timedelta(hours=2),
        ),
    ]
    return rss(items, title='<script>alert("title")</script> Wire')


@dataclass
class Site:
    """An App, its Metrics and a WebServer on port 0, with an httpx client to it."""

    app: App
    metrics: Metrics
    web: WebServer
    client: httpx.AsyncClient
    running: list[bool] = field(default_factory=lambda: [True])

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(f"http://127.0.0.1:{self.web.port}{path}")

    async def poll(self) -> CycleReport:
        async with self.app.http_client() as client:
            poller = self.app.poller(client, rand=lambda: 0.5)
            poller.on_outcome = self.metrics.poll_done
            due = self.app.storage.claim_due(
                self.app.clock.now(), claim_lease(self.app.config), every=True
            )
            return await poller.poll_many(due)

    async def deliver(self) -> None:
        async with self.app.http_client() as client:
            worker = self.app.delivery_worker(client)
            worker.on_attempt = self.metrics.delivery_attempt
            await worker.drain(10)

    async def metric_values(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        response = await self.get("/metrics")
        assert response.status_code == 200
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str):  # type: ignore[no-untyped-def]
    return samples[(name, frozenset(labels.items()))]


@contextlib.asynccontextmanager
async def serving(app: App) -> AsyncIterator[Site]:
    metrics = Metrics(app)
    running = [True]
    web = WebServer(app, metrics, is_running=lambda: running[0])
    await web.start()
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            yield Site(app, metrics, web, client, running)
    finally:
        await web.stop()


AppFactory = Callable[..., App]


@pytest.fixture
def make_app(
    tmp_path: Path,
    server: FeedServer,
    clock: FakeClock,
    receiver: Receiver,
    refusing: Receiver,
    open_app: AppOpener,
) -> AppFactory:
    """A good feed, a failing one, one whose URL holds a password (it fails: 404), three
    rules, a receiver answering 200 and one answering 400, and ``web`` on port 0."""
    server.route("/good.xml", body=good_feed(clock.now()))
    server.route("/broken.xml", handler=hostile_500)
    server.route("/private.xml", status=404, body=b"gone", content_type="text/plain")
    private_url = server.url("/private.xml").replace("http://", f"http://reader:{PASSWORD}@")

    def factory(database: str = "sqlite:///monitor.db") -> App:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"database: {database}\n"
            "defaults: {interval: 5m, timeout: 2s, backlog: 24h}\n"
            f"feeds:\n  - url: {server.url('/good.xml')}\n"
            f"  - url: {server.url('/broken.xml')}\n    name: Broken feed\n"
            f"  - url: {private_url}\n    name: Private feed\n"
            "rules:\n"
            '  - name: emergency\n    any: ["state of emergency"]\n'
            '  - name: blackout\n    any: ["internet blackout"]\n'
            '  - name: quiet\n    any: ["nothing matches this"]\n'
            "notifiers:\n"
            f'  good: {{type: webhook, url: "{receiver.url}?token={TOKEN}", secret: "{SECRET}"}}\n'
            f'  bad: {{type: webhook, url: "{refusing.url}?token={TOKEN}"}}\n'
            "web: {listen: '127.0.0.1:0'}\n"
        )
        return open_app(config)

    return factory


# --- /metrics ------------------------------------------------------------------------------


def test_metrics_after_real_polls_and_deliveries(make_app: AppFactory, clock: FakeClock) -> None:
    async def go() -> None:
        async with serving(make_app()) as site:
            before = await site.metric_values()
            assert value(before, "monitor_polls_total", outcome="ok") == 0
            assert value(before, "monitor_alerts_total", rule="quiet") == 0

            report = await site.poll()
            assert (report.count("ok"), report.count("error")) == (1, 2)
            clock.advance(seconds=90)
            queued = await site.metric_values()
            assert value(queued, "monitor_outbox_pending") == 4  # 2 alerts x 2 notifiers
            assert value(queued, "monitor_outbox_oldest_pending_seconds") == 90

            await site.deliver()
            clock.advance(minutes=6)
            await site.poll()  # the same body again: unchanged; the broken feed fails again
            m = await site.metric_values()

        assert value(m, "monitor_polls_total", outcome="ok") == 1
        assert value(m, "monitor_polls_total", outcome="unchanged") == 1
        assert value(m, "monitor_polls_total", outcome="error") == 4
        # every fetch that got an answer is timed (the private feed's may not reach its server)
        fetches = value(m, "monitor_fetch_seconds_count")
        assert fetches in (4, 6) and value(m, "monitor_fetch_seconds_bucket", le="+Inf") == fetches
        assert value(m, "monitor_entries_stored_total") == 2
        assert value(m, "monitor_alerts_total", rule="emergency") == 1
        assert value(m, "monitor_alerts_total", rule="blackout") == 1
        assert value(m, "monitor_alerts_total", rule="quiet") == 0
        assert value(m, "monitor_deliveries_total", notifier="good", outcome="ok") == 2
        assert value(m, "monitor_deliveries_total", notifier="bad", outcome="fail") == 2
        assert value(m, "monitor_deliveries_total", notifier="bad", outcome="retry") == 0
        assert value(m, "monitor_outbox_pending") == 0
        assert value(m, "monitor_outbox_oldest_pending_seconds") == 0

    run(go())


def test_metrics_text_format_and_no_secrets(make_app: AppFactory) -> None:
    async def go() -> httpx.Response:
        async with serving(make_app()) as site:
            await site.poll()
            await site.deliver()
            return await site.get("/metrics")

    response = run(go())
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "# TYPE monitor_fetch_seconds histogram" in response.text
    for secret in (TOKEN, SECRET, PASSWORD):
        assert secret not in response.text


def test_metrics_hooks_with_outcome_values(make_app: AppFactory) -> None:
    """The hooks alone: outcomes the poller reports, skipped polls and digests included."""

    async def go() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        async with serving(make_app()) as site:
            site.metrics.poll_done(FeedOutcome(1, "skipped"))
            site.metrics.poll_done(
                FeedOutcome(1, "ok", new_entries=5, alerts=3, fetch_seconds=0.3,
                            alert_rules=("emergency", "emergency", "gone-rule"))
            )  # fmt: skip
            site.metrics.delivery_attempt("good", "retry", 3)  # one digest of three alerts
            return await site.metric_values()

    m = run(go())
    assert value(m, "monitor_polls_total", outcome="skipped") == 1
    assert value(m, "monitor_entries_stored_total") == 5
    assert value(m, "monitor_alerts_total", rule="emergency") == 2
    assert value(m, "monitor_alerts_total", rule="gone-rule") == 1
    assert value(m, "monitor_fetch_seconds_bucket", le="0.25") == 0
    assert value(m, "monitor_fetch_seconds_bucket", le="0.5") == 1
    assert value(m, "monitor_deliveries_total", notifier="good", outcome="retry") == 3


def test_each_metrics_has_its_own_registry(make_app: AppFactory) -> None:
    app = make_app()
    first, second = Metrics(app), Metrics(app)
    first.poll_done(FeedOutcome(1, "ok"))
    assert b'monitor_polls_total{outcome="ok"} 1.0' in first.scrape()
    assert b'monitor_polls_total{outcome="ok"} 0.0' in second.scrape()


# --- /healthz ------------------------------------------------------------------------------


def test_healthz_follows_the_scheduler_and_the_database_file(
    make_app: AppFactory, tmp_path: Path
) -> None:
    db = tmp_path / "monitor.db"
    moved = tmp_path / "moved.db"

    async def go() -> list[tuple[int, str]]:
        seen = []
        async with serving(make_app()) as site:
            for step in ("up", "stopping", "up again", "file gone", "file back"):
                site.running[0] = step != "stopping"
                if step == "file gone":
                    db.rename(moved)
                    # the pooled connection keeps its descriptor and notices nothing
                    assert len(site.app.storage.feed_statuses()) == 3
                if step == "file back":
                    moved.replace(db)
                response = await site.get("/healthz")
                seen.append((response.status_code, response.text))
        return seen

    up, stopping, up_again, gone, back = run(go())
    assert up == (200, "ok\n") and up_again == up and back == up
    assert stopping[0] == 503 and "not running" in stopping[1]
    assert gone[0] == 503 and "the file is missing" in gone[1]
    assert gone[1].count("\n") == 1


# --- the status page -----------------------------------------------------------------------


def page_of(site_body: str) -> HTMLParser:
    return HTMLParser(site_body)


def feed_names(page: HTMLParser) -> list[str]:
    return [td.text(strip=True) for td in page.css("#feeds-table tbody td.name")]


def test_page_escapes_hostile_text_and_hides_secrets(
    make_app: AppFactory, server: FeedServer
) -> None:
    async def go() -> httpx.Response:
        async with serving(make_app()) as site:
            await site.poll()
            await site.deliver()
            return await site.get("/")

    response = run(go())
    html = response.text
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src" not in response.headers["content-security-policy"]  # none allowed
    assert "<script" not in html  # every hostile string arrives escaped
    assert html.count("&lt;script&gt;") >= 3  # feed title, entry title, feed error
    for secret in (PASSWORD, TOKEN, SECRET, "reader:"):
        assert secret not in html
    page = page_of(html)
    urls = [td.text(strip=True) for td in page.css("#feeds-table td.url")]
    assert server.url("/private.xml") in urls  # shown without its userinfo
    hrefs = [a.attributes.get("href") or "" for a in page.css("a")]
    assert not any(h.lower().startswith("javascript:") for h in hrefs)
    assert "http://example.test/a" in hrefs

    failing = page.css("#feeds-table tr.failing")
    assert [tr.css_first("td.name").text(strip=True) for tr in failing] == [
        "Broken feed",
        "Private feed",
    ]
    status = failing[0].css_first("td.status").text(strip=True)
    assert "HTTP 500" in status and HOSTILE_ERROR in status and "1 failure in a row" in status

    states = {
        (li.css_first(".notifier").text(), li.css_first(".badge").text())
        for li in page.css("#alerts-table li.delivery")
    }
    assert states == {("good", "sent"), ("bad", "failed")}
    assert len(page.css("#alerts-table tbody tr")) == 2
    assert "HTTP 400" in page.css_first("#alerts-table li.failed-delivery").text()


def test_page_sorts_feeds_by_column(make_app: AppFactory) -> None:
    async def go() -> dict[str, str]:
        async with serving(make_app()) as site:
            await site.poll()
            paths = ["/", "/?sort=name&dir=asc", "/?sort=name&dir=desc", "/?sort=bogus&dir=x"]
            return {p: (await site.get(p)).text for p in paths}

    pages = {path: page_of(html) for path, html in run(go()).items()}
    wire = '<script>alert("title")</script> Wire'
    broken, private = "Broken feed", "Private feed"
    assert feed_names(pages["/"]) == [broken, private, wire]  # failing feeds first by default
    assert feed_names(pages["/?sort=name&dir=asc"]) == [wire, broken, private]
    assert feed_names(pages["/?sort=name&dir=desc"]) == [private, broken, wire]
    assert feed_names(pages["/?sort=bogus&dir=x"]) == feed_names(pages["/"])
    header = pages["/?sort=name&dir=asc"].css_first('th[data-key="name"]')
    assert header.attributes["aria-sort"] == "ascending"
    assert header.css_first("a").attributes["href"] == "?sort=name&dir=desc#feeds"


def test_page_shows_rule_hits_and_follows_a_config_reload(
    make_app: AppFactory, tmp_path: Path
) -> None:
    async def go() -> tuple[str, str]:
        async with serving(make_app()) as site:
            await site.poll()
            first = (await site.get("/")).text
            config = tmp_path / "config.yaml"
            config.write_text(
                config.read_text().replace("name: quiet", "name: renamed"), encoding="utf-8"
            )
            site.app.loaded = load_config(config, env={})  # what SIGHUP does
            return first, (await site.get("/")).text

    first, after = run(go())
    rules = {
        tr.css_first("td").text(strip=True): [n.text(strip=True) for n in tr.css("td .note")]
        for tr in page_of(first).css("#rules-table tbody tr")
    }
    assert rules["emergency"] == ["1 alert in the last 24 hours", "1 alert in the last 7 days"]
    assert rules["quiet"] == ["0 alerts in the last 24 hours", "0 alerts in the last 7 days"]
    assert "renamed" in after and ">quiet<" not in after


def test_web_server_binds_port_zero_and_logs_the_address(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> int:
        async with serving(make_app()) as site:
            return site.web.port

    with caplog.at_level(logging.INFO, logger="monitor.web.server"):
        port = run(go())
    assert port > 0
    assert f"web: serving on http://127.0.0.1:{port}/" in caplog.messages
    with pytest.raises(httpx.ConnectError):  # stopped: nothing listens there any more
        httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False)


# --- storage queries -----------------------------------------------------------------------


def test_rule_hours_and_outbox_depth_from_the_database(
    make_app: AppFactory, db_url: str, server: FeedServer, clock: FakeClock
) -> None:
    """One grouped query per rule and UTC hour, on SQLite and PostgreSQL alike."""
    start = clock.now()
    app = make_app(db_url)

    async def go() -> None:
        async with serving(app) as site:
            await site.poll()  # 08:00: emergency and blackout
            clock.advance(hours=3, minutes=30)
            server.route("/good.xml", body=rss([Item("Martial law", guid="c", summary=
                "The state of emergency is extended.", published=clock.now())]))  # fmt: skip
            await site.poll()  # 11:30: emergency

    run(go())
    hours = StatusReader(app.engine).rule_hours(start - timedelta(days=1))
    assert sorted(hours, key=lambda h: (h.hour, h.rule)) == [
        RuleHour("blackout", start, 1),
        RuleHour("emergency", start, 1),
        RuleHour("emergency", start + timedelta(hours=3), 1),
    ]
    assert StatusReader(app.engine).rule_hours(start + timedelta(hours=1)) == [
        RuleHour("emergency", start + timedelta(hours=3), 1)
    ]
    depth = StatusReader(app.engine).outbox_depth()
    assert depth == OutboxDepth(pending=6, oldest=start)


# --- pure page logic -----------------------------------------------------------------------

NOW = datetime(2026, 11, 24, 8, 40, tzinfo=UTC)


def test_charts_count_per_hour_and_per_day() -> None:
    hour = NOW.replace(minute=0)
    hours = [
        RuleHour("emergency", hour, 3),
        RuleHour("emergency", hour - timedelta(hours=23), 1),
        RuleHour("emergency", hour - timedelta(hours=24), 5),  # yesterday, before the 24 hours
        RuleHour("emergency", hour - timedelta(days=6, hours=8), 2),  # first of the 7 days
        RuleHour("old-rule", hour - timedelta(hours=2), 4),
    ]
    views = rule_views(hours, ["emergency", "quiet"], NOW)
    assert [(v.name, v.configured) for v in views] == [
        ("emergency", True),
        ("quiet", True),
        ("old-rule", False),
    ]
    emergency = views[0]
    assert emergency.hourly.total == 4 and emergency.daily.total == 11
    assert [b.label.split(": ")[1] for b in emergency.hourly.bars][::23] == ["1 alert", "3 alerts"]
    daily = [int(b.label.split(": ")[1].split()[0]) for b in emergency.daily.bars]
    assert daily == [2, 0, 0, 0, 0, 6, 3]  # 18 Nov ... 23 Nov (yesterday), 24 Nov (today)
    tallest = max(emergency.hourly.bars, key=lambda b: b.height)
    assert tallest.label.endswith("3 alerts") and tallest.y == 2  # the top margin
    assert all(b.y + b.height == emergency.hourly.height for b in emergency.hourly.bars)
    assert views[1].hourly.total == 0 and all(b.height == 1 for b in views[1].hourly.bars)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pw@host.test/feed", "https://host.test/feed"),
        ("HTTP://u@host.test:8080/x?a=b@c", "HTTP://host.test:8080/x?a=b@c"),
        ("https://u:p@ss@host.test/", "https://host.test/"),
        (
            "GET http://a:b@h.test/ failed; see https://c:d@i.test",
            "GET http://h.test/ failed; see https://i.test",
        ),  # fmt: skip
        ("https://host.test/path@v2", "https://host.test/path@v2"),
        ("mail me@example.test", "mail me@example.test"),
    ],
)
def test_strip_userinfo(text: str, expected: str) -> None:
    assert strip_userinfo(text) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.test/a", "https://example.test/a"),
        ("http://u:p@example.test/a", "http://example.test/a"),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("data:text/html,<b>x</b>", None),
        ("//example.test/a", None),
        ("http://[::1", None),
        (None, None),
    ],
)
def test_safe_href(url: str | None, expected: str | None) -> None:
    assert safe_href(url) == expected


def test_redact_replaces_secrets_longest_first() -> None:
    secrets = ["https://hooks.test/T1/abc", "https://hooks.test/T1/abcdef"]
    text = "POST https://hooks.test/T1/abcdef failed"
    assert redact(text, secrets) == "POST *** failed"


API_KEY = "ak-91c0ffee"


def test_page_hides_feed_tokens_passwords_and_keys_in_urls_and_errors() -> None:
    url = f"https://reader:{PASSWORD}@private.test/rss?token={TOKEN}&api_key={API_KEY}&page=2"
    error = f"HTTP 401 from {url}; the token {TOKEN} expired, api key {API_KEY}"
    feed = FeedStatus(1, url, url, None, None, True, NOW, "error", 401, error, 3, 10, NOW)
    alert = make_alert(
        1, rule="feed-health", title=f"feed is failing: {error}", url=url, feed_name="Private",
        feed_url=url, summary=error,
    )  # fmt: skip
    hook = f"https://hooks.test/in?token={TOKEN}"
    failed = DeliveryState("hook", "failed", 2, 400, f"POST {hook}: refused", NOW, None)
    data = PageData(
        feeds=[feed],
        alerts=[AlertWithDeliveries(alert, (failed,))],
        hours=[],
        rules=[],
        outbox=OutboxDepth(0, None),
        now=NOW,
    )

    html = render(build_view(data))

    assert not [word for word in (PASSWORD, TOKEN, API_KEY, "reader:") if word in html]
    page = page_of(html)
    shown = "https://private.test/rss?api_key=***&page=2&token=***"
    assert page.css_first("#feeds-table td.url").text(strip=True) == shown
    assert page.css_first("#feeds-table td.name").text(strip=True) == shown  # no name: its URL
    error_shown = page.css_first("#feeds-table td.status .err").text(strip=True)
    assert error_shown == f"HTTP 401 from {shown}; the token *** expired, api key ***"
    assert page.css_first("#alerts-table a").attributes["href"] == shown
    assert "POST https://hooks.test/in?token=***: refused" in html


@pytest.mark.parametrize(
    ("sort", "direction", "expected"),
    [
        (None, None, ("status", "desc")),
        ("name", None, ("name", "asc")),
        ("entries", "desc", ("entries", "desc")),
        ("name", "sideways", ("name", "asc")),
        ("__class__", "asc", ("status", "desc")),
    ],
)
def test_sort_order(sort: str | None, direction: str | None, expected: tuple[str, str]) -> None:
    assert sort_order(sort, direction) == expected


def test_removed_feeds_come_last_and_have_no_next_poll() -> None:
    def status(name: str, active: bool, last: str | None) -> FeedStatus:
        return FeedStatus(1, f"http://{name}.test/", f"http://{name}.test/", name, None, active,
                          None, last, None, None, 0, 0, NOW)  # fmt: skip

    data = PageData(
        feeds=[status("a-gone", False, "error"), status("b", True, "ok"), status("c", True, None)],
        alerts=[],
        hours=[],
        rules=[],
        outbox=OutboxDepth(0, None),
        now=NOW,
    )
    view = build_view(data)
    assert [f.name for f in view.feeds] == ["c", "b", "a-gone"]
    assert view.feeds[-1].next_poll is None and view.failing == 0


# --- a real daemon process -----------------------------------------------------------------


def health(base: str) -> tuple[int, str]:
    response = httpx.get(base + "healthz", trust_env=False, timeout=10)
    return response.status_code, response.text


@pytest.mark.slow
def test_daemon_healthz_notices_an_unreadable_database(tmp_path: Path, server: FeedServer) -> None:
    require(SETPRIV, "it starts the daemon without root's right to read any file")
    server.route("/a.xml", body=rss([Item("Calm day", guid="a")]))
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: sqlite:///monitor.db\ndefaults: {interval: 1h, timeout: 2s}\n"
        f"feeds:\n  - url: {server.url('/a.xml')}\n"
        "web: {listen: '127.0.0.1:0'}\n"
    )
    db = tmp_path / "monitor.db"
    daemon = ServingDaemon(config, prefix=NO_DAC_OVERRIDE)
    try:
        base = daemon.url()
        wait_for(lambda: health(base)[0] == 200, 30, "/healthz 200 once running")
        db.chmod(0)
        try:
            status, reason = health(base)
        finally:
            db.chmod(0o644)
        assert status == 503, reason
        assert "permission denied" in reason and reason.count("\n") == 1
        assert health(base) == (200, "ok\n")
        assert daemon.proc.poll() is None  # the daemon itself carried on
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log


def test_health_probe_on_each_database(db_url: str) -> None:
    engine = create(db_url)
    upgrade(engine)
    probe = HealthProbe(engine)
    try:
        assert probe.problem() is None
    finally:
        probe.close()
        engine.dispose()


def test_health_probe_reason_hides_the_password() -> None:
    engine = create("postgresql+psycopg://monitor:s3cr3t-pw@127.0.0.1:1/monitor")
    try:
        reason = HealthProbe(engine).problem()
    finally:
        engine.dispose()
    assert reason is not None and reason.startswith("database postgresql+psycopg://monitor:***@")
    assert "s3cr3t-pw" not in reason and "\n" not in reason


class HeldProbe:
    """A database probe that answers only once released; counts how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()

    def problem(self) -> str | None:
        self.calls += 1
        self.started.set()
        self.release.wait(60)  # only a broken test leaves it waiting that long
        return None

    def close(self) -> None:
        pass


def hold_probe(web: WebServer) -> HeldProbe:
    web.probe.close()
    held = HeldProbe()
    web.probe = held  # type: ignore[assignment]
    return held


async def probe_threads_finished() -> None:
    """Every probe thread has run to its end and handed its answer to the loop."""
    for thread in threading.enumerate():
        if thread.name == "healthz-probe":
            await asyncio.to_thread(thread.join, 60)
    await asyncio.sleep(0)  # the answer, scheduled on the loop, is delivered


def test_concurrent_health_checks_share_one_probe(make_app: AppFactory) -> None:
    async def go() -> tuple[list[str | None], int, int]:
        async with serving(make_app()) as site:
            probe = hold_probe(site.web)
            first = asyncio.create_task(site.web.health_problem())
            await asyncio.to_thread(probe.started.wait, 60)
            second = asyncio.create_task(site.web.health_problem())
            await asyncio.sleep(0)  # the second reaches its wait for the probe
            assert not first.done() and not second.done()
            calls_while_running = probe.calls
            probe.release.set()
            answers = list(await asyncio.gather(first, second))
            await probe_threads_finished()
            assert await site.web.health_problem() is None  # a new check once it is done
            return answers, calls_while_running, probe.calls

    answers, while_running, after = run(go())
    assert answers == [None, None]
    assert (while_running, after) == (1, 2)


def test_healthz_starts_no_second_probe_while_one_hangs(make_app: AppFactory) -> None:
    async def go() -> tuple[list[tuple[int, str]], int, tuple[int, str]]:
        async with serving(make_app()) as site:
            probe = hold_probe(site.web)
            site.web.health_timeout = 0.05
            seen = []
            for _ in range(3):
                response = await site.get("/healthz")
                seen.append((response.status_code, response.text))
            calls = probe.calls
            probe.release.set()
            await probe_threads_finished()
            after = await site.get("/healthz")
            return seen, calls, (after.status_code, after.text)

    seen, calls, after = run(go())
    assert calls == 1
    assert seen[0] == (503, "the database did not answer within 0.05s\n")
    assert (
        seen[1]
        == seen[2]
        == (
            503,
            "database check still running: the database has not answered for over 0.05s\n",
        )
    )
    assert after == (200, "ok\n")


def test_health_probe_gives_up_on_a_postgresql_server_that_never_answers() -> None:
    """A server that accepts connections and says nothing: a probe without a connect timeout
    would wait for it forever."""
    answers: list[str | None] = []
    with socket.create_server(("127.0.0.1", 0)) as silent:
        engine = create(f"postgresql+psycopg://monitor:pw@127.0.0.1:{silent.getsockname()[1]}/m")
        probe = HealthProbe(engine)
        asking = threading.Thread(target=lambda: answers.append(probe.problem()), daemon=True)
        asking.start()
        asking.join(60)
        probe.close()
        engine.dispose()
    assert answers and answers[0] is not None, "the probe still waits for the silent server"
    assert answers[0].endswith("connection timeout expired")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0s"), (0.4, "0s"), (45, "45s"), (90, "1m30s"), (3600, "1h"), (3607, "1h"),
     (3720, "1h2m"), (90061, "1d1h"), (86400 * 3 + 59, "3d")],
)  # fmt: skip
def test_coarse_durations(seconds: float, expected: str) -> None:
    assert coarse(seconds) == expected


def test_moments_are_relative_with_the_exact_time_beside() -> None:
    assert moment(NOW - timedelta(minutes=5), NOW) == Moment("5m ago", "2026-11-24 08:35:00Z")
    assert moment(NOW + timedelta(hours=2), NOW).text == "in 2h"
    assert moment(NOW, NOW).text == "now" and moment(None, NOW) == Moment("never", "")
