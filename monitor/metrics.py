"""Prometheus metrics: counters fed by the poller's and the delivery worker's hooks, and the
outbox gauges read from the database at scrape time.

Each ``Metrics`` has its own registry (never prometheus_client's global one), so a process
may build several, as the tests do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from monitor.poller import FeedOutcome
from monitor.storage.status import StatusReader

if TYPE_CHECKING:
    from monitor.app import App

log = logging.getLogger(__name__)

# No ``*_created`` series beside every counter: a timestamp per series that no dashboard of
# ours reads, which would double what each scrape carries.
disable_created_metrics()

POLL_OUTCOMES = ("ok", "unchanged", "error", "skipped")
DELIVERY_OUTCOMES = ("ok", "retry", "fail")
ARTICLE_OUTCOMES = ("ok", "retry", "failed")
# Fetches take from a few milliseconds to the 20 s default timeout (and beyond, when set).
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class Metrics:
    """The monitor's metrics; ``poll_done`` and ``delivery_attempt`` are the hooks to wire."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("monitor_polls", "Feed polls by outcome.", ["outcome"], registry=r)
        self.fetch_seconds = Histogram(
            "monitor_fetch_seconds", "Time one feed fetch took.", buckets=FETCH_BUCKETS, registry=r
        )
        self.entries = Counter(
            "monitor_entries_stored", "Entries stored, new or changed.", registry=r
        )
        self.alerts = Counter("monitor_alerts", "Alerts raised, by rule.", ["rule"], registry=r)
        self.deliveries = Counter(
            "monitor_deliveries",
            "Alerts in delivery attempts, by notifier and outcome (ok, retry, fail).",
            ["notifier", "outcome"],
            registry=r,
        )
        self.articles = Counter(
            "monitor_article_fetches",
            "Linked pages fetched for fetch_articles feeds, by outcome (ok, retry, failed).",
            ["outcome"],
            registry=r,
        )
        r.register(OutboxCollector(StatusReader(app.engine), app))
        for outcome in POLL_OUTCOMES:
            self.polls.labels(outcome)
        for outcome in ARTICLE_OUTCOMES:
            self.articles.labels(outcome)

    def poll_done(self, outcome: FeedOutcome) -> None:
        """The poller's ``on_outcome`` hook."""
        self.polls.labels(outcome.status).inc()
        if outcome.fetch_seconds is not None:
            self.fetch_seconds.observe(outcome.fetch_seconds)
        if outcome.new_entries:
            self.entries.inc(outcome.new_entries)
        for rule in outcome.alert_rules:
            self.alerts.labels(rule).inc()

    def delivery_attempt(self, notifier: str, outcome: str, alerts: int) -> None:
        """The delivery worker's ``on_attempt`` hook: one message carrying ``alerts`` alerts."""
        self.deliveries.labels(notifier, outcome).inc(alerts)

    def article_done(self, outcome: str) -> None:
        """The article worker's ``on_outcome`` hook: one attempt at an entry's linked page."""
        self.articles.labels(outcome).inc()

    def scrape(self) -> bytes:
        """The text exposition format; reads the database, so call it off the event loop.

        Series for every configured rule and notifier are there from the start, at zero,
        so a rate over them needs no first event (the config may have been reloaded).
        """
        config = self.app.config
        for rule in config.rules:
            self.alerts.labels(rule.name)
        for name in config.notifiers:
            for outcome in DELIVERY_OUTCOMES:
                self.deliveries.labels(name, outcome)
        return generate_latest(self.registry)


class OutboxCollector(Collector):
    """Outbox depth and the age of its oldest pending delivery, read when scraped."""

    def __init__(self, reader: StatusReader, app: App) -> None:
        self.reader = reader
        self.app = app

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families(0, 0.0))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            depth = self.reader.outbox_depth()
        except SQLAlchemyError as exc:  # an unreadable database must not fail the whole scrape
            log.warning("metrics: cannot read the outbox: %s", _reason(exc))
            return iter(())
        age = 0.0
        if depth.oldest is not None:
            age = max(0.0, (self.app.clock.now() - depth.oldest).total_seconds())
        return iter(self._families(depth.pending, age))

    @staticmethod
    def _families(pending: int, age: float) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "monitor_outbox_pending", "Deliveries waiting to be sent.", value=pending
            ),
            GaugeMetricFamily(
                "monitor_outbox_oldest_pending_seconds",
                "Age of the oldest pending delivery (0 when none).",
                value=age,
            ),
        ]


def _reason(exc: SQLAlchemyError) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
