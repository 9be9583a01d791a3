"""Full articles (``fetch_articles``): local feeds linking to local pages, a real SQLite file.

The feed's own text is matched at once; the linked page is fetched by the article
worker apart from polling, and the entry matched again with its text.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from html import escape
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.orm import Session

from monitor.app import App, claim_lease, feed_settings
from monitor.articles import MAX_ATTEMPTS, ArticleWorker, retry_at
from monitor.cli import main
from monitor.config import load_config
from monitor.daemon import run_once
from monitor.errors import FetchError
from monitor.metrics import Metrics
from monitor.poller import CycleReport, Poller
from monitor.storage.articles import ArticleState, ArticleStore
from monitor.storage.tables import AlertRow, ArticleRow, DeliveryRow, EntryRow
from tests.conftest import AppOpener, FakeClock
from tests.support.daemon import Daemon, wait_for
from tests.support.feeds import Item, rss, seed_paragraphs
from tests.support.receiver import Receiver
from tests.support.server import FeedServer

PHRASE = "internet blackout"
RULES = """\
rules:
  - name: blackout
    query: '"internet blackout"'
  - name: emergency
    any: ["state of emergency"]
  - name: scoped
    query: 'article:curfew'
notifiers:
  stdout: {type: console}
"""


def article_page(title: str, paragraphs: list[str]) -> bytes:
    """A news page as sites serve them: the story inside navigation, banners and asides."""
    body = "".join(f"<p>{escape(p)}</p>\n" for p in paragraphs)
    related = "".join(f'<li><a href="/news/{n}">Related story {n}</a></li>' for n in range(8))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} | World News</title>"
        "<script>window.__STATE__ = {'ads': true};</script></head><body>"
        "<header><nav><a href='/'>Home</a> <a href='/world'>World</a> "
        "<a href='/business'>Business</a> <a href='/sport'>Sport</a></nav></header>"
        "<div class='cookie-banner'>We use cookies to improve your experience. "
        "<button>Accept all</button></div>"
        f"<main><article><h1>{escape(title)}</h1>"
        "<div class='byline'>By Staff Reporter, 6 January 2022</div>"
        f"<div class='article-body'>\n{body}</div></article>"
        f"<aside><h2>More on this story</h2><ul>{related}</ul></aside></main>"
        "<footer><p>© 2022 World News. All rights reserved.</p>"
        "<a href='/privacy'>Privacy</a> <a href='/terms'>Terms</a></footer>"
        "</body></html>"
    ).encode()


def seed_page(extra: list[str] | None = None) -> bytes:
    """The seed report as a page: the phrase is only deep in its body."""
    paragraphs = seed_paragraphs()
    return article_page(paragraphs[0], paragraphs[1:] + (extra or []))


def seed_item(link: str, clock: FakeClock, guid: str = "kz-1") -> Item:
    """An entry whose summary is the report's first paragraph, without the phrase."""
    paragraphs = seed_paragraphs()
    item = Item(
        title=paragraphs[0],
        link=link,
        guid=guid,
        summary=paragraphs[1],
        published=clock.now() - timedelta(hours=1),
    )
    assert PHRASE not in item.summary.lower() and PHRASE not in item.title.lower()
    return item


AppFactory = Callable[..., App]


@pytest.fixture
def make_app(tmp_path: Path, clock: FakeClock, open_app: AppOpener) -> AppFactory:

    def factory(feeds: str, defaults: str = "timeout: 2s") -> App:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"database: sqlite:///monitor.db\ndefaults: {{{defaults}}}\nfeeds:\n{feeds}{RULES}"
        )
        return open_app(config)

    return factory


def feed(server: FeedServer, path: str, fetch: bool | None = True) -> str:
    line = f"  - url: {server.url(path)}\n    name: {path.strip('/')}\n"
    return line + (f"    fetch_articles: {str(fetch).lower()}\n" if fetch is not None else "")


def cycle(app: App, articles: bool = True, max_bytes: int | None = None) -> CycleReport:
    """Poll every feed once, then (``articles``) fetch every queued page that is due."""

    async def go() -> CycleReport:
        async with app.http_client() as client:
            poller = app.poller(client, rand=lambda: 0.5)
            if max_bytes is not None:
                poller.fetcher.max_bytes = max_bytes
            due = app.storage.claim_due(app.clock.now(), claim_lease(app.config), every=True)
            report = await poller.poll_many(due)
            if articles:
                await ArticleWorker(app, poller.fetcher, poller, rand=lambda: 0.5).drain(20)
            return report

    return asyncio.run(go())


