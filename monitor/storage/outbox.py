"""The delivery outbox: due deliveries out, attempts in, failed ones back in the queue."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from monitor.instance import instance_name
from monitor.matching.text import html_to_text
from monitor.models import Alert, Source
from monitor.storage.health import hide_credentials, note_from_details
from monitor.storage.repo import MAX_ERROR_CHARS, insert_for
from monitor.storage.session import unit
from monitor.storage.tables import (
    AlertRow,
    AttemptRow,
    DeliveryRow,
    EntryRow,
    FeedRow,
    NotifierLeaseRow,
)


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
    by: str | None = None  # the instance that made the last attempt


@dataclass(frozen=True)
class AlertWithDeliveries:
    alert: Alert
    deliveries: tuple[DeliveryState, ...]
    detected_by: str | None = None


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt gave; ``next_attempt_at`` None with a retry means give up."""

    outcome: str  # ok, retry, fail
    status: int | None
    error: str | None
    next_attempt_at: datetime | None = None


class Outbox:
    """Deliveries in the database; every method is one transaction.

    With several instances on one database, each notifier's queue is served by
    one instance at a time: ``claim_due`` takes a lease on the notifier (row
    lock with ``SKIP LOCKED``, so instances never wait on each other), the
    sender renews it before every message, and a dead instance's lease runs out.
    """

    def __init__(
        self,
        engine: Engine,
        instance: str | None = None,
        applies: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.instance = instance or instance_name()
        # whether a rule applies to a feed (by its configured URL): an alert names as its
        # story's sources only feeds its rule watches, never a feed kept to other rules
        self.applies = applies

    def claim_due(
        self, now: datetime, lease: float, exclude: Collection[str] = (), limit: int = 200
    ) -> dict[str, list[DueDelivery]]:
        """Due deliveries of the notifiers this instance could lease, grouped by notifier,
        oldest alert first.

        A notifier whose receiver is failing waits as a whole: while one of its
        deliveries waits for a retry, later alerts for it wait behind it, so a
        receiver that comes back gets everything in the order it was detected.
        """
        blocked = self._blocked(now)
        waiting = self._waiting_notifiers(now)
        candidates = sorted(set(waiting) - set(blocked) - set(exclude))
        if not candidates:
            return {}
        held = self._lease(candidates, now, lease)
        groups: dict[str, list[DueDelivery]] = {}
        for delivery in self._due(now, held, limit):
            groups.setdefault(delivery.notifier, []).append(delivery)
        return groups

    def renew(self, notifier: str, now: datetime, lease: float) -> bool:
        """Extend this instance's lease on ``notifier``; False when it is no longer ours."""
        stmt = (
            update(NotifierLeaseRow)
            .where(
                NotifierLeaseRow.notifier == notifier,
                NotifierLeaseRow.claimed_by == self.instance,
            )
            .values(claimed_until=now + timedelta(seconds=lease))
        )
        with unit(self._sessions()) as session:
            return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]

    def release(self, notifier: str) -> None:
        stmt = (
            update(NotifierLeaseRow)
            .where(
                NotifierLeaseRow.notifier == notifier,
                NotifierLeaseRow.claimed_by == self.instance,
            )
            .values(claimed_by=None, claimed_until=None)
        )
        with unit(self._sessions()) as session:
            session.execute(stmt)

    def _lease(self, notifiers: list[str], now: datetime, lease: float) -> list[str]:
        free = or_(
            NotifierLeaseRow.claimed_until.is_(None),
            NotifierLeaseRow.claimed_until < now,
            NotifierLeaseRow.claimed_by == self.instance,
        )
        query = (
            select(NotifierLeaseRow)
            .where(NotifierLeaseRow.notifier.in_(notifiers), free)
            .order_by(NotifierLeaseRow.notifier)
            .with_for_update(skip_locked=True)
        )
        with unit(self._sessions()) as session:
            session.execute(
                insert_for(session, NotifierLeaseRow).on_conflict_do_nothing(
                    index_elements=["notifier"]
                ),
                [{"notifier": name} for name in notifiers],
            )
            rows = list(session.scalars(query))
            for row in rows:
                row.claimed_by = self.instance
                row.claimed_until = now + timedelta(seconds=lease)
            return [row.notifier for row in rows]

    def _waiting_notifiers(self, now: datetime) -> list[str]:
        query = (
            select(DeliveryRow.notifier)
            .where(DeliveryRow.state == "pending", DeliveryRow.next_attempt_at <= now)
            .distinct()
        )
        with unit(self._sessions()) as session:
            return list(session.scalars(query))

    def _due(self, now: datetime, notifiers: list[str], limit: int) -> list[DueDelivery]:
        query = (
            select(DeliveryRow, AlertRow)
            .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
            .where(
                DeliveryRow.state == "pending",
                DeliveryRow.next_attempt_at <= now,
                DeliveryRow.notifier.in_(notifiers),
            )
            .order_by(AlertRow.detected_at, DeliveryRow.id)
            .limit(limit)
        )
        with unit(self._sessions()) as session:
            rows = list(session.execute(query))
            sources = story_sources(session, [a.entry_id for _d, a in rows if a.entry_id])
            return [
                DueDelivery(
                    d.id,
                    d.notifier,
                    d.attempts,
                    d.first_attempt_at,
                    replace(to_alert(a), sources=self._sources(a, sources)),
                )
                for d, a in rows
            ]

    def _sources(
        self, alert: AlertRow, found: dict[int, tuple[StorySource, ...]]
    ) -> tuple[Source, ...]:
        told = found.get(alert.entry_id or 0, ())
        applies = self.applies
        return tuple(
            s.source
            for i, s in enumerate(told)
            if i == 0 or applies is None or applies(alert.rule, s.config_url)
        )

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
                    last_attempt_by=self.instance,
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
            return [
                AlertWithDeliveries(to_alert(r), tuple(by_alert[r.id]), r.detected_by) for r in rows
            ]

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
        by=d.last_attempt_by,
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
        feed_url=hide_credentials(row.feed_url),  # a feed's password never goes out
        detected_at=row.detected_at,
        highlights=tuple((int(a), int(b)) for a, b in row.highlights),
        health=note_from_details(row.details) if row.kind != "match" and row.details else None,
    )


