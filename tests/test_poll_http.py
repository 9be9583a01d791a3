"""Polling end to end: a real HTTP server on 127.0.0.1, a real SQLite file, a fake clock."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import event

from monitor.app import App, claim_lease, feed_settings
from monitor.batch import ChangedBatch, UnchangedBatch
from monitor.config import load_config
from monitor.fetch import USER_AGENT, Fetcher, make_client
from monitor.models import FeedForPoll, FeedStatus
from monitor.poller import CycleReport, Poller
from monitor.report import describe_config, feeds_table
from monitor.storage.repo import ChangedPoll, PollStored, UnchangedPoll
from tests.conftest import AppOpener, FakeClock
from tests.support.daemon import wait_for
from tests.support.feeds import Item, atom, news_items, rss
from tests.support.polling import poll_due
from tests.support.server import FeedServer

ETAG = '"v1"'
LAST_MODIFIED = "Mon, 24 Nov 2026 07:00:00 GMT"

AppFactory = Callable[..., App]


@pytest.fixture
def make_app(
    tmp_path: Path, server: FeedServer, clock: FakeClock, open_app: AppOpener
) -> AppFactory:

    def factory(paths: list[str], extra: str = "", timeout: str = "2s") -> App:
        feeds = "".join(f"  - url: {server.url(p)}\n    name: {p.strip('/')}\n" for p in paths)
        config = tmp_path / "config.yaml"
        config.write_text(
            f"database: sqlite:///monitor.db\ndefaults:\n  interval: 5m\n  timeout: {timeout}\n"
            f"feeds:\n{feeds}{extra}"
        )
        return open_app(config)

    return factory


def status(app: App, name: str) -> FeedStatus:
    return next(f for f in app.storage.feed_statuses() if f.name == name)


def test_first_poll_stores_entries(make_app: AppFactory, server: FeedServer) -> None:
    server.route("/world.xml", body=rss(news_items(5)), etag=ETAG, last_modified=LAST_MODIFIED)
    server.route(
        "/atom.xml", body=atom(news_items(3, prefix="atom")), content_type="application/atom+xml"
    )
    app = make_app(["/world.xml", "/atom.xml"])

    report = poll_due(app)

    assert report.count("ok") == 2 and report.new_entries == 8
    world = status(app, "world.xml")
    assert (world.last_status, world.last_http_status, world.entries) == ("ok", 200, 5)
    assert world.title == "Test World News"
    assert world.next_poll == app.clock.now() + timedelta(minutes=5)
    assert server.seen("/world.xml")[0].headers["user-agent"] == USER_AGENT


def test_second_poll_sends_validators_and_gets_304(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/world.xml", body=rss(news_items(5)), etag=ETAG, last_modified=LAST_MODIFIED)
    app = make_app(["/world.xml"])
    poll_due(app)
    clock.advance(minutes=6)

    report = poll_due(app)

    first, second = server.seen("/world.xml")
    assert "if-none-match" not in first.headers
    assert second.headers["if-none-match"] == ETAG
    assert second.headers["if-modified-since"] == LAST_MODIFIED
    assert report.count("unchanged") == 1 and report.new_entries == 0
    world = status(app, "world.xml")
    assert (world.last_status, world.last_http_status, world.entries) == ("unchanged", 304, 5)


def test_not_due_feed_is_not_polled(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/world.xml", body=rss(news_items(2)))
    app = make_app(["/world.xml"])
    poll_due(app)
    clock.advance(minutes=4)
    assert poll_due(app).outcomes == []
    assert len(server.seen("/world.xml")) == 1


def test_failures_are_recorded_per_feed_while_others_are_stored(
    make_app: AppFactory, server: FeedServer
) -> None:
    server.route("/good.xml", body=rss(news_items(4)))
    server.route("/error.xml", status=500, body=b"boom", content_type="text/plain")
    server.route("/slow.xml", body=rss(news_items(1)), delay=3.0)
    server.route(
        "/garbage.xml", body=bytes(range(256)) * 50, content_type="application/octet-stream"
    )
    server.route(
        "/html.xml", body=b"<html><body><h1>Not a feed</h1></body></html>", content_type="text/html"
    )
    app = make_app(
        ["/good.xml", "/error.xml", "/slow.xml", "/garbage.xml", "/html.xml"], timeout="1s"
    )

    report = poll_due(app)

    assert report.count("ok") == 1 and report.count("error") == 4
    assert status(app, "good.xml").entries == 4
    expected = {
        "error.xml": "HTTP 500 Internal Server Error",
        "slow.xml": "timed out after 1s",
        "garbage.xml": "not a feed",
        "html.xml": "not a feed",
    }
    for name, error in expected.items():
        feed = status(app, name)
        assert feed.last_status == "error", name
        assert feed.last_error is not None and feed.last_error.startswith(error), (
            name,
            feed.last_error,
        )
        assert feed.consecutive_failures == 1
        assert feed.entries == 0
    assert status(app, "error.xml").last_http_status == 500


def test_failure_streak_backs_off(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/error.xml", status=502, body=b"bad gateway")
    app = make_app(["/error.xml"])
    delays = []
    for _ in range(3):
        start = clock.now()
        poll_due(app)
        feed = status(app, "error.xml")
        delays.append((feed.next_poll - start).total_seconds())
        clock.current = feed.next_poll
    assert delays == [300, 600, 1200]
    assert status(app, "error.xml").consecutive_failures == 3


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_pushes_next_poll(
    make_app: AppFactory, server: FeedServer, clock: FakeClock, code: int
) -> None:
    server.route("/busy.xml", status=code, body=b"slow down", headers={"Retry-After": "7200"})
    app = make_app(["/busy.xml"])
    poll_due(app)
    feed = status(app, "busy.xml")
    assert feed.last_http_status == code
    assert feed.next_poll == clock.now() + timedelta(seconds=7200)


def test_recovery_resets_the_streak(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    route = server.route("/flaky.xml", status=500, body=b"x")
    app = make_app(["/flaky.xml"])
    poll_due(app)
    route.status, route.body = 200, rss(news_items(2))
    clock.current = status(app, "flaky.xml").next_poll
    poll_due(app)
    feed = status(app, "flaky.xml")
    assert (feed.last_status, feed.consecutive_failures, feed.last_error, feed.entries) == (
        "ok",
        0,
        None,
        2,
    )


def test_a_304_after_a_failure_clears_the_error_and_keeps_the_validators(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    route = server.route("/flaky.xml", body=rss(news_items(2)), etag=ETAG)
    app = make_app(["/flaky.xml"])
    poll_due(app)
    route.status = 503
    clock.advance(minutes=6)
    poll_due(app)
    assert status(app, "flaky.xml").last_error == "HTTP 503 Service Unavailable"
    route.status = 200
    clock.current = status(app, "flaky.xml").next_poll

    poll_due(app)

    feed = status(app, "flaky.xml")
    assert (feed.last_status, feed.last_http_status, feed.last_error) == ("unchanged", 304, None)
    assert server.seen("/flaky.xml")[-1].headers["if-none-match"] == ETAG
    clock.current = feed.next_poll
    poll_due(app)
    assert server.seen("/flaky.xml")[-1].headers["if-none-match"] == ETAG  # kept after a 304


def test_unchanged_polls_are_written_together(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    paths = [f"/f{n}.xml" for n in range(30)]
    for n, path in enumerate(paths):
        server.route(path, body=rss(news_items(2, prefix=f"f{n}")), etag=f'"{n}"')
    app = make_app(paths)
    poll_due(app)
    commits: list[int] = []
    event.listen(app.engine, "commit", lambda _conn: commits.append(1))
    clock.advance(minutes=6)

    report = poll_due(app)
    during = len(commits)

    assert report.count("unchanged") == 30
    assert all(status(app, p.strip("/")).last_http_status == 304 for p in paths)
    assert 2 <= during < 10  # the claim, then a few batches: not one per feed


def two_feeds_due_unchanged(make_app: AppFactory, server: FeedServer, clock: FakeClock) -> App:
    """/a.xml and /b.xml polled once, due again, and answering 304 from now on."""
    paths = ["/a.xml", "/b.xml"]
    for path in paths:
        server.route(path, body=rss(news_items(1, prefix=path)), etag='"same"')
    app = make_app(paths)
    poll_due(app)
    clock.advance(minutes=6)
    return app


def test_an_unchanged_poll_frees_its_fetch_slot_before_its_batch_is_written(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    """One fetch at a time, and a batch written only once it holds two polls: the second
    feed can only be fetched if the first poll let its slot go while its write waited."""
    app = two_feeds_due_unchanged(make_app, server, clock)
    written: list[int] = []

    async def go() -> CycleReport:
        async with app.http_client() as client:
            fetcher = Fetcher(client, clock=app.clock)
            poller = Poller(app.storage, fetcher, feed_settings(app.config), app.clock, None, 1)

            def write(polls: Sequence[UnchangedPoll]) -> None:
                written.append(len(polls))
                app.storage.record_unchanged(polls)

            poller._unchanged = UnchangedBatch(write, poller.store_lock, max_items=2, delay=600)
            due = app.storage.claim_due(app.clock.now(), claim_lease(app.config))
            return await asyncio.wait_for(poller.poll_many(due), 30)

    report = asyncio.run(go())

    assert report.count("unchanged") == 2
    assert written == [2]


def test_a_poll_with_new_entries_frees_its_fetch_slot_while_it_waits_for_the_writer(
    make_app: AppFactory, server: FeedServer
) -> None:
    """One fetch at a time, and the writer's first transaction waits until both feeds were
    fetched: the second can only be fetched if the first poll let its slot go."""
    paths = ["/a.xml", "/b.xml"]
    for path in paths:
        server.route(path, body=rss(news_items(2, prefix=path)))
    app = make_app(paths)
    written: list[int] = []

    async def go() -> CycleReport:
        async with app.http_client() as client:
            fetcher = Fetcher(client, clock=app.clock)
            poller = Poller(app.storage, fetcher, feed_settings(app.config), app.clock, None, 1)

            def write(polls: Sequence[ChangedPoll]) -> list[PollStored | Exception]:
                if not written:  # both fetched while this poll waits (the slot is free)
                    wait_for(lambda: all(server.seen(path) for path in paths), timeout=10)
                written.append(len(polls))
                return app.storage.record_changed(polls)

            poller._changed = ChangedBatch(write, poller.store_lock)
            due = app.storage.claim_due(app.clock.now(), claim_lease(app.config))
            return await asyncio.wait_for(poller.poll_many(due), 30)

    report = asyncio.run(go())

    assert report.count("ok") == 2
    assert sum(written) == 2
    assert all(status(app, p.strip("/")).last_http_status == 200 for p in paths)


def test_polls_waiting_for_the_writer_are_bounded_and_the_next_waits_in_its_slot() -> None:
    """At most ``max_queued`` polls hold their parsed feed while the writer is busy."""
    release = threading.Event()

    def write(polls: Sequence[str]) -> list[str | Exception]:
        assert release.wait(10)
        return [p.upper() for p in polls]

    async def go() -> list[str]:
        batch: ChangedBatch[str, str] = ChangedBatch(write, asyncio.Lock(), max_queued=2)
        first, second = await batch.add("a"), await batch.add("b")
        third = asyncio.create_task(batch.add("c"))
        await asyncio.sleep(0.05)
        assert not third.done()  # no room until a poll is written
        release.set()
        return [await first, await second, await (await third)]

    assert asyncio.run(go()) == ["A", "B", "C"]


def test_a_bug_writing_unchanged_polls_is_recorded_on_each_feed_and_the_cycle_goes_on(
    make_app: AppFactory, server: FeedServer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = two_feeds_due_unchanged(make_app, server, clock)
    paths = ["/a.xml", "/b.xml"]

    def broken(polls: Sequence[UnchangedPoll]) -> None:
        raise RuntimeError("a bug in the batch write")

    monkeypatch.setattr(app.storage, "record_unchanged", broken)
    report = poll_due(app)

    assert report.count("error") == 2
    assert all(
        (status(app, p.strip("/")).last_error or "").startswith("internal error: RuntimeError")
        for p in paths
    )


def test_a_refused_connection_is_not_reported_as_a_timeout(
    make_app: AppFactory, server: FeedServer
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server.route("/moved.xml", status=302, headers={"Location": f"http://127.0.0.1:{port}/"})
    app = make_app(["/moved.xml"])

    poll_due(app)

    error = status(app, "moved.xml").last_error or ""
    assert error.startswith("connection failed: ") and "timed out" not in error


@pytest.mark.parametrize("guarded", [False, True])
def test_credentials_in_a_feed_url_are_sent_as_basic_auth(
    tmp_path: Path, server: FeedServer, clock: FakeClock, guarded: bool
) -> None:
    server.route("/private.xml", body=rss(news_items(2)))
    url = server.url("/private.xml").replace("http://", "http://bob:s%3Acret@")
    config = tmp_path / "config.yaml"
    config.write_text(f"feeds:\n  - url: {url}\n    name: private\n")
    app = App.open(load_config(config, env={}), clock=clock)
    if guarded:  # the guarded pool is httpcore's, the other aiohttp's: both must do it
        app.address_policy = lambda _ip: None
        app.loaded = replace(
            app.loaded, config=app.config.model_copy(update={"block_private_addresses": True})
        )
    app.sync_feeds()
    try:
        report = poll_due(app)
        table = feeds_table(app.storage.feed_statuses(), clock.now())
    finally:
        app.close()

    assert "bob:***@127.0.0.1" in table and "cret" not in table
    assert "cret" not in describe_config(load_config(config, env={}))

    assert report.count("ok") == 1, report.outcomes
    (seen,) = server.seen("/private.xml")
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"bob:s:cret").decode()


def test_feeds_are_fetched_through_a_proxy_the_environment_names(
    tmp_path: Path, server: FeedServer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiohttp is told to read proxies only when the environment names one (fetch.py);
    when it does, polls go through it. The test server answers as the proxy would."""
    url = "http://feeds.example.invalid/world.xml"  # reachable only through the proxy
    server.route(url, body=rss(news_items(2)))
    monkeypatch.setenv("HTTP_PROXY", server.base)
    config = tmp_path / "config.yaml"
    config.write_text(f"feeds:\n  - url: {url}\n    name: world\n")
    app = App.open(load_config(config, env={}), clock=clock)
    app.sync_feeds()
    try:
        report = poll_due(app)
    finally:
        app.close()

    assert report.count("ok") == 1, report.outcomes
    assert len(server.seen(url)) == 1


