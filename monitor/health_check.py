"""The health check the daemon runs once a minute: ``feeds | transitions | record``.

Reads every active feed's failure streak, last successful poll and newest entry
times, decides with ``monitor.health`` whether its health changed, and writes each change with its
alert to ``health_notify`` through the outbox, so delivery, retries and
``monitor alerts`` treat it like any other alert.
"""

from __future__ import annotations

import logging
from datetime import datetime

from monitor.app import App
from monitor.config import Config
from monitor.health import OK, transitions
from monitor.storage.health import HealthStore

log = logging.getLogger(__name__)


def health_notifiers(config: Config) -> tuple[str, ...]:
    """The notifiers named by ``health_notify`` that are on (a URL left empty turns one off)."""
    return tuple(n for n in config.health_notify if n in config.notifiers and _on(config, n))


def _on(config: Config, name: str) -> bool:
    return config.notifiers[name].enabled


def check_feed_health(app: App, now: datetime) -> int:
    """Raise the health alerts due at ``now``; how many were raised.

    Does nothing without ``health_notify``. Safe to run from several instances at
    once: each change alerts once. A database failure raises StorageError.
    """
    notifiers = health_notifiers(app.config)
    if not notifiers:
        return 0
    store = HealthStore(app.engine, app.storage.instance)
    raised = 0
    for change in transitions(store.feeds(), app.config.health, now):
        if store.record(change, notifiers):
            level = logging.INFO if change.new == OK else logging.WARNING
            log.log(level, "feed %s: health %s -> %s", change.feed.name, change.old, change.new)
            raised += 1
    return raised
