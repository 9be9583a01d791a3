"""Log lines: one per poll, alert and delivery failure, each naming its feed, rule or notifier.

Real polls against a local feed server and a local webhook receiver, logged as JSON (or text)
to a stream and read back line by line; and the ``monitor`` command's ``--log-format json``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.app import App
from monitor.logs import make_formatter, rfc3339
from monitor.models import ParsedFeed
from monitor.parse import parse_feed
from tests.conftest import AppOpener, FakeClock
from tests.support.feeds import Item, news_items, rss
from tests.support.polling import poll_due
from tests.support.process import monitor
from tests.support.receiver import Receiver
from tests.support.server import FeedServer

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) monitor\.[a-z.]+: \S"
)
WEBHOOK_SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="
PRIVATE = "/private.xml?token=feedtoken"  # a feed URL carrying credentials: never logged
STORY = Item(
    title="Curfew as state of emergency declared",
    link="https://news.example.test/emergency",
    guid="e1",
    summary="A state of emergency was declared overnight.",
)
QUIET = [Item(title=f"Weather, day {n}", link=f"https://news.example.test/w{n}") for n in (1, 2)]

AppFactory = Callable[[], App]
Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def make_app(
    tmp_path: Path, server: FeedServer, receiver: Receiver, clock: FakeClock, open_app: AppOpener
) -> AppFactory:
    """Three feeds: Wire (a matching story), Broken (HTTP 500), and an unnamed private feed."""
    private = server.url(PRIVATE)

    def factory() -> App:
        config = tmp_path / "config.yaml"
        config.write_text(
            "database: sqlite:///monitor.db\ndefaults: {interval: 5m, timeout: 2s}\nfeeds:\n"
            f"  - {{url: '{server.url('/wire.xml')}', name: Wire}}\n"
            f"  - {{url: '{server.url('/broken.xml')}', name: Broken}}\n"
            f"  - {{url: '{private}'}}\n"
            "rules:\n  - {name: emergency, any: [state of emergency]}\n"
            f"notifiers:\n  hook: {{type: webhook, url: '{receiver.url}', "
            f"secret: '{WEBHOOK_SECRET}'}}\n"
        )
        return open_app(config)

    server.route("/wire.xml", body=rss([STORY]))
    server.route("/broken.xml", status=500, body=b"oops")
    server.route(PRIVATE, body=rss(QUIET))
    return factory


def capture(fmt: str) -> Iterator[io.StringIO]:
    """The ``monitor`` loggers' lines at INFO, formatted as ``fmt``, into a stream."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(fmt))
    logger = logging.getLogger("monitor")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    yield from capture("json")


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    yield from capture("text")


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line as JSON: a line that does not parse fails the test here."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def events(lines: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == event]


def deliver(app: App) -> int:
    async def go() -> int:
        async with app.http_client() as client:
            return await app.delivery_worker(client).run_due()

    return asyncio.run(go())


def test_a_poll_cycle_logs_one_json_line_per_poll_alert_and_failed_delivery(
    make_app: AppFactory,
    server: FeedServer,
    receiver: Receiver,
    clock: FakeClock,
    json_log: io.StringIO,
) -> None:
    receiver.default = 500
    app = make_app()
    private = server.url("/private.xml?token=***")

    poll_due(app, every_feed=True)
    deliver(app)
    delivered_at = clock.now()
    clock.advance(minutes=10)
    poll_due(app, every_feed=True)

    lines = parsed(json_log)
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        assert RFC3339_UTC.match(line["time"]), line["time"]
    polls = [(p["feed"], p["status"]) for p in events(lines, "poll")]
    assert sorted(polls) == sorted(
        [("Wire", "ok"), ("Broken", "error"), (private, "ok")]
        + [("Wire", "unchanged"), ("Broken", "error"), (private, "unchanged")]
    )
    ok = next(p for p in events(lines, "poll") if p["feed"] == "Wire" and p["status"] == "ok")
    assert isinstance(ok["fetch_seconds"], float)
    assert (ok["new_entries"], ok["alerts"], ok["message"]) == (
        1,
        1,
        "feed Wire: ok, 1 new or changed entries, 1 alerts",
    )
    broken = next(p for p in events(lines, "poll") if p["feed"] == "Broken")
    assert (broken["level"], broken["http_status"], broken["failures"]) == ("WARNING", 500, 1)
    assert "500" in broken["error"]
    (alert,) = events(lines, "alert")
    assert (alert["rule"], alert["feed"], alert["title"], alert["url"]) == (
        "emergency",
        "Wire",
        STORY.title,
        STORY.link,
    )
    (failed,) = events(lines, "delivery")
    assert (failed["notifier"], failed["status"], failed["alerts"]) == ("hook", "retry", 1)
    assert (failed["level"], failed["error"], failed["http_status"]) == ("WARNING", "HTTP 500", 500)
    assert datetime.fromisoformat(failed["retry_at"]) > delivered_at
    everything = json_log.getvalue()
    for secret in ("feedtoken", WEBHOOK_SECRET, receiver.url):
        assert secret not in everything


