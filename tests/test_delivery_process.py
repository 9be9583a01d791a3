"""Delivery through the real ``monitor`` process: crashes, SIGTERM mid-send, Slack bursts, CLI.

Every test starts ``python -m monitor`` as a subprocess against a config.yaml and a SQLite file
in tmp_path, with feeds served by FeedServer and notifiers pointing at the Receiver, both on
127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import Daemon, wait_for
from tests.support.feeds import Item, rss
from tests.support.receiver import Receiver
from tests.support.server import FeedServer

pytestmark = pytest.mark.slow

SECRET_KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(SECRET_KEY).decode("ascii")
EMERGENCY_RULE = 'rules:\n  - name: emergency\n    any: ["state of emergency"]\n'


# --- helpers -----------------------------------------------------------------------------------


def write_config(
    tmp_path: Path,
    server: FeedServer,
    paths: list[str],
    notifiers: dict[str, str],
    interval: str = "5m",
) -> Path:
    """A config.yaml with these feeds, the ``emergency`` rule and these notifiers (inline YAML)."""
    feeds = "".join(f"  - url: {server.url(p)}\n    name: {p.strip('/')}\n" for p in paths)
    notify = "".join(f"  {name}: {spec}\n" for name, spec in notifiers.items())
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: sqlite:///monitor.db\n"
        f"defaults:\n  interval: {interval}\n  timeout: 5s\n  backlog: 24h\n"
        f"feeds:\n{feeds}{EMERGENCY_RULE}notifiers:\n{notify}",
        encoding="utf-8",
    )
    return config


def webhook(receiver: Receiver, secret: str | None = SECRET) -> str:
    extra = f', secret: "{secret}"' if secret else ""
    return f'{{type: webhook, url: "{receiver.url}"{extra}}}'


def emergency_items(count: int, prefix: str = "story") -> list[Item]:
    """``count`` recent entries that all match ``emergency``, each with its own link."""
    published = datetime.now(UTC) - timedelta(minutes=5)
    return [
        Item(
            title=f"State of emergency declared in district {n:03d}",
            link=f"http://news.example.test/{prefix}/{n}",
            guid=f"{prefix}-{n}",
            summary=f"Authorities declared a state of emergency in district {n:03d}.",
            published=published,
        )
        for n in range(count)
    ]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def monitor(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one ``monitor`` command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def alert_ids(db: Path) -> set[str]:
    return {row[0] for row in query(db, "SELECT id FROM alerts")}


def delivery_states(db: Path) -> dict[str, str]:
    return dict(query(db, "SELECT alert_id, state FROM deliveries"))  # type: ignore[arg-type]


def assert_signed(received: Any) -> None:
    """The Standard Webhooks signature over ``id.timestamp.body`` with the decoded secret."""
    headers = received.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + received.body
    expected = base64.b64encode(hmac.new(SECRET_KEY, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def texts(obj: Any) -> Iterator[str]:
    """Every ``text`` string anywhere in a Slack message."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from texts(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from texts(value)


# --- tests -------------------------------------------------------------------------------------


def test_kill_during_a_send_then_restart_delivers_every_alert_once_per_id(
    tmp_path: Path, server: FeedServer, receiver: Receiver, daemons: Callable[..., Daemon]
) -> None:
    server.route("/world.xml", body=rss(emergency_items(5)))
    config = write_config(tmp_path, server, ["/world.xml"], {"hook": webhook(receiver)})
    db = tmp_path / "monitor.db"

    receiver.hold()
    first = daemons(config, "first")
    try:
        assert receiver.holding.wait(15), first.stderr
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
    finally:
        receiver.release()
    assert first.proc.returncode == -signal.SIGKILL
    stored = alert_ids(db)
    assert len(stored) == 5

    second = daemons(config, "second")
    wait_for(lambda: len(set(receiver.accepted)) >= 5, what="all 5 alerts accepted")
    code, took = second.stop(signal.SIGTERM)

    assert code == 0, second.stderr
    assert took < 5, f"exit took {took:.1f}s"
    assert "Traceback" not in second.stderr
    assert len(receiver.accepted) == 5
    assert set(receiver.accepted) == stored
    assert set(receiver.duplicates) <= set(receiver.accepted)
    assert len(receiver.duplicates) <= 1  # at most the one in flight when the process died
    for received in receiver.received:
        assert received.headers["webhook-id"] == received.json()["id"]
        assert_signed(received)
    assert set(delivery_states(db).values()) == {"sent"}
    assert alert_ids(db) == stored  # the restart made no second alert for the same stories


