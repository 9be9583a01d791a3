"""Feed health in the database: feeds and their newest entry times out, transitions in.

A transition is one transaction: a conditional UPDATE of the feed's health (on the
state and its change count read before), then, only if that UPDATE took, the alert
and its outbox deliveries. Two instances deciding the same change at once: the
second UPDATE waits for the first to commit, then matches no row and sends nothing.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

from sqlalchemy import Engine, func, insert, select, union_all, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.health import HEALTH_RULE, RECENT_ENTRIES, EntryTimes, FeedHealth, Transition
from monitor.health import headline as health_headline
from monitor.models import FeedHealthNote
from monitor.storage.db import safe_url
from monitor.storage.repo import MAX_ERROR_CHARS
from monitor.storage.session import batches, unit
from monitor.storage.tables import AlertRow, DeliveryRow, EntryRow, FeedRow

FEEDS_PER_QUERY = 100  # per-feed entry lookups joined in one UNION ALL
# A URL in free text; punctuation right after it (``…/rss: refused``) is not part of it.
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s\"'<>]*[^\s\"'<>.,;:!?)\]}]", re.IGNORECASE)


class HealthStore:
    """Reads what health checks need and writes their transitions; one transaction each."""

    def __init__(self, engine: Engine, instance: str) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.instance = instance

    def feeds(self) -> list[FeedHealth]:
        """Every active feed with its recorded health and its newest entries' times."""
        with unit(self._sessions()) as session:
            rows = list(session.execute(_FEEDS_QUERY))
            entries = _recent_entries(session, [row.id for row in rows])
            return [_feed_health(row, tuple(entries[row.id])) for row in rows]

    def record(
        self, change: Transition, notifiers: Sequence[str], alert_id: str | None = None
    ) -> bool:
        """Write the change and its alert for ``notifiers``; False when another instance
        (or an earlier call) changed the feed's health since it was read."""
        feed = change.feed
        moved = (
            update(FeedRow)
            .where(
                FeedRow.id == feed.id,
                FeedRow.health_state == change.old,
                FeedRow.health_changes == feed.changes,
            )
            .values(
                health_state=change.new, health_since=change.at, health_changes=feed.changes + 1
            )
        )
        alert_id = alert_id or str(uuid.uuid4())
        with unit(self._sessions()) as session:
            if not session.execute(moved).rowcount:  # type: ignore[attr-defined]
                return False
            session.execute(insert(AlertRow).values(_alert_values(change, alert_id, self.instance)))
            session.add_all(_deliveries(alert_id, notifiers, change.at))
            return True


_FEEDS_QUERY = (
    select(
        FeedRow.id,
        func.coalesce(FeedRow.name, FeedRow.title, FeedRow.url).label("label"),
        FeedRow.url,
        FeedRow.consecutive_failures,
        FeedRow.last_error,
        FeedRow.last_success_at,
        FeedRow.health_state,
        FeedRow.health_since,
        FeedRow.health_changes,
    )
    .where(FeedRow.active.is_(True))
    .order_by(FeedRow.id)
)


def _recent_entries(session: Session, feed_ids: list[int]) -> dict[int, list[EntryTimes]]:
    """Each feed's ``RECENT_ENTRIES`` newest entries: one index range per feed
    (entries by feed and first seen), a batch of feeds per query."""
    found: dict[int, list[EntryTimes]] = defaultdict(list)
    for chunk in batches(feed_ids, FEEDS_PER_QUERY):
        parts = [
            select(EntryRow.feed_id, EntryRow.published_at, EntryRow.first_seen_at)
            .where(EntryRow.feed_id == feed_id)
            .order_by(EntryRow.first_seen_at.desc(), EntryRow.id.desc())
            .limit(RECENT_ENTRIES)
            .subquery()
            for feed_id in chunk
        ]
        for feed_id, published, first_seen in session.execute(union_all(*map(select, parts))):
            found[feed_id].append(EntryTimes(published, first_seen))
    return found


