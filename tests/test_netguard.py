"""``block_private_addresses``: feeds and webhooks on non-public addresses are refused.

Real servers on loopback stand in for both sides. 127.0.0.2 plays a public
server (the test policy lets it through); 127.0.0.1 plays the internal service
an attacker wants to reach. Host names are resolved by an injected resolver,
so DNS answers (rebinding included) are scripted without a DNS server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from ipaddress import ip_address
from pathlib import Path

import httpcore
import pytest

from monitor.app import App
from monitor.netguard import (
    BlockedAddressError,
    IPAddress,
    blocked_reason,
    check,
    system_resolver,
)
from monitor.storage.outbox import Outbox
from tests.conftest import AppOpener, FakeClock
from tests.support.feeds import Item, news_items, rss
from tests.support.polling import poll_due
from tests.support.receiver import Receiver
from tests.support.server import FeedServer

PUBLIC_STAND_IN = "127.0.0.2"


def lab_policy(ip: IPAddress) -> str | None:
    """The real policy, except that 127.0.0.2 counts as a public server."""
    return None if str(ip) == PUBLIC_STAND_IN else blocked_reason(ip)


class ScriptedDns:
    """Answers for made-up names, in turn; every other name goes to the system resolver."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        script = self.answers.get(host)
        if script is None:
            return await system_resolver(host, port)
        return script.pop(0) if len(script) > 1 else script[0]


@pytest.fixture
def public() -> Iterator[FeedServer]:
    srv = FeedServer(host=PUBLIC_STAND_IN).start()
    yield srv
    srv.stop()


AppFactory = Callable[..., App]


@pytest.fixture
def make_app(tmp_path: Path, clock: FakeClock, open_app: AppOpener) -> AppFactory:

    def factory(
        feed_urls: list[str], extra: str = "", block: bool = True, dns: ScriptedDns | None = None
    ) -> App:
        feeds = "".join(f"  - url: {u}\n    name: feed{i}\n" for i, u in enumerate(feed_urls))
        config = tmp_path / "config.yaml"
        config.write_text(
            f"database: sqlite:///monitor.db\nblock_private_addresses: {str(block).lower()}\n"
            f"defaults: {{interval: 5m, timeout: 2s}}\nfeeds:\n{feeds}{extra}"
        )
        app = open_app(config)
        app.address_policy = lab_policy
        if dns is not None:
            app.resolver = dns
        return app

    return factory


def errors(app: App) -> dict[str, str | None]:
    return {f.name or "": f.last_error for f in app.storage.feed_statuses()}


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6 does not slip through
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not a public address"),  # carrier-grade NAT
        ("198.18.0.1", "private"),  # benchmarking range
        ("240.0.0.1", "private"),  # reserved
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    refused = blocked_reason(ip_address(address))
    assert refused is not None and reason in refused


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2001:4860:4860::8888"])
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ip_address(address)) is None


def test_a_name_with_any_private_address_is_refused_whole() -> None:
    assert check("news.example", ["8.8.8.8"]) == ["8.8.8.8"]
    with pytest.raises(BlockedAddressError, match=r"news\.example resolves to 10\.0\.0\.5"):
        check("news.example", ["8.8.8.8", "10.0.0.5"])
    with pytest.raises(httpcore.ConnectError, match="no address"):
        check("news.example", [])


def test_loopback_feed_is_refused_and_never_requested(
    make_app: AppFactory, server: FeedServer, public: FeedServer
) -> None:
    server.route("/internal.xml", body=rss(news_items(2)))
    public.route("/world.xml", body=rss(news_items(3)))
    app = make_app([server.url("/internal.xml"), public.url("/world.xml")])

    report = poll_due(app)

    assert report.count("error") == 1 and report.count("ok") == 1
    error = errors(app)["feed0"]
    assert error == "refused by block_private_addresses: 127.0.0.1 is a loopback address"
    assert server.seen("/internal.xml") == []
    assert errors(app)["feed1"] is None and len(public.seen("/world.xml")) == 1


def test_a_name_for_loopback_is_refused(make_app: AppFactory, server: FeedServer) -> None:
    server.route("/internal.xml", body=rss(news_items(2)))
    port = server.base.rsplit(":", 1)[1]
    app = make_app([f"http://localhost:{port}/internal.xml"])

    poll_due(app)

    error = errors(app)["feed0"] or ""
    assert error.startswith("refused by block_private_addresses: localhost resolves to ")
    assert error.endswith("which is a loopback address")
    assert server.seen("/internal.xml") == []


