"""The delivery outbox: due deliveries out, attempts in, failed ones back in the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import sessionmaker

from monitor.models import Alert
from monitor.storage.repo import MAX_ERROR_CHARS
from monitor.storage.session import unit
from monitor.storage.tables import AlertRow, AttemptRow, DeliveryRow


@dataclass(frozen=True)
class DueDelivery:
    """A pending delivery whose time has come, with the alert it carries."""

    id: int
    notifier: str
    attempts: int
    first_attempt_at: datetime | None
    alert: Alert


@dataclass(frozen=True)
class DeliveryState:
    notifier: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class AlertWithDeliveries:
    alert: Alert
    deliveries: tuple[DeliveryState, ...]


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt gave; ``next_attempt_at`` None with a retry means give up."""

    outcome: str  # ok, retry, fail
    status: int | None
    error: str | None
    next_attempt_at: datetime | None = None


class Outbox:
    """Deliveries in the database; every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def due(self, now: datetime, limit: int = 200) -> list[DueDelivery]:
        """Pending deliveries due by ``now``, oldest alert first, per notifier in order.

        A notifier whose receiver is failing waits as a whole: while one of its
        deliveries waits for a retry, later alerts for it wait behind it, so a
        receiver that comes back gets everything in the order it was detected.
        """
        blocked = self._blocked(now)
        query = (
            select(DeliveryRow, AlertRow)
            .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
            .where(DeliveryRow.state == "pending", DeliveryRow.next_attempt_at <= now)
            .order_by(AlertRow.detected_at, DeliveryRow.id)
            .limit(limit)
        )
        if blocked:
            query = query.where(DeliveryRow.notifier.not_in(blocked))
        with unit(self._sessions()) as session:
            return [
                DueDelivery(d.id, d.notifier, d.attempts, d.first_attempt_at, to_alert(a))
                for d, a in session.execute(query)
            ]

    def _retry_times(self) -> dict[str, datetime]:
        """For each notifier with a delivery waiting for a retry, the earliest retry time."""
        query = (
            select(DeliveryRow.notifier, func.min(DeliveryRow.next_attempt_at))
            .where(DeliveryRow.state == "pending", DeliveryRow.attempts > 0)
            .group_by(DeliveryRow.notifier)
        )
        with unit(self._sessions()) as session:
            return {name: when for name, when in session.execute(query)}

    def _blocked(self, now: datetime) -> list[str]:
        return [name for name, when in self._retry_times().items() if when > now]

    def next_due(self) -> datetime | None:
        """When the next delivery may go, with failing notifiers waiting for their retry."""
        retry = self._retry_times()
        query = (
            select(DeliveryRow.notifier, func.min(DeliveryRow.next_attempt_at))
            .where(DeliveryRow.state == "pending")
            .group_by(DeliveryRow.notifier)
        )
        with unit(self._sessions()) as session:
            earliest = {name: when for name, when in session.execute(query)}
        times = [max(when, retry.get(name, when)) for name, when in earliest.items()]
        return min(times, default=None)

    def pending_count(self) -> int:
        query = select(func.count()).where(DeliveryRow.state == "pending")
        with unit(self._sessions()) as session:
            return session.scalar(query) or 0

    def record(self, ids: Sequence[int], result: AttemptResult, now: datetime) -> None:
        """Record one attempt on each of ``ids`` (a digest carries several) and move their state."""
        state = _next_state(result)
        error = result.error[:MAX_ERROR_CHARS] if result.error else None
        with unit(self._sessions()) as session:
            session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(list(ids)))
                .values(
                    state=state,
                    attempts=DeliveryRow.attempts + 1,
                    first_attempt_at=func.coalesce(DeliveryRow.first_attempt_at, now),
                    last_attempt_at=now,
                    last_status=result.status,
                    last_error=error,
                    next_attempt_at=result.next_attempt_at or now,
                    sent_at=now if state == "sent" else None,
                )
            )
            session.add_all(
                AttemptRow(
                    delivery_id=i, at=now, status=result.status, error=error, outcome=result.outcome
                )
                for i in ids
            )

    def retry_failed(self, alert_ids: Sequence[str] | None, now: datetime) -> int:
        """Put failed deliveries (of these alerts, or all) back in the queue, for another 24 h."""
        stmt = update(DeliveryRow).where(DeliveryRow.state == "failed")
        if alert_ids:
            stmt = stmt.where(DeliveryRow.alert_id.in_(list(alert_ids)))
        stmt = stmt.values(state="pending", next_attempt_at=now, first_attempt_at=None)
        with unit(self._sessions()) as session:
            return session.execute(stmt).rowcount or 0  # type: ignore[attr-defined]

    def alerts(self, limit: int = 50, failed_only: bool = False) -> list[AlertWithDeliveries]:
        """Recent alerts, newest first, each with its deliveries."""
        query = select(AlertRow).order_by(AlertRow.detected_at.desc(), AlertRow.id).limit(limit)
        if failed_only:
            failed = select(DeliveryRow.alert_id).where(DeliveryRow.state == "failed")
            query = query.where(AlertRow.id.in_(failed))
        with unit(self._sessions()) as session:
            rows = list(session.scalars(query))
            by_alert: dict[str, list[DeliveryState]] = {r.id: [] for r in rows}
            deliveries = select(DeliveryRow).where(DeliveryRow.alert_id.in_(list(by_alert)))
            for d in session.scalars(deliveries.order_by(DeliveryRow.notifier)):
                by_alert[d.alert_id].append(_state(d))
            return [AlertWithDeliveries(to_alert(r), tuple(by_alert[r.id])) for r in rows]

    def attempts(self, alert_id: str) -> list[tuple[str, datetime, int | None, str | None, str]]:
        """Every attempt for an alert: (notifier, when, status, error, outcome), oldest first."""
        query = (
            select(
                DeliveryRow.notifier,
                AttemptRow.at,
                AttemptRow.status,
                AttemptRow.error,
                AttemptRow.outcome,
            )
            .join(DeliveryRow, DeliveryRow.id == AttemptRow.delivery_id)
            .where(DeliveryRow.alert_id == alert_id)
            .order_by(AttemptRow.at, AttemptRow.id)
        )
        with unit(self._sessions()) as session:
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def _next_state(result: AttemptResult) -> str:
    if result.outcome == "ok":
        return "sent"
    if result.outcome == "retry" and result.next_attempt_at is not None:
        return "pending"
    return "failed"


def _state(d: DeliveryRow) -> DeliveryState:
    return DeliveryState(
        notifier=d.notifier,
        state=d.state,
        attempts=d.attempts,
        last_status=d.last_status,
        last_error=d.last_error,
        next_attempt_at=d.next_attempt_at,
        sent_at=d.sent_at,
    )


def to_alert(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        rule=row.rule,
        matched=tuple(row.matched),
        title=row.title,
        url=row.url,
        published=row.published_at,
        summary=row.summary,
        snippet=row.snippet,
        feed_name=row.feed_name,
        feed_url=row.feed_url,
        detected_at=row.detected_at,
        highlights=tuple((int(a), int(b)) for a, b in row.highlights),
    )
