"""Delivery through the outbox to a real local receiver, with an injected clock."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from monitor.app import App
from monitor.cli import main
from monitor.config import load_config
from monitor.fetch import make_client
from monitor.storage.outbox import Outbox
from tests.conftest import FakeClock
from tests.support.feeds import Item, rss
from tests.support.polling import poll_due
from tests.support.receiver import Receiver
from tests.support.server import FeedServer

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
AppFactory = Callable[[], App]


@pytest.fixture
def clock() -> FakeClock:
    """Starts at the real time: signatures are checked against it, and CLI commands use it."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def config_path(tmp_path: Path, server: FeedServer, receiver: Receiver) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "database: sqlite:///monitor.db\ndefaults: {interval: 5m, timeout: 2s}\n"
        f"feeds:\n  - url: {server.url('/wire.xml')}\n    name: Wire\n"
        "rules:\n  - name: emergency\n    any: [state of emergency]\n"
        f"notifiers:\n  hook: {{type: webhook, url: '{receiver.url}', secret: '{SECRET}'}}\n"
    )
    return path


@pytest.fixture
def app(config_path: Path, clock: FakeClock) -> Iterator[App]:
    opened = App.open(load_config(config_path, env={}), clock=clock)
    opened.sync_feeds()
    yield opened
    opened.close()


def item(n: int) -> Item:
    return Item(
        title=f"Story {n}: state of emergency declared",
        link=f"https://news.example.test/story-{n}",
        guid=f"g{n}",
        summary="Authorities declared a state of emergency in the region.",
    )


def poll(app: App, server: FeedServer, items: list[Item]) -> None:
    server.route("/wire.xml", body=rss(items))
    poll_due(app, every_feed=True)


def run_due(app: App) -> int:
    async def go() -> int:
        async with make_client() as client:
            return await app.delivery_worker(client).run_due()

    return asyncio.run(go())


def test_503_then_429_with_retry_after_then_200_delivers_once(
    app: App, server: FeedServer, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.script(503, (429, {"Retry-After": "2"}), 200)
    poll(app, server, [item(1)])

    assert run_due(app) == 1  # 503
    clock.advance(seconds=1)  # backoff after a first failure is at most 1 s
    assert run_due(app) == 1  # 429, Retry-After: 2
    clock.advance(seconds=1.9)
    assert run_due(app) == 0  # the receiver asked for 2 seconds
    clock.advance(seconds=0.1)
    assert run_due(app) == 1  # 200
    clock.advance(hours=1)
    assert run_due(app) == 0

    assert [r.status for r in receiver.received] == [503, 429, 200]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # stable across retries
    (record,) = Outbox(app.engine).alerts()
    assert receiver.accepted == [record.alert.id]
    assert [(a[2], a[4]) for a in Outbox(app.engine).attempts(record.alert.id)] == [
        (503, "retry"),
        (429, "retry"),
        (200, "ok"),
    ]
    (delivery,) = record.deliveries
    assert (delivery.state, delivery.attempts) == ("sent", 3)


def test_signed_body_verifies_with_standard_webhooks(
    app: App, server: FeedServer, receiver: Receiver
) -> None:
    poll(app, server, [item(1)])
    run_due(app)
    (request,) = receiver.received
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["type"] == "alert" and payload["rule"] == "emergency"
    assert payload["matched"] == ["state of emergency"]
    assert payload["entry"]["url"] == "https://news.example.test/story-1"
    assert payload["feed"]["name"] == "Wire"
    assert payload["id"] == request.headers["webhook-id"]


def test_400_fails_at_once_is_listed_and_retried_on_request(
    app: App,
    server: FeedServer,
    receiver: Receiver,
    clock: FakeClock,
    config_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    receiver.script(400)
    poll(app, server, [item(1)])
    run_due(app)
    clock.advance(hours=2)
    assert run_due(app) == 0  # not retried
    assert [r.status for r in receiver.received] == [400]

    assert main(["alerts", "--failed", "-c", str(config_path)]) == 0
    listed = capsys.readouterr().out
    assert "Story 1: state of emergency declared" in listed and "400" in listed

    assert main(["alerts", "retry", "-c", str(config_path)]) == 0
    assert "1 failed deliveries put back in the queue" in capsys.readouterr().out
    clock.advance(seconds=1)
    assert run_due(app) == 1
    assert [r.status for r in receiver.received] == [400, 200]
    assert main(["alerts", "--failed", "-c", str(config_path)]) == 0
    assert "Story 1" not in capsys.readouterr().out


def test_receiver_down_for_six_hours_gets_everything_afterwards_in_order(
    app: App, server: FeedServer, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.down = True
    start = clock.now()
    items: list[Item] = []
    for step in range(72):  # six hours in five-minute steps
        if step % 14 == 0:
            items = [*items, item(len(items) + 1)]
            poll(app, server, items)
        run_due(app)
        clock.advance(minutes=5)
    assert clock.now() - start == timedelta(hours=6)
    assert receiver.accepted == [] and len(items) == 6

    receiver.down = False
    for _ in range(24):  # the longest backoff is an hour
        run_due(app)
        clock.advance(minutes=5)

    detected = [r.alert.id for r in reversed(Outbox(app.engine).alerts())]
    assert receiver.accepted == detected  # each once, in order of detection
    assert receiver.duplicates == []
    titles = [r.json()["entry"]["title"] for r in receiver.ok()]
    assert titles == [f"Story {n}: state of emergency declared" for n in range(1, 7)]