def fetch_queued(app: App) -> None:
    """Fetch every queued page that is due, without polling."""

    async def go() -> None:
        async with app.http_client() as client:
            poller = app.poller(client, rand=lambda: 0.5)
            await ArticleWorker(app, poller.fetcher, poller, rand=lambda: 0.5).drain(20)

    asyncio.run(go())


@dataclass(frozen=True)
class Alerted:
    rule: str
    field: str
    snippet: str
    entry_id: int | None


def alerts(app: App) -> list[Alerted]:
    with Session(app.engine) as session:
        rows = session.execute(
            select(AlertRow.rule, AlertRow.field, AlertRow.snippet, AlertRow.entry_id).order_by(
                AlertRow.detected_at, AlertRow.rule
            )
        )
        return [Alerted(*row) for row in rows]


def articles(app: App) -> list[ArticleState]:
    return ArticleStore(app.engine).states()


def deliveries(app: App) -> int:
    with Session(app.engine) as session:
        return session.scalar(select(func.count()).select_from(DeliveryRow)) or 0


def test_phrase_only_in_the_article_alerts_once_with_a_snippet_from_it(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/kz.html", body=seed_page(), content_type="text/html; charset=utf-8")
    server.route("/wire.xml", body=rss([seed_item(server.url("/kz.html"), clock)]))
    app = make_app(feed(server, "/wire.xml"))

    cycle(app, articles=False)  # the poll alone: the feed's text lacks the phrase
    assert "blackout" not in [a.rule for a in alerts(app)]
    (queued,) = articles(app)
    assert (queued.state, queued.url) == ("pending", server.url("/kz.html"))

    fetch_queued(app)

    (blackout,) = [a for a in alerts(app) if a.rule == "blackout"]
    assert blackout.field == "article"
    assert "internet blackout" in blackout.snippet.lower()
    assert blackout.snippet not in seed_item("", clock).summary
    (done,) = articles(app)
    assert done.state == "ok" and done.attempts == 1 and done.error is None
    assert done.text is not None and "Ned Price" in done.text
    assert "Accept all" not in done.text and "Related story" not in done.text
    assert deliveries(app) == len(alerts(app))  # each alert went to the outbox (console)

    # Polled again, after a restart, with the feed edited: no second alert, no second fetch.
    count = len(alerts(app))
    app.close()
    clock.advance(minutes=10)
    restarted = make_app(feed(server, "/wire.xml"))
    edited = seed_item(server.url("/kz.html"), clock)
    server.route("/wire.xml", body=rss([replace(edited, title="Update: " + edited.title)]))
    cycle(restarted)
    assert len(alerts(restarted)) == count
    assert len(server.seen("/kz.html")) == 1
    assert [a.state for a in articles(restarted)] == ["ok"]


def test_a_rule_that_alerted_on_the_feed_does_not_alert_again_for_the_article(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/kz.html", body=seed_page(), content_type="text/html")
    item = seed_item(server.url("/kz.html"), clock)
    server.route("/wire.xml", body=rss([replace(item, summary="An internet blackout.")]))
    app = make_app(feed(server, "/wire.xml"))

    cycle(app)

    blackout = [a for a in alerts(app) if a.rule == "blackout"]
    assert [a.field for a in blackout] == ["summary"]  # decided at the poll, not re-raised
    assert [a.state for a in articles(app)] == ["ok"]


def test_the_article_scope_matches_only_the_article_text(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    calm = seed_paragraphs()[1:4]
    server.route("/a.html", body=article_page("Calm", calm), content_type="text/html")
    server.route(
        "/b.html",
        body=article_page("Curfew", [*calm, "A curfew was imposed overnight in Almaty."]),
        content_type="text/html",
    )
    items = [
        Item(title="Curfew in Almaty", link=server.url("/a.html"), guid="a", summary="A curfew."),
        Item(title="Unrest", link=server.url("/b.html"), guid="b", summary="Unrest goes on."),
    ]
    server.route("/wire.xml", body=rss(items))
    app = make_app(feed(server, "/wire.xml"))

    cycle(app)

    scoped = [a for a in alerts(app) if a.rule == "scoped"]
    assert len(scoped) == 1 and scoped[0].field == "article"
    with Session(app.engine) as session:
        link = session.scalar(select(EntryRow.link).where(EntryRow.id == scoped[0].entry_id))
    assert link == server.url("/b.html")


def test_the_feed_poll_is_not_held_up_by_a_slow_article_host(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    """Three pages on a host that answers only when the test says so: the next poll of a feed
    on that same host finishes meanwhile, and only one page at a time took a host slot."""
    arrived, release = threading.Event(), threading.Event()

    def hang(handler: BaseHTTPRequestHandler) -> None:
        arrived.set()
        release.wait(timeout=30)
        page = seed_page()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(page)))
        handler.end_headers()
        handler.wfile.write(page)

    for n in range(3):
        server.route(f"/slow{n}.html", handler=hang)
    first = [seed_item(server.url(f"/slow{n}.html"), clock, guid=f"s{n}") for n in range(3)]
    server.route("/wire.xml", body=rss(first))
    app = make_app(feed(server, "/wire.xml"), defaults="timeout: 30s")

    async def go() -> tuple[list[str], list[str], int]:
        async with app.http_client() as client:
            poller = app.poller(client, rand=lambda: 0.5)
            worker = ArticleWorker(app, poller.fetcher, poller)
            poller.on_articles = worker.wake
            stop = asyncio.Event()
            running = asyncio.create_task(worker.run(stop))
            await poll_all(poller, app)
            assert await asyncio.to_thread(arrived.wait, 10)  # a page fetch is hanging now
            more = Item(title="Markets calm", link=None, guid="m1", summary="Nothing.")
            server.route("/wire.xml", body=rss([*first, more]))
            clock.advance(minutes=10)
            async with asyncio.timeout(20):  # a bound for a broken build, not a measurement
                (outcome,) = (await poll_all(poller, app)).outcomes
            during = [a.state for a in articles(app)]
            pages_seen = sum(len(server.seen(f"/slow{n}.html")) for n in range(3))
            release.set()
            stop.set()
            worker.wake()
            await running
            await worker.stop(grace=20)
            await worker.drain(20)  # the two pages that waited for the host
            return [outcome.status, str(outcome.new_entries)], during, pages_seen

    second_poll, during, pages_seen = asyncio.run(go())

    assert second_poll == ["ok", "1"]  # stored while the page fetch still hung
    assert during == ["pending"] * 3
    assert pages_seen == 1  # pages take at most PER_HOST - 1 of a host's slots
    assert [a.state for a in articles(app)] == ["ok"] * 3


async def poll_all(poller: Poller, app: App) -> CycleReport:
    due = app.storage.claim_due(app.clock.now(), claim_lease(app.config), every=True)
    return await poller.poll_many(due)


def test_a_huge_article_page_is_cut_at_the_size_cap_and_read(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    padding = b"<!-- " + b"x" * (4 * 1024 * 1024) + b" -->"
    page = seed_page().replace(b"</body>", padding + b"</body>")
    server.route("/huge.html", body=page, content_type="text/html")
    server.route("/wire.xml", body=rss([seed_item(server.url("/huge.html"), clock)]))
    app = make_app(feed(server, "/wire.xml"))

    cycle(app, max_bytes=256 * 1024)

    (state,) = articles(app)
    assert state.state == "ok" and state.text is not None and len(state.text) < 100_000
    assert [a.field for a in alerts(app) if a.rule == "blackout"] == ["article"]


def test_a_page_that_times_out_is_retried_then_failed_and_the_feed_alerts_stand(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/slow.html", body=seed_page(), content_type="text/html", delay=1.0)
    item = seed_item(server.url("/slow.html"), clock)
    urgent = replace(item, summary=item.summary + " A state of emergency.")
    server.route("/wire.xml", body=rss([urgent]))
    app = make_app(feed(server, "/wire.xml"), defaults="timeout: 0.3s")

    cycle(app)
    assert [a.rule for a in alerts(app)] == ["emergency"]  # at once, from the feed's text
    (first,) = articles(app)
    assert (first.state, first.attempts) == ("pending", 1)
    assert first.error == "timed out after 0.3s"
    assert first.next_attempt_at > clock.now()

    for _ in range(MAX_ATTEMPTS - 1):
        clock.advance(hours=2)
        fetch_queued(app)

    (last,) = articles(app)
    assert (last.state, last.attempts) == ("failed", MAX_ATTEMPTS)
    assert last.error == "timed out after 0.3s" and last.text is None
    assert [a.rule for a in alerts(app)] == ["emergency"]
    clock.advance(hours=2)
    fetch_queued(app)
    assert articles(app)[0].attempts == MAX_ATTEMPTS  # given up: never fetched again


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "application/pdf", 200, "application/pdf"),
        (b'{"state": "internet blackout"}', "application/json", 200, "application/json"),
        (b"<html><body>gone</body></html>", "text/html", 404, "HTTP 404"),
        (b"<html><body>no</body></html>", "text/html", 403, "HTTP 403"),
        (b"<html><body><nav>Home</nav></body></html>", "text/html", 200, "no article text"),
    ],
)
def test_a_page_that_is_no_article_fails_at_once(
    make_app: AppFactory,
    server: FeedServer,
    clock: FakeClock,
    body: bytes,
    content_type: str,
    status: int,
    error: str,
) -> None:
    server.route("/page", body=body, content_type=content_type, status=status)
    item = seed_item(server.url("/page"), clock)
    urgent = replace(item, summary="A state of emergency was declared.")
    server.route("/wire.xml", body=rss([urgent]))
    app = make_app(feed(server, "/wire.xml"))

    cycle(app)

    (state,) = articles(app)
    assert (state.state, state.attempts) == ("failed", 1)
    assert state.error is not None and error in state.error
    assert len(server.seen("/page")) == 1
    assert [a.rule for a in alerts(app)] == ["emergency"]


def test_a_server_error_is_retried(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    route = server.route("/kz.html", body=b"busy", content_type="text/plain", status=503)
    server.route("/wire.xml", body=rss([seed_item(server.url("/kz.html"), clock)]))
    app = make_app(feed(server, "/wire.xml"))

    cycle(app)
    assert [(a.state, a.error) for a in articles(app)] == [
        ("pending", "HTTP 503 Service Unavailable")
    ]

    route.status, route.body, route.content_type = 200, seed_page(), "text/html"
    clock.advance(hours=2)
    fetch_queued(app)

    assert [(a.state, a.attempts) for a in articles(app)] == [("ok", 2)]
    assert "blackout" in [a.rule for a in alerts(app)]


def test_only_feeds_with_fetch_articles_queue_pages(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    old = Item(
        title="Old report",
        link=server.url("/old.html"),
        guid="old",
        published=clock.now() - timedelta(days=3),
    )
    for name in ("on", "off", "default"):
        link = server.url(f"/{name}.html")
        server.route(f"/{name}.xml", body=rss([seed_item(link, clock, guid=name), old]))
        server.route(f"/{name}.html", body=seed_page(), content_type="text/html")
    feeds = (
        feed(server, "/on.xml", True)
        + feed(server, "/off.xml", False)
        # with defaults.fetch_articles false, a feed that says nothing fetches nothing
        + feed(server, "/default.xml", None)
    )
    app = make_app(feeds)

    cycle(app, articles=False)

    # Only the "on" feed's entry; its old entry, outside the backlog on a first poll, neither.
    assert [a.url for a in articles(app)] == [server.url("/on.html")]
    assert not server.seen("/old.html")


def test_defaults_fetch_articles_applies_to_every_feed_that_does_not_say(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/a.xml", body=rss([seed_item(server.url("/a.html"), clock, guid="a")]))
    server.route("/b.xml", body=rss([seed_item(server.url("/b.html"), clock, guid="b")]))
    app = make_app(
        feed(server, "/a.xml", None) + feed(server, "/b.xml", False),
        defaults="timeout: 2s, fetch_articles: true",
    )
    cycle(app, articles=False)
    assert [a.url for a in articles(app)] == [server.url("/a.html")]


def test_a_feed_whose_fetch_articles_was_turned_off_leaves_its_queue_unfetched(
    make_app: AppFactory, server: FeedServer, clock: FakeClock, tmp_path: Path
) -> None:
    server.route("/kz.html", body=seed_page(), content_type="text/html")
    server.route("/wire.xml", body=rss([seed_item(server.url("/kz.html"), clock)]))
    app = make_app(feed(server, "/wire.xml"))
    cycle(app, articles=False)
    reloaded = load_config(_rewrite(tmp_path, "fetch_articles: true", "fetch_articles: false"))

    async def go() -> None:  # as a SIGHUP reload does: the poller's settings replaced
        async with app.http_client() as client:
            poller = app.poller(client)
            poller.settings = feed_settings(reloaded.config)
            await ArticleWorker(app, poller.fetcher, poller).drain(5)

    asyncio.run(go())

    (state,) = articles(app)
    assert state.state == "failed" and state.error == "fetch_articles is off for this feed now"
    assert not server.seen("/kz.html")


def _rewrite(tmp_path: Path, old: str, new: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace(old, new))
    return config


def test_run_once_fetches_the_queued_articles_before_delivery(
    make_app: AppFactory,
    server: FeedServer,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.route("/kz.html", body=seed_page(), content_type="text/html")
    server.route("/wire.xml", body=rss([seed_item(server.url("/kz.html"), real_clock())]))
    make_app(feed(server, "/wire.xml")).close()

    assert main(["run", "--once", "--max-wait", "20", "-c", str(tmp_path / "config.yaml")]) == 0

    out = capsys.readouterr().out
    assert "blackout" in out  # the console notifier got the article's alert in the same run
    engine = create_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT rule, field FROM alerts WHERE rule = 'blackout'")).all()
        states = conn.execute(text("SELECT state FROM articles")).scalars().all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("blackout", "article")]
    assert states == ["ok"]
    # and the stored article is what a backtest of an article: query reads
    config = str(tmp_path / "config.yaml")
    assert main(["test-rule", 'article:"internet blackout"', "--stored", "-c", config]) == 0
    assert capsys.readouterr().out.startswith("1 of 1 entries stored")


def real_clock() -> FakeClock:
    """A clock at the real time: ``run --once`` reads the system clock for the backlog."""
    return FakeClock(datetime.now().astimezone())


def test_test_rule_url_matches_the_extracted_article(
    server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/kz.html", body=seed_page(), content_type="text/html; charset=utf-8")
    url = server.url("/kz.html")

    assert main(["test-rule", 'article:"internet blackout"', "--url", url]) == 0
    out = capsys.readouterr().out
    assert "match in article: internet blackout" in out
    assert main(["test-rule", '"accept all"', "--url", url]) == 1  # the cookie banner is not read


@pytest.mark.parametrize(
    ("status", "attempts", "retry_after", "expected"),
    [
        (None, 1, None, (30.0, 60.0)),  # connection error or timeout: backoff with jitter
        (503, 2, None, (60.0, 120.0)),
        (429, 1, 900.0, (900.0, 900.0)),  # Retry-After is a floor
        (500, MAX_ATTEMPTS, None, None),  # attempts used up
        (404, 1, None, None),  # not there: no retry
        (403, 1, None, None),
        (408, 1, None, (30.0, 60.0)),
    ],
)
def test_retry_at(
    status: int | None,
    attempts: int,
    retry_after: float | None,
    expected: tuple[float, float] | None,
    clock: FakeClock,
) -> None:
    error = FetchError("x", status=status, retry_after=retry_after)
    for rand in (0.0, 1.0):
        when = retry_at(attempts, error, clock.now(), lambda r=rand: r)
        if expected is None:
            assert when is None
        else:
            delay = (when - clock.now()).total_seconds() if when else -1
            assert expected[0] <= delay <= expected[1]


def test_article_outcomes_are_counted_in_metrics(make_app: AppFactory, server: FeedServer) -> None:
    metrics = Metrics(make_app(feed(server, "/wire.xml")))
    metrics.article_done("ok")
    metrics.article_done("retry")
    page = metrics.scrape().decode()
    assert 'monitor_article_fetches_total{outcome="ok"} 1.0' in page
    assert 'monitor_article_fetches_total{outcome="failed"} 0.0' in page


@pytest.mark.postgres
def test_two_instances_claim_disjoint_articles_on_postgresql(
    pg_url: str, tmp_path: Path, server: FeedServer, clock: FakeClock
) -> None:
    # Each page on a host of its own: a claim takes one page per host (never fetched here).
    links = [f"http://site{n}.example.test/{n}.html" for n in range(10)]
    items = [seed_item(link, clock, guid=f"g{n}") for n, link in enumerate(links)]
    server.route("/wire.xml", body=rss(items))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: '{pg_url}'\nfeeds:\n  - url: {server.url('/wire.xml')}\n"
        "    fetch_articles: true\n"
    )
    app = App.open(load_config(config, env={}), clock=clock)
    try:
        app.sync_feeds()
        cycle(app, articles=False)
        a, b = ArticleStore(app.engine, "a"), ArticleStore(app.engine, "b")
        now, lease = clock.now(), 60.0
        with app.engine.connect() as held:  # instance a, mid-claim: three rows locked
            locked = (
                held.execute(
                    text("SELECT entry_id FROM articles ORDER BY entry_id LIMIT 3 FOR UPDATE")
                )
                .scalars()
                .all()
            )
            with ThreadPoolExecutor(1) as pool:  # skips them rather than waiting
                by_b = pool.submit(b.claim_due, now, lease, 10).result(timeout=10)
            held.rollback()
        by_a = a.claim_due(now, lease, 10)
        every = {s.entry_id for s in articles(app)}
        assert len(every) == 10
        assert sorted(d.entry_id for d in by_b) == sorted(every - set(locked))
        assert sorted(d.entry_id for d in by_a) == sorted(locked)
        assert a.claim_due(now, lease, 10) == [] == b.claim_due(now, lease, 10)
        assert b.claim_due(now + timedelta(seconds=lease + 1), lease, 10) != []  # leases end
    finally:
        app.close()


def test_an_entry_pruned_before_its_page_arrives_is_skipped(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/kz.html", body=seed_page(), content_type="text/html")
    server.route("/wire.xml", body=rss([seed_item(server.url("/kz.html"), clock)]))
    app = make_app(feed(server, "/wire.xml"))
    cycle(app, articles=False)
    store = ArticleStore(app.engine)
    (due,) = store.claim_due(clock.now(), 60, 10)
    with Session(app.engine) as session, session.begin():  # retention: ON DELETE CASCADE
        session.execute(delete(EntryRow))

    assert store.record_ok(due.entry_id, "An internet blackout.", clock.now()) == []
    assert articles(app) == []


@pytest.mark.slow
def test_the_daemon_fetches_articles_and_leaves_a_hanging_one_queued_on_sigterm(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path, str], Daemon]
) -> None:
    arrived, release = threading.Event(), threading.Event()

    def hang(handler: BaseHTTPRequestHandler) -> None:
        arrived.set()
        release.wait(timeout=60)

    now = real_clock()
    server.route("/kz.html", body=seed_page(), content_type="text/html")
    server.route("/hang.html", handler=hang)
    items = [seed_item(server.url("/kz.html"), now), seed_item(server.url("/hang.html"), now, "h")]
    server.route("/wire.xml", body=rss(items))
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: sqlite:///monitor.db\ndefaults: {interval: 1h, timeout: 50s}\n"
        f"feeds:\n{feed(server, '/wire.xml')}{RULES}"
    )
    try:
        daemon = daemons(config, "daemon")
        wait_for(lambda: " | blackout | " in daemon.out_path.read_text(), what="the alert")
        wait_for(arrived.is_set, what="the hanging page's request")
        code, _seconds = daemon.stop()
    finally:
        release.set()

    assert code == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT url, state, claimed_by FROM articles ORDER BY url"))
        states = {url.rsplit("/", 1)[1]: (state, by) for url, state, by in rows}
    engine.dispose()
    assert states == {"hang.html": ("pending", None), "kz.html": ("ok", None)}


def test_check_names_the_feeds_whose_articles_are_fetched(
    tmp_path: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "defaults: {fetch_articles: true}\n"
        f"feeds:\n{feed(server, '/a.xml', None)}{feed(server, '/b.xml', False)}"
    )
    assert main(["check", "-c", str(config)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "  feed " in line]
    assert [line.endswith("; linked articles fetched") for line in lines] == [True, False]


@pytest.mark.parametrize("holder", ["other", None])  # None: this instance, left by a failed run
def test_drain_does_not_wait_for_a_claim_that_outlasts_max_wait(
    make_app: AppFactory, server: FeedServer, clock: FakeClock, holder: str | None
) -> None:
    server.route("/kz.html", body=seed_page(), content_type="text/html")
    server.route("/wire.xml", body=rss([seed_item(server.url("/kz.html"), clock)]))
    app = make_app(feed(server, "/wire.xml"))
    cycle(app, articles=False)
    (held,) = ArticleStore(app.engine, holder or app.storage.instance).claim_due(
        clock.now(), 60, 10
    )
    assert ArticleStore(app.engine).next_due() == clock.now() + timedelta(seconds=60)

    async def go() -> None:
        async with app.http_client() as client:
            poller = app.poller(client)
            frozen = ArticleWorker(app, poller.fetcher, poller, monotonic=lambda: 0.0)
            async with asyncio.timeout(10):  # a bound for a broken build: frozen time loops
                await frozen.drain(20)  # the claim runs out in 60 s: nothing to wait for

    asyncio.run(go())
    assert not server.seen("/kz.html")
    assert [a.state for a in articles(app)] == ["pending"]

    clock.advance(seconds=61)  # the claim ran out: the page is anyone's again
    next_due = ArticleStore(app.engine).next_due()
    assert next_due is not None and held.queued_at < next_due <= clock.now()
    fetch_queued(app)
    assert [a.state for a in articles(app)] == ["ok"]


def open_real_app(tmp_path: Path, server: FeedServer, receiver: Receiver) -> App:
    """An app on the system clock (delivery retries wait for real time) alerting a webhook."""
    config = tmp_path / "config.yaml"
    hook = f"  hook: {{type: webhook, url: '{receiver.url}'}}\n"
    config.write_text(
        f"database: sqlite:///monitor.db\ndefaults: {{timeout: 30s}}\n"
        f"feeds:\n{feed(server, '/wire.xml')}{RULES}{hook}"
    )
    app = App.open(load_config(config, env={}))
    app.sync_feeds()
    return app


def urgent_item(link: str, guid: str = "kz-1") -> Item:
    """An entry whose feed text alerts at once (rule ``emergency``)."""
    item = seed_item(link, real_clock(), guid)
    return replace(item, summary=item.summary + " A state of emergency was declared.")


def test_run_once_leaves_another_instances_page_and_delivery_still_retries(
    tmp_path: Path, server: FeedServer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("/kz.html", body=seed_page(), content_type="text/html")
    server.route("/wire.xml", body=rss([urgent_item(server.url("/kz.html"))]))
    app = open_real_app(tmp_path, server, receiver)
    looks: list[datetime | None] = []
    next_due = ArticleStore.next_due

    def counted(store: ArticleStore) -> datetime | None:
        looks.append(next_due(store))
        return looks[-1]

    monkeypatch.setattr(ArticleStore, "next_due", counted)
    try:
        cycle(app, articles=False)  # the alert is in the outbox, the page queued
        ArticleStore(app.engine, "other").claim_due(app.clock.now(), 3600, 10)
        receiver.script(503, 200)

        asyncio.run(run_once(app, max_wait=10))

        assert len(looks) == 1  # one look at the queue: nothing to wait for within --max-wait
        assert [r.status for r in receiver.received] == [503, 200]  # retried within --max-wait
        assert not server.seen("/kz.html")
        with Session(app.engine) as session:
            row = session.get(ArticleRow, articles(app)[0].entry_id)
            assert row is not None and (row.state, row.claimed_by) == ("pending", "other")
    finally:
        app.close()


def test_run_once_gives_pages_at_most_half_of_max_wait(
    tmp_path: Path, server: FeedServer, receiver: Receiver
) -> None:
    """A page that hangs past --max-wait: it is cut off halfway, and delivery, retries
    included, has the other half."""
    release = threading.Event()

    def hang(handler: BaseHTTPRequestHandler) -> None:
        release.wait(timeout=30)

    server.route("/hang.html", handler=hang)
    server.route("/wire.xml", body=rss([urgent_item(server.url("/hang.html"))]))
    app = open_real_app(tmp_path, server, receiver)
    receiver.script(503, 200)
    try:
        asyncio.run(run_once(app, max_wait=6))
    finally:
        release.set()
        app.close()

    assert len(server.seen("/hang.html")) == 1
    assert [r.status for r in receiver.received] == [503, 200]
    assert [a.state for a in articles(app)] == ["pending"]  # cut off: queued for the next run


def test_one_slow_site_does_not_hold_up_the_pages_of_other_sites(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    """Twenty pages on a host that answers only when the test says so, queued before one page
    on another host: that page is fetched while the slow host's still hang, and only one of
    those was requested at a time."""
    release, other_arrived = threading.Event(), threading.Event()

    def hang(handler: BaseHTTPRequestHandler) -> None:
        release.wait(timeout=30)
        answer(handler, seed_page())

    def other(handler: BaseHTTPRequestHandler) -> None:
        other_arrived.set()
        answer(handler, seed_page())

    slow = [seed_item(server.url(f"/slow{n}.html"), clock, guid=f"s{n}") for n in range(20)]
    for n in range(20):
        server.route(f"/slow{n}.html", handler=hang)
    server.route("/other.html", handler=other)
    server.route("/slow.xml", body=rss(slow))
    server.route("/other.xml", body=rss([]))
    app = make_app(feed(server, "/slow.xml") + feed(server, "/other.xml"), "timeout: 30s")
    cycle(app, articles=False)
    clock.advance(minutes=10)  # the other site's page is queued last
    elsewhere = server.url("/other.html").replace("127.0.0.1", "localhost")
    server.route("/other.xml", body=rss([seed_item(elsewhere, clock, guid="o")]))
    cycle(app, articles=False)
    assert articles(app)[-1].url == elsewhere

    async def go() -> tuple[bool, int]:
        async with app.http_client() as client:
            poller = app.poller(client, rand=lambda: 0.5)
            worker = ArticleWorker(app, poller.fetcher, poller, concurrency=2)
            stop = asyncio.Event()
            running = asyncio.create_task(worker.run(stop))
            arrived = await asyncio.to_thread(other_arrived.wait, 10)
            slow_seen = sum(len(server.seen(f"/slow{n}.html")) for n in range(20))
            release.set()
            stop.set()
            worker.wake()
            await running
            await worker.stop(grace=20)
            await worker.drain(60)
            return arrived, slow_seen

    arrived, slow_seen = asyncio.run(go())

    assert arrived  # not stuck behind the slow site's twenty
    assert slow_seen == 1
    assert [a.state for a in articles(app)] == ["ok"] * 21


def answer(handler: BaseHTTPRequestHandler, page: bytes) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(len(page)))
    handler.end_headers()
    handler.wfile.write(page)


def test_a_page_taken_over_while_it_waited_for_its_host_is_not_fetched(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/kz.html", body=seed_page(), content_type="text/html")
    server.route("/wire.xml", body=rss([seed_item(server.url("/kz.html"), clock)]))
    app = make_app(feed(server, "/wire.xml"))
    cycle(app, articles=False)
    lease = claim_lease(app.config)

    async def go() -> None:
        async with app.http_client() as client:
            poller = app.poller(client)
            worker = ArticleWorker(app, poller.fetcher, poller)
            assert await worker.start_due() == 1  # claimed; its task has not run yet
            later = clock.now() + timedelta(seconds=lease + 1)  # as if it waited past its lease
            assert ArticleStore(app.engine, "other").claim_due(later, lease, 10) != []
            await worker.stop(grace=20)

    asyncio.run(go())

    assert not server.seen("/kz.html")  # the slot's on_start found the claim gone
    with Session(app.engine) as session:
        row = session.get(ArticleRow, articles(app)[0].entry_id)
        assert row is not None and (row.state, row.claimed_by, row.attempts) == (
            "pending",
            "other",
            0,
        )


def test_the_lease_starts_when_the_hosts_slot_is_taken(
    make_app: AppFactory, server: FeedServer, clock: FakeClock
) -> None:
    server.route("/wire.xml", body=rss([seed_item("http://a.example.test/1", clock)]))
    app = make_app(feed(server, "/wire.xml"))
    cycle(app, articles=False)
    mine, other = ArticleStore(app.engine, "me"), ArticleStore(app.engine, "other")
    (due,) = mine.claim_due(clock.now(), 60, 10)

    assert mine.renew(due.entry_id, clock.advance(seconds=50), 60)
    assert other.claim_due(clock.advance(seconds=20), 60, 10) == []  # renewed: still mine
    assert not other.renew(due.entry_id, clock.now(), 60)
    assert other.claim_due(clock.advance(seconds=41), 60, 10) != []
    assert not mine.renew(due.entry_id, clock.now(), 60)  # taken over
