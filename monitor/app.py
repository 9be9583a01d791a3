"""Wiring: from a loaded configuration to the storage, fetcher and poller that serve it."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine

from monitor.alerting import Alerter
from monitor.clock import Clock, SystemClock
from monitor.config import Config, FeedConfig, LoadedConfig, RuleConfig
from monitor.delivery import DeliveryWorker
from monitor.errors import StorageError
from monitor.fetch import Fetcher, make_client
from monitor.matching.matcher import Matcher, RuleSpec
from monitor.matching.query import Node, any_of, parse_query
from monitor.netguard import GuardedBackend, Policy, Resolver, blocked_reason, system_resolver
from monitor.notify.senders import build_senders
from monitor.poller import FeedSettings, Poller
from monitor.storage import Storage, open_database
from monitor.storage.outbox import Outbox
from monitor.storage.repo import FeedSpec


def feed_settings(config: Config) -> dict[str, FeedSettings]:
    """Per-feed settings keyed by the feed's configured URL, defaults filled in."""
    return {feed.url: _settings(feed, config) for feed in config.feeds}


def feed_specs(config: Config) -> list[FeedSpec]:
    """What the feeds table must hold for ``config``."""
    return [FeedSpec(config_url=f.url, name=f.name) for f in config.feeds]


def rule_query(rule: RuleConfig) -> Node:
    """The rule's query tree; the config was validated, so it parses."""
    return parse_query(rule.query) if rule.query is not None else any_of(rule.any or [])


def build_matcher(config: Config) -> Matcher:
    return Matcher([RuleSpec(name=r.name, query=rule_query(r)) for r in config.rules])


def notify_map(config: Config) -> dict[str, tuple[str, ...]]:
    """For each rule, the enabled notifiers it alerts: its ``notify`` list, else all."""
    enabled = [name for name, n in config.notifiers.items() if n.enabled]
    return {
        rule.name: tuple(
            n for n in (rule.notify if rule.notify is not None else enabled) if n in enabled
        )
        for rule in config.rules
    }


def alerter_for(config: Config) -> Alerter:
    """One matcher for every rule of ``config``, and each rule's enabled notifiers."""
    return Alerter(build_matcher(config), notify_map(config))


def claim_lease(config: Config) -> float:
    """How long a claimed feed stays this instance's: twice the longest fetch, plus time to
    parse and store. A dead instance's feeds are polled by the others once it runs out."""
    default = config.defaults.timeout
    return 2 * max((f.timeout or default for f in config.feeds), default=default) + 10


def http_client(
    config: Config, resolver: Resolver = system_resolver, policy: Policy = blocked_reason
) -> httpx.AsyncClient:
    """A client as ``config`` allows: guarded when ``block_private_addresses`` is on.

    Commands that fetch without opening the database (``feeds add``) use it directly.
    """
    guard = None
    if config.block_private_addresses:
        guard = GuardedBackend(resolver=resolver, policy=policy)
    return make_client(guard=guard)


def _settings(feed: FeedConfig, config: Config) -> FeedSettings:
    d = config.defaults
    return FeedSettings(
        label=feed.name or feed.url,
        name=feed.name,
        interval=feed.interval or d.interval,
        timeout=feed.timeout or d.timeout,
        backlog=feed.backlog or d.backlog,
        rules=tuple(feed.rules) if feed.rules is not None else None,
        fetch_articles=(
            feed.fetch_articles if feed.fetch_articles is not None else d.fetch_articles
        ),
    )


@dataclass
class App:
    """Everything one monitor process needs, built once from its configuration."""

    loaded: LoadedConfig
    engine: Engine
    storage: Storage
    clock: Clock
    resolver: Resolver = system_resolver  # how block_private_addresses resolves hosts
    address_policy: Policy = blocked_reason  # and which addresses it refuses
    # feed settings of the configuration they were built from (rebuilt after a reload)
    _settings: dict[str, FeedSettings] = field(default_factory=dict, repr=False)
    _settings_of: LoadedConfig | None = field(default=None, repr=False)

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
        self.storage.sync_feeds(feed_specs(self.config), self.clock.now())

    def http_client(self) -> httpx.AsyncClient:
        """The client for feeds and notifiers; guarded when ``block_private_addresses`` is on."""
        return http_client(self.config, self.resolver, self.address_policy)

    def poller(
        self,
        client: httpx.AsyncClient,
        rand: Callable[[], float] = random.random,
        on_alerts: Callable[[], None] | None = None,
        on_fatal: Callable[[StorageError], None] | None = None,
    ) -> Poller:
        """A poller fetching through ``client``, which the caller opens and closes."""
        fetcher = Fetcher(client, clock=self.clock)
        settings = self.feed_settings()
        poller = Poller(
            self.storage,
            fetcher,
            settings,
            self.clock,
            self.alerter(),
            rand=rand,
            on_alerts=on_alerts,
            on_fatal=on_fatal,
        )
        if self.shared_database:
            poller.lease = claim_lease(self.config)
        return poller

    @property
    def shared_database(self) -> bool:
        """Whether other instances may use the database (PostgreSQL; SQLite serves one)."""
        return self.engine.dialect.name != "sqlite"

    def delivery_worker(self, client: httpx.AsyncClient) -> DeliveryWorker:
        """A worker sending the outbox through every enabled notifier."""
        senders = build_senders(dict(self.config.notifiers), client, self.clock)
        outbox = Outbox(self.engine, self.storage.instance, self.rule_applies)
        return DeliveryWorker(outbox, senders, self.clock)

    def rule_applies(self, rule: str, feed_url: str) -> bool:
        """Whether ``rule`` watches the feed configured at ``feed_url`` (as configured now)."""
        feed = self.feed_settings().get(feed_url)
        return feed is not None and (feed.rules is None or rule in feed.rules)

    def feed_settings(self) -> dict[str, FeedSettings]:
        """``feed_settings`` of the configuration as it is now, built once per configuration
        (a pass of ``run --once`` and every outbox check ask for them)."""
        if self._settings_of is not self.loaded:
            self._settings, self._settings_of = feed_settings(self.config), self.loaded
        return self._settings

    def alerter(self) -> Alerter:
        """One matcher for every rule, and each rule's enabled notifiers."""
        return alerter_for(self.config)

    def close(self) -> None:
        self.engine.dispose()