@dataclass(frozen=True)
class StorySource:
    """A source of a story, with the configured URL of its feed (to tell which rules watch it)."""

    source: Source
    config_url: str


def story_sources(session: Session, entry_ids: list[int]) -> dict[int, tuple[StorySource, ...]]:
    """For each alert's entry, every stored entry of its story (one per feed, the entry's
    own first, then in the order they were seen): the outlets known to carry it now.
    Feed URLs are shown with passwords and token-like parameters as ``***``."""
    if not entry_ids:
        return {}
    alerted = aliased(EntryRow)
    query = (
        select(alerted.id, EntryRow.feed_id, EntryRow.link, EntryRow.title)
        .add_columns(FeedRow.name, FeedRow.title, FeedRow.url, FeedRow.config_url)
        .join(EntryRow, EntryRow.story_id == alerted.story_id)
        .join(FeedRow, FeedRow.id == EntryRow.feed_id)
        .where(alerted.id.in_(set(entry_ids)), alerted.story_id.is_not(None))
        .order_by(alerted.id, EntryRow.id != alerted.id, EntryRow.first_seen_at, EntryRow.id)
    )
    found: dict[int, list[StorySource]] = {}
    feeds: dict[int, set[int]] = {}
    for own, feed_id, link, title, name, feed_title, url, config_url in session.execute(query):
        if feed_id in feeds.setdefault(own, set()):
            continue  # the same feed's other entries of the story say nothing new
        feeds[own].add(feed_id)
        shown = hide_credentials(url)
        source = Source(name or feed_title or shown, shown, link, html_to_text(title).strip())
        found.setdefault(own, []).append(StorySource(source, config_url))
    return {own: tuple(sources) for own, sources in found.items()}
