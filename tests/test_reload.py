"""SIGHUP reloads config.yaml in the running daemon; a bad new config keeps the old one."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Config
from monitor.reload import restart_only_changes
from tests.support.daemon import Daemon, wait_for
from tests.support.feeds import Item, rss
from tests.support.process import monitor
from tests.support.server import FeedServer

pytestmark = pytest.mark.slow

BASE = Config.model_validate({"notifiers": {"stdout": {"type": "console"}}})


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"feeds": [{"url": "https://example.org/rss"}]}, []),
        ({"rules": [{"name": "r", "any": ["x"]}]}, []),
        ({"defaults": {"interval": "1m"}}, []),
        ({"retention": {"entries": "30d"}}, []),
        ({"database": "sqlite:///other.db"}, ["the database changed"]),
        ({"block_private_addresses": True}, ["block_private_addresses changed"]),
        ({"web": {"listen": "127.0.0.1:8080"}}, ["the web endpoint (web.listen) changed"]),
    ],
)
def test_what_a_reload_can_apply(change: dict[str, object], refused: list[str]) -> None:
    new = Config.model_validate({**BASE.model_dump(mode="json"), **change})
    reasons = restart_only_changes(BASE, new)
    assert [r.split(":")[0] for r in reasons] == refused


def config_text(server: FeedServer, feeds: list[str], rules: str) -> str:
    listed = "".join(f"  - url: {server.url(p)}\n    name: {p.strip('/')}\n" for p in feeds)
    return (
        "database: sqlite:///monitor.db\n"
        "defaults: {interval: 1h, timeout: 5s, backlog: 24h}\n"
        f"feeds:\n{listed}rules:\n{rules}"
        "notifiers:\n  stdout: {type: console}\n"
    )


EMERGENCY = '  - name: emergency\n    any: ["state of emergency"]\n'
BLACKOUT = '  - name: blackout\n    any: ["internet blackout"]\n'


def story(title: str, n: int) -> Item:
    return Item(
        title=title,
        link=f"https://news.example.test/{n}",
        guid=f"g{n}",
        published=datetime.now(UTC) - timedelta(minutes=5),
    )


def test_sighup_adds_a_feed_and_a_rule_and_rejects_a_bad_config(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path, str], Daemon]
) -> None:
    server.route("/world.xml", body=rss([story("State of emergency declared", 1)]))
    server.route("/tech.xml", body=rss([story("Internet blackout in the capital", 2)]))
    config = tmp_path / "config.yaml"
    config.write_text(config_text(server, ["/world.xml"], EMERGENCY))
    daemon = daemons(config, "daemon")
    wait_for(lambda: "emergency" in daemon.out_path.read_text(), what="the first alert")
    assert server.seen("/tech.xml") == []

    config.write_text(config_text(server, ["/world.xml"], EMERGENCY) + "bogus: 1\n")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "keeping the configuration in use" in daemon.stderr, what="rejection")
    assert "config.yaml:" in daemon.stderr and "bogus: unknown key" in daemon.stderr

    config.write_text(config_text(server, ["/world.xml", "/tech.xml"], EMERGENCY + BLACKOUT))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "blackout" in daemon.out_path.read_text(), what="the new rule's alert")

    out = daemon.out_path.read_text()
    assert len(server.seen("/tech.xml")) == 1  # polled at once, not after the old interval
    assert len(server.seen("/world.xml")) == 1  # the reload does not re-poll the others
    assert out.count(" | emergency | ") == 1 and out.count(" | blackout | ") == 1
    assert "reload: " in daemon.stderr and "2 feeds, 2 rules, 1 notifiers" in daemon.stderr

    config.write_text(config_text(server, ["/tech.xml"], BLACKOUT))  # world.xml goes
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "1 feeds, 1 rules, 1 notifiers" in daemon.stderr, what="the third reload")
    listing = monitor("feeds", "-c", str(config))
    world = next(line for line in listing.stdout.splitlines() if "world.xml" in line)
    assert "(removed from config)" in world
    assert daemon.stop()[0] == 0


def test_a_web_port_in_use_stops_the_daemon_with_one_line(
    tmp_path: Path, server: FeedServer
) -> None:
    server.route("/world.xml", body=rss([]))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "config.yaml"
        config.write_text(
            config_text(server, ["/world.xml"], EMERGENCY) + f"web: {{listen: 127.0.0.1:{port}}}\n"
        )
        result = monitor("run", "-c", str(config), timeout=30)

    assert result.returncode == 1
    assert f"monitor: web: cannot listen on 127.0.0.1:{port}: " in result.stderr
    assert "Traceback" not in result.stderr
