from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.app import App
from monitor.config import load_config
from tests.support.daemon import Daemon
from tests.support.postgres import fresh_schema
from tests.support.receiver import Receiver
from tests.support.server import FeedServer


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> datetime:
        self.current += timedelta(**kwargs)
        return self.current


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    srv = Receiver().start()
    yield srv
    srv.stop()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A database URL on the local PostgreSQL, in a schema of this test's own."""
    with fresh_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitor.db'}"
        return
    with fresh_schema() as url:
        yield url


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to 127.0.0.1 only; a proxy from the environment must not get in between."""
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(name)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def daemons() -> Iterator[Callable[[Path, str], Daemon]]:
    """Start daemons; whatever is still running at the end of the test is killed."""
    started: list[Daemon] = []

    def start(config: Path, name: str = "daemon") -> Daemon:
        daemon = Daemon(config, name)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


AppOpener = Callable[[Path], App]


@pytest.fixture
def open_app(clock: FakeClock) -> Iterator[AppOpener]:
    """Open an App on a config file, with the test's clock and its feeds synced; every app
    opened is closed when the test ends."""
    opened: list[App] = []

    def open_(config: Path) -> App:
        app = App.open(load_config(config, env={}), clock=clock)
        app.sync_feeds()
        opened.append(app)
        return app

    yield open_
    for app in opened:
        app.close()
