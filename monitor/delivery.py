"""The delivery worker: ``due deliveries | group per notifier | batch | send | record``.

Each notifier is served by its own task, so a slow or failing receiver never
delays the others; within one notifier, alerts go in order of detection. A
send cancelled mid-flight (SIGTERM) records nothing: the delivery stays
pending and goes again on the next start, with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from monitor.clock import Clock
from monitor.errors import StorageError
from monitor.notify.base import SEND_TIMEOUT, Notifier
from monitor.retry import Outcome, next_attempt
from monitor.storage.outbox import AttemptResult, DueDelivery, Outbox

log = logging.getLogger(__name__)

# How long a notifier's queue stays with this instance without a renewal: renewed
# before every message, so it must outlast one send (timeout) and the pacing.
LEASE_SECONDS = 2 * SEND_TIMEOUT + 5


class DeliveryWorker:
    """Sends due deliveries through their notifiers and records every attempt."""

    def __init__(
        self,
        outbox: Outbox,
        notifiers: dict[str, Notifier],
        clock: Clock,
        rand: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.notifiers = notifiers
        self.clock = clock
        self.rand = rand
        self.monotonic = monotonic
        self._last_sent: dict[str, float] = {}
        self.lease = LEASE_SECONDS
        self._serving: dict[str, asyncio.Task[None]] = {}
        self.on_done: Callable[[], None] | None = None  # told when a notifier's task ends
        self.on_fatal: Callable[[StorageError], None] | None = None  # the database is unusable
        # told of every attempt: notifier, outcome ("ok", "retry", "fail"), alerts in the message
        self.on_attempt: Callable[[str, str, int], None] | None = None
        self.fatal: StorageError | None = None

    def start_due(self) -> int:
        """Start a task for every notifier with due deliveries that is not being served already.

        Returns at once: a receiver that hangs until its timeout holds up only its
        own task, never the other notifiers nor the caller.
        """
        groups = self.outbox.claim_due(self.clock.now(), self.lease, exclude=self._serving)
        for name, items in groups.items():
            task = asyncio.create_task(self._serve(name, items), name=f"deliver to {name}")
            self._serving[name] = task
            task.add_done_callback(partial(self._served, name))
        return sum(len(items) for items in groups.values())

    async def run_due(self) -> int:
        """Send everything due now and wait until it is sent; how many deliveries were tried."""
        started = self.start_due()
        await self.wait()
        return started

    async def wait(self) -> None:
        """Until no notifier is being served."""
        while self._serving:
            await asyncio.wait(list(self._serving.values()))

    async def stop(self, grace: float) -> None:
        """Let sends in progress finish for up to ``grace`` seconds, then cancel them.

        A cancelled send records nothing: it stays pending and goes again on the next start.
        """
        tasks = list(self._serving.values())
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    def _served(self, name: str, task: asyncio.Task[None]) -> None:
        self._serving.pop(name, None)
        exc = None if task.cancelled() else task.exception()
        if isinstance(exc, StorageError):  # the send happened; it goes again (same webhook-id)
            log.error(
                "notifier %s: cannot record the delivery: %s",
                name,
                exc,
                extra=_fields(name, "not_recorded", error=str(exc)),
            )
            if exc.fatal:
                self.fatal = exc
                if self.on_fatal is not None:
                    self.on_fatal(exc)
            return
        if exc is not None:
            log.error(
                "notifier %s: delivery failed: %r",
                name,
                exc,
                exc_info=exc,
                extra=_fields(name, "error", error=repr(exc)),
            )
        if self.on_done is not None:
            self.on_done()

    async def drain(self, max_wait: float) -> None:
        """Deliver until nothing is pending or ``max_wait`` seconds have passed (for ``--once``)."""
        deadline = self.monotonic() + max_wait
        while True:
            await self.run_due()
            if self.fatal is not None:
                raise self.fatal
            next_due = self.outbox.next_due()
            if next_due is None:
                return
            wait = max(0.0, (next_due - self.clock.now()).total_seconds())
            if self.monotonic() + wait > deadline:
                log.warning(
                    "%d deliveries still pending after --max-wait", self.outbox.pending_count()
                )
                return
            await asyncio.sleep(min(wait, 1.0) if wait > 0 else 0.05)

    async def _serve(self, name: str, items: list[DueDelivery]) -> None:
        """Send a notifier's due deliveries in order, holding its lease while at it."""
        try:
            notifier = self.notifiers.get(name)
            if notifier is None:
                error = f"notifier {name!r} is not configured or is off"
                result = AttemptResult("fail", None, error)
                self.outbox.record([d.id for d in items], result, self.clock.now())
                _log_attempt(name, len(items), result)
                return
            by_alert = {d.alert.id: d for d in items}
            for batch in notifier.batches([d.alert for d in items]):
                await self._pace(notifier)
                if not self.outbox.renew(name, self.clock.now(), self.lease):
                    log.warning(
                        "notifier %s: another instance took over its queue",
                        name,
                        extra=_fields(name, "skipped"),
                    )
                    return
                if not await self._send(notifier, [by_alert[a.id] for a in batch]):
                    return  # later alerts wait behind the one being retried, keeping their order
        finally:
            self.outbox.release(name)

    async def _send(self, notifier: Notifier, batch: Sequence[DueDelivery]) -> bool:
        """Send one message and record the attempt; whether the notifier may go on."""
        bug: Exception | None = None
        try:
            outcome = await notifier.send([d.alert for d in batch])
        except Exception as exc:  # a bug in a notifier must not stop the others
            bug = exc
            outcome = Outcome("retry", None, f"internal error: {exc!r}", None)
        self._last_sent[notifier.name] = self.monotonic()
        now = self.clock.now()
        result = self._result(outcome, batch, now)
        self.outbox.record([d.id for d in batch], result, now)
        if self.on_attempt is not None:
            self.on_attempt(notifier.name, outcome.kind, len(batch))
        _log_attempt(notifier.name, len(batch), result, bug)
        return outcome.kind != "retry"

    def _result(
        self, outcome: Outcome, batch: Sequence[DueDelivery], now: datetime
    ) -> AttemptResult:
        error = outcome.error or (f"HTTP {outcome.status}" if outcome.kind != "ok" else None)
        if outcome.kind != "retry":
            return AttemptResult(outcome.kind, outcome.status, error)
        first = min((d.first_attempt_at or now for d in batch), default=now)
        attempt = max(d.attempts for d in batch) + 1
        when = next_attempt(attempt, now, first, outcome.retry_after, self.rand)
        if when is None:
            error = f"gave up after 24 hours: {error}"
        return AttemptResult("retry", outcome.status, error, when)

    async def _pace(self, notifier: Notifier) -> None:
        last = self._last_sent.get(notifier.name)
        if last is not None and notifier.min_interval > 0:
            wait = last + notifier.min_interval - self.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)


def _fields(notifier: str, status: str, **more: object) -> dict[str, object]:
    """Structured fields of a delivery line; the notifier's URL is never among them."""
    return {"event": "delivery", "notifier": notifier, "status": status, **more}


def _log_attempt(
    name: str, count: int, result: AttemptResult, bug: Exception | None = None
) -> None:
    """One line per failed attempt (a DEBUG one per success), naming the notifier.

    A notifier's own bug goes with its traceback; a receiver's answer does not need one.
    """
    if result.outcome == "ok":
        log.debug("notifier %s: delivered %d alert(s)", name, count, extra=_fields(name, "ok"))
        return
    gave_up = result.outcome == "retry" and result.next_attempt_at is None
    status = "fail" if gave_up else result.outcome
    retry_at = result.next_attempt_at if status == "retry" else None
    log.log(
        logging.ERROR if bug is not None else logging.WARNING,
        "notifier %s: %s for %d alert(s): %s",
        name,
        "will retry" if status == "retry" else "failed",
        count,
        result.error,
        exc_info=bug,
        extra=_fields(
            name,
            status,
            alerts=count,
            error=result.error,
            http_status=result.status,
            retry_at=retry_at.isoformat() if retry_at else None,
        ),
    )
