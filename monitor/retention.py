"""``retention.entries``: prune old entries once a day in the daemon, or on demand.

Only entries go: alerts (with the title, link and snippet they copied) and
their deliveries, pending or not, are kept whatever their age, and so is every
entry still in its feed (``monitor.storage.prune``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from monitor.storage.prune import body_keys, delete_entries, old_entries

log = logging.getLogger(__name__)

CHUNK = 10_000  # old entries read at a time, so a first prune of millions stays small


@dataclass(frozen=True)
class PruneResult:
    cutoff: datetime
    pruned: int  # deleted, or with dry_run the number that would be


def prune_entries(
    engine: Engine, now: datetime, older_than: float, dry_run: bool = False
) -> PruneResult:
    """Delete entries first seen more than ``older_than`` seconds before ``now`` that are
    no longer in their feed."""
    cutoff = now - timedelta(seconds=older_than)
    in_feed = body_keys(engine)
    pruned, after = 0, 0
    while rows := old_entries(engine, cutoff, after, CHUNK):
        after = rows[-1][0]
        gone = [i for i, feed, key in rows if _prunable(in_feed.get(feed), key)]
        pruned += len(gone) if dry_run else delete_entries(engine, gone)
    if pruned and not dry_run:
        log.info("retention: pruned %d entries first seen before %s", pruned, cutoff.isoformat())
    return PruneResult(cutoff, pruned)


def _prunable(keys_in_feed: frozenset[str] | None, key: str) -> bool:
    """Not in its feed's last body; a feed whose last body is not known keeps everything."""
    return keys_in_feed is not None and key not in keys_in_feed
