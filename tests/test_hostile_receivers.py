"""Hostile webhook receivers: one that never answers, one that answers 10 MB, one that redirects.

Each holds only its own notifier: the timeout and the answer cap hold, and a
well-behaved receiver configured beside them gets every alert meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.app import App
from monitor.config import load_config
from monitor.delivery import DeliveryWorker
from monitor.notify.senders import WebhookSender
from monitor.storage.outbox import Outbox
from tests.conftest import FakeClock
from tests.support.feeds import Item, rss
from tests.support.polling import poll_due
from tests.support.receiver import Receiver
from tests.support.server import FeedServer

BIG = 10 * 1024 * 1024
HANG_TIMEOUT = 3.0


class HostileReceiver:
    """``/hang`` never answers, ``/big`` answers 10 MB, ``/redirect`` sends a 302 elsewhere."""

    def __init__(self, redirect_to: str) -> None:
        self.redirect_to = redirect_to
        self.release = threading.Event()
        self.hanging = threading.Event()
        self.paths: list[str] = []
        self.big_written: list[int] = []  # bytes written per /big request before it closed
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.paths.append(self.path)
                try:
                    if self.path == "/hang":
                        outer.hanging.set()
                        outer.release.wait(30)
                    elif self.path == "/big":
                        self._big()
                    elif self.path == "/redirect":
                        self.send_response(302)
                        self.send_header("Location", outer.redirect_to)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _big(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(BIG))
                self.end_headers()
                chunk = b"x" * 65536
                outer.big_written.append(0)
                for _ in range(BIG // len(chunk)):
                    self.wfile.write(chunk)
                    outer.big_written[-1] += len(chunk)

        return Handler


@pytest.fixture
def hostile(receiver: Receiver) -> Iterator[HostileReceiver]:
    srv = HostileReceiver(redirect_to=receiver.url)
    yield srv
    srv.stop()


@pytest.fixture
def app(
    tmp_path: Path,
    server: FeedServer,
    receiver: Receiver,
    hostile: HostileReceiver,
    clock: FakeClock,
) -> Iterator[App]:
    items = [
        Item(
            title=f"Story {n}: state of emergency declared",
            link=f"https://news.example.test/{n}",
            guid=f"g{n}",
            summary="A state of emergency was declared.",
        )
        for n in range(3)
    ]
    server.route("/wire.xml", body=rss(items))
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: sqlite:///monitor.db\ndefaults: {interval: 5m, timeout: 2s}\n"
        f"feeds:\n  - url: {server.url('/wire.xml')}\n"
        "rules:\n  - name: emergency\n    any: [state of emergency]\n"
        "notifiers:\n"
        f"  hang: {{type: webhook, url: '{hostile.url('/hang')}'}}\n"
        f"  big: {{type: webhook, url: '{hostile.url('/big')}'}}\n"
        f"  redirect: {{type: webhook, url: '{hostile.url('/redirect')}'}}\n"
        f"  good: {{type: webhook, url: '{receiver.url}'}}\n"
    )
    opened = App.open(load_config(config, env={}), clock=clock)
    opened.sync_feeds()
    poll_due(opened)
    yield opened
    opened.close()


def states(app: App) -> dict[str, list[tuple[str, str | None]]]:
    """Per notifier, each alert's (state, last error)."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for record in reversed(Outbox(app.engine).alerts()):
        for d in record.deliveries:
            out.setdefault(d.notifier, []).append((d.state, d.last_error))
    return out


def worker_for(app: App, client: object) -> DeliveryWorker:
    worker = app.delivery_worker(client)  # type: ignore[arg-type]
    hang = worker.notifiers["hang"]
    assert isinstance(hang, WebhookSender)
    hang.timeout = HANG_TIMEOUT
    return worker


def test_hostile_receivers_hold_only_themselves(
    app: App, receiver: Receiver, hostile: HostileReceiver
) -> None:
    async def scenario() -> tuple[int, dict[str, list[tuple[str, str | None]]]]:
        async with app.http_client() as client:
            worker = worker_for(app, client)
            started = worker.start_due()
            during = states(app)
            for _ in range(200):  # the good receiver gets everything while /hang still hangs
                if [state for state, _ in during["good"]] == ["sent"] * 3:
                    break
                await asyncio.sleep(0.025)
                during = states(app)
            await worker.wait()
            return started, during

    started, during = asyncio.run(scenario())

    assert started == 12  # three alerts to four notifiers
    assert hostile.hanging.is_set()
    assert during["good"] == [("sent", None)] * 3
    assert during["hang"] == [("pending", None)] * 3  # its first send is still in flight
    after = states(app)
    # The hanging receiver: the timeout holds, the first alert waits for a retry and
    # the two behind it wait too, untried, so they keep their order.
    assert Counter(after["hang"]) == {
        ("pending", None): 2,
        ("pending", f"timed out after {HANG_TIMEOUT:g}s"): 1,
    }
    assert hostile.paths.count("/hang") == 1
    # The 10 MB answer is cut at the cap: delivered, the connection closed early.
    assert after["big"] == [("sent", None)] * 3
    assert len(hostile.big_written) == 3
    assert all(written < BIG for written in hostile.big_written)  # the client hung up early
    # The redirect is not followed: the target (the good receiver) got only its own three.
    assert after["redirect"] == [("failed", "HTTP 302: redirects are not followed")] * 3
    assert len(receiver.received) == 3 and receiver.duplicates == []


def test_a_hanging_send_is_cancelled_at_stop_and_stays_pending(
    app: App, hostile: HostileReceiver
) -> None:
    async def scenario() -> None:
        async with app.http_client() as client:
            worker = worker_for(app, client)
            worker.start_due()
            for _ in range(200):
                if hostile.hanging.is_set():
                    break
                await asyncio.sleep(0.025)
            await worker.stop(grace=0.1)

    asyncio.run(scenario())

    assert hostile.hanging.is_set()
    assert states(app)["hang"] == [("pending", None)] * 3  # nothing recorded: it goes again
    outbox = Outbox(app.engine)
    tried = [a[0] for r in outbox.alerts() for a in outbox.attempts(r.alert.id)]
    assert "hang" not in tried