def test_connects_to_the_address_it_checked(make_app: AppFactory, public: FeedServer) -> None:
    """news.example exists only in the scripted DNS: the fetch reaches the checked address."""
    public.route("/world.xml", body=rss(news_items(3)))
    port = public.base.rsplit(":", 1)[1]
    dns = ScriptedDns({"news.example": [[PUBLIC_STAND_IN]]})
    app = make_app([f"http://news.example:{port}/world.xml"], dns=dns)

    report = poll_due(app)

    assert report.count("ok") == 1, errors(app)
    assert dns.lookups == ["news.example"]  # one lookup, the one that was checked
    (seen,) = public.seen("/world.xml")
    assert seen.headers["host"] == f"news.example:{port}"  # the name still goes to the server


def test_redirect_to_loopback_is_refused(
    make_app: AppFactory, server: FeedServer, public: FeedServer
) -> None:
    server.route("/secret.xml", body=rss(news_items(2)))
    public.route("/go.xml", status=302, headers={"Location": server.url("/secret.xml")})
    app = make_app([public.url("/go.xml")])

    poll_due(app)

    assert len(public.seen("/go.xml")) == 1
    assert server.seen("/secret.xml") == []
    assert errors(app)["feed0"] == (
        "refused by block_private_addresses: 127.0.0.1 is a loopback address"
    )


def test_redirect_to_a_name_for_metadata_is_refused(
    make_app: AppFactory, public: FeedServer
) -> None:
    dns = ScriptedDns({"metadata.internal": [["169.254.169.254"]]})
    public.route("/go.xml", status=301, headers={"Location": "http://metadata.internal/latest/"})
    app = make_app([public.url("/go.xml")], dns=dns)

    poll_due(app)

    assert dns.lookups == [PUBLIC_STAND_IN, "metadata.internal"]  # each hop is looked up
    error = errors(app)["feed0"] or ""
    assert "metadata.internal resolves to 169.254.169.254" in error
    assert "link-local" in error


def test_dns_rebinding_is_caught_on_the_next_connection(
    make_app: AppFactory, server: FeedServer, public: FeedServer
) -> None:
    """The name answers public first, then loopback: the second connection is refused."""
    public.route("/world.xml", body=rss(news_items(3)))
    server.route("/world.xml", body=rss(news_items(3, prefix="internal")))
    public_port = public.base.rsplit(":", 1)[1]
    dns = ScriptedDns({"rebind.example": [[PUBLIC_STAND_IN], ["127.0.0.1"]]})
    app = make_app([f"http://rebind.example:{public_port}/world.xml"], dns=dns)

    assert poll_due(app, every_feed=True).count("ok") == 1
    assert poll_due(app, every_feed=True).count("error") == 1

    assert dns.lookups == ["rebind.example", "rebind.example"]
    assert "rebind.example resolves to 127.0.0.1" in (errors(app)["feed0"] or "")
    assert len(public.seen("/world.xml")) == 1 and server.seen("/world.xml") == []


def test_off_by_default_loopback_feeds_work(make_app: AppFactory, server: FeedServer) -> None:
    server.route("/local.xml", body=rss(news_items(2)))
    app = make_app([server.url("/local.xml")], block=False)
    assert poll_due(app).count("ok") == 1


def test_webhook_on_loopback_fails_at_once_and_is_not_retried(
    make_app: AppFactory, public: FeedServer, receiver: Receiver, clock: FakeClock
) -> None:
    item = Item(
        title="State of emergency declared",
        link="https://news.example.test/a",
        guid="a",
        summary="A state of emergency was declared.",
    )
    public.route("/world.xml", body=rss([item]))
    extra = (
        "rules:\n  - name: emergency\n    any: [state of emergency]\n"
        f"notifiers:\n  hook: {{type: webhook, url: '{receiver.url}'}}\n"
    )
    app = make_app([public.url("/world.xml")], extra=extra)
    poll_due(app)

    async def deliver() -> int:
        async with app.http_client() as client:
            return await app.delivery_worker(client).run_due()

    assert asyncio.run(deliver()) == 1
    clock.advance(hours=1)
    assert asyncio.run(deliver()) == 0  # failed for good, not queued for a retry

    assert receiver.received == []
    (record,) = Outbox(app.engine).alerts()
    (delivery,) = record.deliveries
    assert delivery.state == "failed"
    assert delivery.last_error == (
        "refused by block_private_addresses: 127.0.0.1 is a loopback address"
    )