def test_permanent_redirect_updates_the_stored_url(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/old.xml", status=301, headers={"Location": "/new.xml"})
    server.route("/new.xml", body=rss(news_items(3)))
    app = make_app(["/old.xml"])

    poll_due(app)
    assert status(app, "old.xml").url == server.url("/new.xml")
    assert status(app, "old.xml").entries == 3

    clock.advance(minutes=6)
    poll_due(app)
    assert len(server.seen("/old.xml")) == 1
    assert len(server.seen("/new.xml")) == 2


def test_temporary_redirect_keeps_the_url(make_app: AppFactory, server: FeedServer) -> None:
    server.route("/tmp.xml", status=302, headers={"Location": "/target.xml"})
    server.route("/target.xml", body=rss(news_items(1)))
    app = make_app(["/tmp.xml"])
    poll_due(app)
    feed = status(app, "tmp.xml")
    assert (feed.url, feed.entries) == (server.url("/tmp.xml"), 1)


def test_redirect_loop_is_an_error(make_app: AppFactory, server: FeedServer) -> None:
    server.route("/a.xml", status=302, headers={"Location": "/b.xml"})
    server.route("/b.xml", status=302, headers={"Location": "/a.xml"})
    app = make_app(["/a.xml"])
    poll_due(app)
    assert status(app, "a.xml").last_error == "too many redirects (more than 5)"


def test_restart_does_not_duplicate_entries(
    make_app: AppFactory, server: FeedServer, clock: FakeClock, tmp_path: Path
) -> None:
    route = server.route("/world.xml", body=rss(news_items(5)), etag=ETAG)
    app = make_app(["/world.xml"])
    poll_due(app)
    app.close()

    route.etag = '"v2"'  # the server forgets our validator: a full body again
    restarted = make_app(["/world.xml"])
    clock.advance(minutes=6)
    report = poll_due(restarted)

    assert report.new_entries == 0
    assert restarted.storage.entry_count() == 5


def test_same_body_without_validators_is_unchanged(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/plain.xml", body=rss(news_items(3)))
    app = make_app(["/plain.xml"])
    poll_due(app)
    clock.advance(minutes=6)
    report = poll_due(app)
    assert report.count("unchanged") == 1
    assert status(app, "plain.xml").last_status == "unchanged"


def test_edited_and_new_entries_are_reported(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    items = news_items(3)
    route = server.route("/world.xml", body=rss(items))
    app = make_app(["/world.xml"])
    poll_due(app)
    edited = Item(
        items[0].title, link=items[0].link, guid=items[0].guid, summary="Edited: state of emergency"
    )
    route.body = rss([edited, *items[1:], *news_items(1, prefix="fresh")])
    clock.advance(minutes=6)
    report = poll_due(app)
    assert report.new_entries == 2
    assert app.storage.entry_count() == 4


def test_body_size_cap(make_app: AppFactory, server: FeedServer) -> None:
    from monitor.fetch import Fetcher
    from monitor.poller import Poller

    server.route("/huge.xml", body=rss(news_items(200)))
    app = make_app(["/huge.xml"])

    async def go() -> CycleReport:
        async with make_client() as client:
            fetcher = Fetcher(client, clock=app.clock, max_bytes=10_000)
            poller = Poller(app.storage, fetcher, app.poller(client).settings, app.clock)
            return await poller.poll_many(app.storage.claim_due(app.clock.now(), 60))

    asyncio.run(go())
    assert (status(app, "huge.xml").last_error or "").startswith("body too large")


def test_feed_removed_from_config_is_not_polled(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/a.xml", body=rss(news_items(1)))
    server.route("/b.xml", body=rss(news_items(1, prefix="b")))
    app = make_app(["/a.xml", "/b.xml"])
    poll_due(app)
    smaller = make_app(["/a.xml"])
    clock.advance(minutes=6)
    assert len(poll_due(smaller).outcomes) == 1
    assert status(smaller, "b.xml").active is False


def test_feeds_and_pages_of_a_host_share_its_slots_which_go_when_idle(
    server: FeedServer,
) -> None:
    """Three feeds and three pages of one host hanging together: at most PER_HOST requests
    at once, pages PER_HOST - 1; another host is not held up; when every fetch is over, no
    host's semaphore is kept (article links reach thousands of hosts)."""
    from monitor.errors import FetchError
    from monitor.fetch import PER_HOST, Fetcher

    release, lock = threading.Event(), threading.Lock()
    at_once = {"feeds": 0, "pages": 0}
    peak = {"all": 0, "pages": 0}

    def hanging(kind: str) -> Callable[[BaseHTTPRequestHandler], None]:
        def handle(handler: BaseHTTPRequestHandler) -> None:
            with lock:
                at_once[kind] += 1
                peak["all"] = max(peak["all"], sum(at_once.values()))
                peak["pages"] = max(peak["pages"], at_once["pages"])
            release.wait(timeout=30)
            with lock:
                at_once[kind] -= 1
            handler.send_response(200)
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")

        return handle

    for n in range(3):
        server.route(f"/p{n}.html", handler=hanging("pages"))
        server.route(f"/f{n}.xml", handler=hanging("feeds"))
    server.route("/fast.html", body=b"<p>fast</p>", content_type="text/html")
    server.route("/gone.html", body=b"gone", status=404)
    elsewhere = server.base.replace("127.0.0.1", "localhost")

    def feed(n: int) -> FeedForPoll:
        url = server.url(f"/f{n}.xml")
        return FeedForPoll(n, url, url, None, None, None, None, 0, False)

    async def go() -> tuple[set[str], set[str], set[str]]:
        async with make_client() as client:
            fetcher = Fetcher(client)
            pages = [fetcher.fetch_page(server.url(f"/p{n}.html"), 30) for n in range(3)]
            feeds = [fetcher.fetch(feed(n), 30) for n in range(3)]
            tasks = [asyncio.ensure_future(f) for f in [*pages, *feeds]]
            await asyncio.to_thread(wait_for, lambda: sum(at_once.values()) >= PER_HOST)
            busy = set(fetcher._hosts)
            assert (await fetcher.fetch_page(elsewhere + "/fast.html", 10)).body == b"<p>fast</p>"
            with pytest.raises(FetchError):
                await fetcher.fetch_page(elsewhere + "/gone.html", 10)
            during = set(fetcher._hosts)
            release.set()
            await asyncio.gather(*tasks)
            return busy, during, set(fetcher._hosts) | set(fetcher._page_hosts)

    try:
        busy, during, after = asyncio.run(go())
    finally:
        release.set()

    assert peak == {"all": PER_HOST, "pages": PER_HOST - 1}
    assert busy == during == {"127.0.0.1"}  # localhost's went as soon as its fetches were over
    assert after == set()
