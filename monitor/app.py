"""Wiring: from a loaded configuration to the storage, fetcher and poller that serve it."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine

from monitor.clock import Clock, SystemClock
from monitor.config import Config, FeedConfig, LoadedConfig
from monitor.fetch import Fetcher
from monitor.poller import FeedSettings, Poller
from monitor.storage import Storage, open_database
from monitor.storage.repo import FeedSpec


def feed_settings(config: Config) -> dict[str, FeedSettings]:
    """Per-feed settings keyed by the feed's configured URL, defaults filled in."""
    return {feed.url: _settings(feed, config) for feed in config.feeds}


def _settings(feed: FeedConfig, config: Config) -> FeedSettings:
    d = config.defaults
    return FeedSettings(
        label=feed.name or feed.url,
        interval=feed.interval or d.interval,
        timeout=feed.timeout or d.timeout,
        backlog=feed.backlog or d.backlog,
        rules=tuple(feed.rules) if feed.rules is not None else None,
    )


@dataclass
class App:
    """Everything one monitor process needs, built once from its configuration."""

    loaded: LoadedConfig
    engine: Engine
    storage: Storage
    clock: Clock

    @classmethod
    def open(cls, loaded: LoadedConfig, clock: Clock | None = None, migrate: bool = True) -> App:
        engine = open_database(loaded.config.database, loaded.base_dir, migrate=migrate)
        return cls(
            loaded=loaded, engine=engine, storage=Storage(engine), clock=clock or SystemClock()
        )

    @property
    def config(self) -> Config:
        return self.loaded.config

    def sync_feeds(self) -> None:
        """Bring the feeds table in line with the configuration."""
        specs = [FeedSpec(config_url=f.url, name=f.name) for f in self.config.feeds]
        self.storage.sync_feeds(specs, self.clock.now())

    def poller(
        self, client: httpx.AsyncClient, rand: Callable[[], float] = random.random
    ) -> Poller:
        """A poller fetching through ``client``, which the caller opens and closes."""
        fetcher = Fetcher(client, clock=self.clock)
        return Poller(self.storage, fetcher, feed_settings(self.config), self.clock, rand=rand)

    def close(self) -> None:
        self.engine.dispose()