def _feed_health(row: Any, entries: tuple[EntryTimes, ...]) -> FeedHealth:
    return FeedHealth(
        id=row.id,
        name=hide_credentials(row.label),
        url=hide_credentials(row.url),
        consecutive_failures=row.consecutive_failures,
        last_error=hide_credentials(row.last_error) if row.last_error else None,
        last_success=row.last_success_at,
        entries=entries,
        state=row.health_state,
        since=row.health_since,
        changes=row.health_changes,
    )


def hide_credentials(text: str) -> str:
    """``text`` with the password of every URL in it, and secret-looking query parameters
    (``token=``, ``api_key=``, ...), shown as ``***``; the password also wherever else it
    appears. URLs with nothing to hide are left exactly as they were."""
    passwords: set[str] = set()

    def shown(match: re.Match[str]) -> str:
        url = match.group()
        try:
            password = urlsplit(url).password
        except ValueError:  # a bad [IPv6] host: nothing can be told apart, hide it all
            return "***"
        if password:
            passwords.update({password, unquote(password)})
        safe = safe_url(url)
        return safe if "***" in safe else url

    hidden = _URL.sub(shown, text)
    for password in sorted(passwords, key=len, reverse=True):
        hidden = hidden.replace(password, "***")
    return hidden


def url_secrets(url: str) -> list[str]:
    """What ``hide_credentials`` would hide in ``url`` (its password, the values of its
    secret-looking query parameters), as written and decoded, longest first: to hide them
    in text that quotes them without the URL, such as a feed's error."""
    shown = safe_url(url)
    if "***" not in shown:
        return []
    try:
        parts = urlsplit(url)
        password = parts.password or ""
    except ValueError:  # a bad [IPv6] host: safe_url showed nothing of it
        return []
    hidden = {k for k, v in parse_qsl(urlsplit(shown).query, keep_blank_values=True) if v == "***"}
    found = {password, unquote(password)}
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key) in hidden:
            found.update({value, unquote_plus(value)})
    return sorted((v for v in found if v), key=lambda v: (-len(v), v))


def _alert_values(change: Transition, alert_id: str, instance: str) -> dict[str, Any]:
    feed, note = change.feed, change.note
    return {
        "id": alert_id,
        "rule": HEALTH_RULE,
        "story_key": change.story_key,
        "feed_id": feed.id,
        "entry_id": None,
        "matched": [],
        "field": "health",
        "snippet": "",
        "highlights": [],
        "title": health_headline(note)[:MAX_ERROR_CHARS],
        "url": feed.url,
        "summary": (note.error or "")[:MAX_ERROR_CHARS],
        "published_at": None,
        "feed_name": feed.name,
        "feed_url": feed.url,
        "detected_at": change.at,
        "detected_by": instance,
        "kind": change.kind,
        "details": note_details(note),
    }


def _deliveries(alert_id: str, notifiers: Sequence[str], at: datetime) -> list[DeliveryRow]:
    return [
        DeliveryRow(
            alert_id=alert_id,
            notifier=name,
            state="pending",
            attempts=0,
            next_attempt_at=at,
            created_at=at,
        )
        for name in notifiers
    ]


def note_details(note: FeedHealthNote) -> dict[str, Any]:
    """The note as the alerts table's JSON ``details``."""
    return {
        "state": note.state,
        "error": note.error[:MAX_ERROR_CHARS] if note.error else None,
        "failures": note.failures,
        "last_success": _iso(note.last_success),
        "last_entry": _iso(note.last_entry),
        "usual_gap": note.usual_gap,
        "was": note.was,
    }


def note_from_details(details: dict[str, Any]) -> FeedHealthNote:
    """The note back from ``details`` (for ``Outbox`` turning rows into alerts)."""
    return FeedHealthNote(
        state=str(details.get("state")),
        error=details.get("error"),
        failures=int(details.get("failures") or 0),
        last_success=_datetime(details.get("last_success")),
        last_entry=_datetime(details.get("last_entry")),
        usual_gap=details.get("usual_gap"),
        was=details.get("was"),
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _datetime(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