def test_a_delivery_given_up_after_24_hours_is_one_failed_line(
    make_app: AppFactory, receiver: Receiver, clock: FakeClock, json_log: io.StringIO
) -> None:
    receiver.default = 503
    app = make_app()
    poll_due(app, every_feed=True)
    deliver(app)
    clock.advance(hours=25)

    deliver(app)

    first, last = events(parsed(json_log), "delivery")
    assert (first["status"], last["status"]) == ("retry", "fail")
    assert last["notifier"] == "hook" and last["retry_at"] is None
    assert (
        last["message"] == "notifier hook: failed for 1 alert(s): gave up after 24 hours: HTTP 503"
    )


def test_an_unexpected_error_is_one_poll_line_with_its_traceback(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, json_log: io.StringIO
) -> None:
    def parser_bug(body: bytes, content_type: str | None, url: str | None) -> ParsedFeed:
        if b"Weather" in body:
            raise RuntimeError("parser bug")
        return parse_feed(body, content_type, url)

    monkeypatch.setattr("monitor.poller.parse_feed", parser_bug)  # a bug, not a bad feed
    app = make_app()

    poll_due(app, every_feed=True)

    lines = parsed(json_log)
    (buggy,) = [line for line in lines if "private.xml" in line.get("feed", "")]
    assert (buggy["event"], buggy["status"], buggy["level"]) == ("poll", "error", "ERROR")
    assert buggy["error"] == "internal error: RuntimeError('parser bug')"
    assert "Traceback (most recent call last)" in buggy["exc_info"]
    assert "RuntimeError: parser bug" in buggy["exc_info"]
    assert [line["feed"] for line in events(lines, "alert")] == ["Wire"]  # the others go on


def test_text_lines_keep_their_shape(
    make_app: AppFactory, server: FeedServer, text_log: io.StringIO
) -> None:
    app = make_app()

    poll_due(app, every_feed=True)

    lines = text_log.getvalue().splitlines()
    assert len(lines) == 4  # three polls and one alert, nothing else
    for line in lines:
        assert TEXT_LINE.match(line), line
    messages = sorted(line.split(": ", 1)[1] for line in lines)
    assert messages[0] == (
        "alert: rule emergency, feed Wire: Curfew as state of emergency declared "
        "<https://news.example.test/emergency>"
    )
    assert messages[1].startswith("feed Broken: poll failed (1 in a row): ")
    assert messages[2] == "feed Wire: ok, 1 new or changed entries, 1 alerts"
    assert (
        messages[3]
        == f"feed {server.url('/private.xml?token=***')}: ok, 2 new or changed entries, 0 alerts"
    )
    assert "feedtoken" not in text_log.getvalue()


def test_rfc3339_is_utc_to_the_millisecond() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(1795939272.3456) == "2026-11-29T08:01:12.345Z"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        make_formatter("xml")


def test_json_lines_carry_any_extra_and_survive_odd_values() -> None:
    record = logging.LogRecord("monitor.x", logging.INFO, __file__, 1, "a\nb %s", ("c",), None)
    record.feed, record.when = "F", datetime(2026, 11, 24, 8, tzinfo=UTC)
    line = make_formatter("json").format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert (data["message"], data["feed"]) == ("a\nb c", "F")
    assert data["when"].startswith("2026-11-24T08:00:00")
    assert list(data)[:4] == ["time", "level", "logger", "message"]


@pytest.mark.slow
def test_the_command_logs_json_lines_on_stderr(tmp_path: Path, server: FeedServer) -> None:
    server.route("/a.xml", body=rss(news_items(3)))
    server.route("/broken.xml", status=500, body=b"oops")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"feeds:\n  - {{url: '{server.url('/a.xml')}', name: A}}\n"
        f"  - {{url: '{server.url('/broken.xml')}', name: Broken}}\n"
    )

    run = monitor("--log-format", "json", "run", "--once", "-c", str(config))
    check = monitor("check", "--log-format", "json", "--log-level", "DEBUG", "-c", str(config))

    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines()]
    assert sorted((p["feed"], p["status"]) for p in events(lines, "poll")) == [
        ("A", "ok"),
        ("Broken", "error"),
    ]
    summary = lines[-1]
    assert (summary["logger"], summary["level"]) == ("monitor", "INFO")
    assert summary["message"].startswith("2 feeds polled: 1 ok, 0 unchanged, 1 failed")
    assert check.returncode == 0, check.stderr
    assert "OK" in check.stdout
    for line in check.stderr.splitlines():  # DEBUG: whatever is logged is JSON too
        assert RFC3339_UTC.match(json.loads(line)["time"])
