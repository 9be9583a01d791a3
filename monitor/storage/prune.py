"""Retention: which stored entries may go, and deleting them in short transactions.

Alerts copy what they show of their entry and keep a nullable link to it, so
pruning an entry never touches an alert or its deliveries. An entry still in its
feed's last parsed body is never pruned, or the next poll would store it again
as new (and a rule added since could alert on a months-old story); a feed whose
last body is not known (not parsed since the upgrade that records it) keeps all
of its entries until it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from monitor.storage.session import batches, unit
from monitor.storage.tables import EntryRow, FeedRow

BATCH = 500  # entries deleted per transaction, so polls never wait long on the lock


def body_keys(engine: Engine) -> dict[int, frozenset[str] | None]:
    """Each feed's entry keys in its last parsed body; None where that is not known."""
    with unit(Session(engine)) as session:
        rows = session.execute(select(FeedRow.id, FeedRow.body_keys))
        return {feed_id: None if keys is None else frozenset(keys) for feed_id, keys in rows}


def old_entries(
    engine: Engine, cutoff: datetime, after_id: int, limit: int
) -> list[tuple[int, int, str]]:
    """(id, feed id, key) of entries first seen before ``cutoff``, by id after ``after_id``."""
    query = (
        select(EntryRow.id, EntryRow.feed_id, EntryRow.key)
        .where(EntryRow.first_seen_at < cutoff, EntryRow.id > after_id)
        .order_by(EntryRow.id)
        .limit(limit)
    )
    with unit(Session(engine)) as session:
        return [(i, f, k) for i, f, k in session.execute(query)]


def delete_entries(engine: Engine, ids: Sequence[int]) -> int:
    """Delete these entries, ``BATCH`` per transaction; how many were deleted."""
    deleted = 0
    for chunk in batches(ids, BATCH):
        with unit(Session(engine)) as session:
            result = session.execute(delete(EntryRow).where(EntryRow.id.in_(chunk)))
            deleted += int(result.rowcount)  # type: ignore[attr-defined]
    return deleted
