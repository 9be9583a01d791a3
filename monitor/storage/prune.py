"""Retention: which stored entries may go, and deleting them in short transactions.

Alerts copy what they show of their entry and keep a nullable link to it, so
pruning an entry never touches an alert or its deliveries. Each feed keeps at
least as many of its newest entries as its last body held: an entry still in
the feed is never pruned, or the next poll would store it again as new (and a
rule added since could alert on a months-old story).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from monitor.storage.session import unit
from monitor.storage.tables import EntryRow, FeedRow

BATCH = 500  # entries deleted per transaction, so polls never wait long on the lock


def prunable_entries(engine: Engine, cutoff: datetime, limit: int | None = None) -> list[int]:
    """Ids of entries first seen before ``cutoff`` that are not among their feed's latest."""
    rank = (
        func.row_number()
        .over(
            partition_by=EntryRow.feed_id,
            order_by=(EntryRow.first_seen_at.desc(), EntryRow.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(
            EntryRow.id,
            EntryRow.first_seen_at,
            rank,
            func.coalesce(FeedRow.body_entries, 0).label("keep"),
        )
        .join(FeedRow, FeedRow.id == EntryRow.feed_id)
        .subquery()
    )
    query = (
        select(ranked.c.id)
        .where(ranked.c.first_seen_at < cutoff, ranked.c.rank > ranked.c.keep)
        .order_by(ranked.c.id)
        .limit(limit)
    )
    with unit(Session(engine)) as session:
        return list(session.scalars(query))


def delete_entries(engine: Engine, ids: Sequence[int]) -> int:
    """Delete these entries, ``BATCH`` per transaction; how many were deleted."""
    deleted = 0
    for start in range(0, len(ids), BATCH):
        chunk = list(ids[start : start + BATCH])
        with unit(Session(engine)) as session:
            result = session.execute(delete(EntryRow).where(EntryRow.id.in_(chunk)))
            deleted += int(result.rowcount)  # type: ignore[attr-defined]
    return deleted
