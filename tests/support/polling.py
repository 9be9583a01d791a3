"""One poll cycle driven from a test: a fresh client, fixed jitter, due (or every) feed."""

from __future__ import annotations

import asyncio

from monitor.app import App, claim_lease
from monitor.poller import CycleReport


def poll_due(app: App, every_feed: bool = False) -> CycleReport:
    """Claim and poll the feeds due by the app's clock (or every active feed) once, jitter 0.5."""

    async def go() -> CycleReport:
        async with app.http_client() as client:
            poller = app.poller(client, rand=lambda: 0.5)
            due = app.storage.claim_due(app.clock.now(), claim_lease(app.config), every=every_feed)
            return await poller.poll_many(due)

    return asyncio.run(go())
