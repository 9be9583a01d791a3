"""One poll cycle driven from a test: a fresh client, fixed jitter, due (or every) feed."""

from __future__ import annotations

import asyncio

from monitor.app import App
from monitor.poller import CycleReport


def poll_due(app: App, every_feed: bool = False) -> CycleReport:
    """Poll the feeds due by the app's clock (or every active feed) once, jitter fixed at 0."""

    async def go() -> CycleReport:
        async with app.http_client() as client:
            poller = app.poller(client, rand=lambda: 0.5)
            due = app.storage.due_feeds(None if every_feed else app.clock.now())
            return await poller.poll_many(due)

    return asyncio.run(go())
