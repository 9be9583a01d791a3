"""SIGHUP: which parts of a new configuration can take effect without a restart.

Feeds, rules, notifiers, defaults, retention and health settings change in the
running daemon; the database, the network guard and the web listener are fixed
at start, so a new config that changes them is refused as a whole and the old
one kept (a half-applied reload would be harder to reason about than a restart).
"""

from __future__ import annotations

from monitor.config import Config

RESTART_ONLY = {
    "database": "the database",
    "block_private_addresses": "block_private_addresses",
    "web": "the web endpoint (web.listen)",
}


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """What ``new`` changes that only a restart can apply, as readable reasons."""
    return [
        f"{label} changed: restart the monitor to apply it"
        for key, label in RESTART_ONLY.items()
        if getattr(old, key) != getattr(new, key)
    ]
