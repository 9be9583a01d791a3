"""A migrated database and a set of feeds in it, for tests of storage on its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.storage import Storage
from monitor.storage.db import create, upgrade
from monitor.storage.repo import FeedSpec
from monitor.storage.tables import FeedRow


@contextmanager
def migrated(url: str) -> Iterator[Engine]:
    """An engine on ``url`` with every migration applied, disposed of afterwards."""
    engine = create(url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def with_feeds(engine: Engine, n: int, now: datetime) -> list[int]:
    """``n`` feeds synced as a config would add them; their ids in order."""
    Storage(engine, "setup").sync_feeds(
        [FeedSpec(f"http://feeds.example/{i}.xml", f"feed {i}") for i in range(n)], now
    )
    with Session(engine) as session:
        return list(session.scalars(select(FeedRow.id).order_by(FeedRow.id)))