def test_sigterm_during_a_send_exits_promptly_and_loses_nothing(
    tmp_path: Path, server: FeedServer, receiver: Receiver, daemons: Callable[..., Daemon]
) -> None:
    server.route("/world.xml", body=rss(emergency_items(3)))
    config = write_config(tmp_path, server, ["/world.xml"], {"hook": webhook(receiver)})
    db = tmp_path / "monitor.db"

    receiver.hold()
    daemon = daemons(config)
    try:
        assert receiver.holding.wait(15), daemon.stderr
        code, took = daemon.stop(signal.SIGTERM)
    finally:
        receiver.release()

    assert took < 8, f"exit took {took:.1f}s"
    assert code == 0, daemon.stderr
    assert "Traceback" not in daemon.stderr
    stored = alert_ids(db)
    assert len(stored) == 3
    states = delivery_states(db)
    assert set(states) == stored
    assert set(states.values()) <= {"sent", "pending"}, states
    assert "pending" in states.values()  # the held send was cut off: it goes on the next start

    run = monitor(config, "run", "--once", "--max-wait", "10")

    assert run.returncode == 0, run.stderr
    wait_for(lambda: set(receiver.accepted) == stored, timeout=2, what="every alert accepted")
    assert set(receiver.duplicates) <= set(receiver.accepted)
    assert set(delivery_states(db).values()) == {"sent"}


def test_a_burst_to_slack_becomes_a_few_paced_digests(
    tmp_path: Path, server: FeedServer, receiver: Receiver
) -> None:
    items = [
        Item(
            title=f"State of emergency & curfew in district {n:03d}",
            link=f"http://news.example.test/burst/{n}",
            guid=f"burst-{n}",
            published=datetime.now(UTC) - timedelta(minutes=5),
        )
        for n in range(100)
    ]
    body = rss(items)
    served: list[float] = []

    def serve(handler: BaseHTTPRequestHandler) -> None:
        served.append(time.monotonic())
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server.route("/burst.xml", handler=serve)
    config = write_config(
        tmp_path, server, ["/burst.xml"], {"ops-slack": f'{{type: slack, url: "{receiver.url}"}}'}
    )

    run = monitor(config, "run", "--once", "--max-wait", "30")

    assert run.returncode == 0, run.stderr
    messages = receiver.ok()
    assert 1 <= len(messages) <= 5, len(messages)
    assert len(served) == 1
    assert messages[0].at - served[0] < 1.5, "the first message waited for no reason"
    gaps = [b.at - a.at for a, b in zip(messages, messages[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps
    for message in messages:
        assert message.headers["content-type"] == "application/json"
        assert set(message.json()) >= {"text", "blocks"}
    shown = "\n".join(t for m in messages for t in texts(m.json()))
    for n in range(100):
        assert f"State of emergency &amp; curfew in district {n:03d}" in shown, n
        assert f"<http://news.example.test/burst/{n}|" in shown, n
    assert "& curfew" not in shown  # every ampersand escaped for Slack
    assert set(delivery_states(tmp_path / "monitor.db").values()) == {"sent"}


def test_run_once_prints_one_console_line_per_alert(tmp_path: Path, server: FeedServer) -> None:
    matching = emergency_items(3)
    other = Item(
        title="Markets close higher",
        link="http://news.example.test/markets/1",
        guid="markets-1",
        summary="Nothing to see here.",
        published=datetime.now(UTC) - timedelta(minutes=5),
    )
    server.route("/world.xml", body=rss([*matching, other]))
    config = write_config(tmp_path, server, ["/world.xml"], {"stdout": "{type: console}"})

    run = monitor(config, "run", "--once", "--max-wait", "10")

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3, run.stdout
    for item in matching:
        (line,) = [line for line in lines if line.endswith(str(item.link))]
        assert "emergency" in line
        assert item.title in line
        assert "world.xml" in line
    assert "markets" not in run.stdout


def test_failed_delivery_is_listed_retried_and_delivered(
    tmp_path: Path, server: FeedServer, receiver: Receiver
) -> None:
    server.route("/world.xml", body=rss(emergency_items(1)))
    config = write_config(tmp_path, server, ["/world.xml"], {"hook": webhook(receiver)})
    db = tmp_path / "monitor.db"
    receiver.script(400)

    run = monitor(config, "run", "--once", "--max-wait", "10")

    assert run.returncode == 0, run.stderr
    (alert_id,) = alert_ids(db)
    assert receiver.accepted == []
    assert [r.status for r in receiver.received] == [400]  # a 400 fails at once, no retry
    failed = monitor(config, "alerts", "--failed")
    assert failed.returncode == 0, failed.stderr
    assert alert_id in failed.stdout
    assert "400" in failed.stdout
    assert SECRET not in failed.stdout

    retry = monitor(config, "alerts", "retry")
    assert retry.returncode == 0, retry.stderr
    assert delivery_states(db) == {alert_id: "pending"}

    again = monitor(config, "run", "--once", "--max-wait", "10")

    assert again.returncode == 0, again.stderr
    assert receiver.accepted == [alert_id]
    assert delivery_states(db) == {alert_id: "sent"}
    after = monitor(config, "alerts", "--failed")
    assert after.returncode == 0, after.stderr
    assert alert_id not in after.stdout
    listed = monitor(config, "alerts")
    assert listed.returncode == 0, listed.stderr
    assert alert_id in listed.stdout and "sent" in listed.stdout
