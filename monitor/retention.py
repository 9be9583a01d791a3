"""``retention.entries``: prune old entries once a day in the daemon, or on demand.

Only entries go: alerts (with the title, link and snippet they copied) and
their deliveries, pending or not, are kept whatever their age.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from monitor.storage.prune import delete_entries, prunable_entries

log = logging.getLogger(__name__)

CHUNK = 50_000  # ids read at a time, so a first prune of millions stays small in memory


@dataclass(frozen=True)
class PruneResult:
    cutoff: datetime
    pruned: int  # deleted, or with dry_run the number that would be


def prune_entries(
    engine: Engine, now: datetime, older_than: float, dry_run: bool = False
) -> PruneResult:
    """Delete entries first seen more than ``older_than`` seconds before ``now``.

    Each feed keeps as many of its newest entries as its last body held, so
    nothing still in a feed is pruned.
    """
    cutoff = now - timedelta(seconds=older_than)
    if dry_run:
        return PruneResult(cutoff, len(prunable_entries(engine, cutoff)))
    pruned = 0
    while ids := prunable_entries(engine, cutoff, CHUNK):
        pruned += delete_entries(engine, ids)
        if len(ids) < CHUNK:
            break
    if pruned:
        log.info("retention: pruned %d entries first seen before %s", pruned, cutoff.isoformat())
    return PruneResult(cutoff, pruned)
