"""Read-only queries for the status page and the metrics, and the database health probe.

The probe checks a SQLite file's permissions and queries it through a fresh connection every
time: a pooled connection keeps its file descriptor and would not notice the file becoming
unreadable (or deleted) under a running daemon. On PostgreSQL it connects anew too, with a
connect timeout of its own: without one, a server that stopped answering holds the probe
for the operating system's TCP timeout, minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from monitor.storage.db import safe_url
from monitor.storage.tables import AlertRow, DeliveryRow

PROBE_TIMEOUT_SECONDS = 3
PROBE_QUERY = "SELECT 1 FROM feeds LIMIT 1"
# How each PostgreSQL driver is told to give up connecting (pg8000: on every socket read).
CONNECT_TIMEOUT_ARG = {
    "psycopg": "connect_timeout",
    "psycopg2": "connect_timeout",
    "pg8000": "timeout",
}


@dataclass(frozen=True)
class RuleHour:
    """How many alerts a rule raised in the hour starting at ``hour`` (UTC)."""

    rule: str
    hour: datetime
    count: int


@dataclass(frozen=True)
class OutboxDepth:
    """Pending deliveries, and when the oldest of them was queued."""

    pending: int
    oldest: datetime | None


class StatusReader:
    """Counts over the alerts and the outbox; every method is one read-only query."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rule_hours(self, since: datetime) -> list[RuleHour]:
        """Alerts per rule and UTC hour, detected at or after ``since``: one grouped query."""
        hour = _hour_key(AlertRow.detected_at, self.engine.dialect.name)
        query = (
            select(AlertRow.rule, hour.label("hour"), func.count())
            .where(AlertRow.detected_at >= since)
            .group_by(AlertRow.rule, hour)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [RuleHour(rule, _parse_hour(key), int(n)) for rule, key, n in rows]

    def outbox_depth(self) -> OutboxDepth:
        query = select(func.count(), func.min(DeliveryRow.created_at)).where(
            DeliveryRow.state == "pending"
        )
        with self.engine.connect() as conn:
            pending, oldest = conn.execute(query).one()
        return OutboxDepth(int(pending or 0), _aware(oldest))


def _hour_key(column: Any, dialect: str) -> Any:
    """The UTC hour of a timestamp as text ``YYYY-MM-DD HH``: SQLite stores naive UTC text."""
    if dialect == "sqlite":
        return func.substr(column, 1, 13)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")


def _parse_hour(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%d %H").replace(tzinfo=UTC)


def _aware(value: datetime | str | None) -> datetime | None:
    """An aggregate skips the column type, so SQLite hands back its stored text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class HealthProbe:
    """Whether the database answers now: ``problem()`` is None, else a one-line reason."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.path = _sqlite_file(engine)
        self._fresh = _probe_engine(engine, self.path)

    def problem(self) -> str | None:
        shown = f"database {safe_url(str(self.engine.url))}"
        if self.path is not None and (reason := file_problem(self.path)):
            return f"{shown}: {reason}"
        try:
            self._query()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip()
            return f"{shown}: {reason.splitlines()[0] if reason else type(exc).__name__}"
        return None

    def _query(self) -> None:
        engine = self._fresh or self.engine
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":  # cut short if the server hangs
                conn.execute(text(f"SET LOCAL statement_timeout = '{PROBE_TIMEOUT_SECONDS}s'"))
            conn.execute(text(PROBE_QUERY))
            conn.rollback()

    def close(self) -> None:
        if self._fresh is not None:
            self._fresh.dispose()


def file_problem(path: Path) -> str | None:
    """Why this process could not open the SQLite file now, if it could not.

    Asked of the file system (``access``), not by opening the file: closing a descriptor
    would drop every lock SQLite holds on it in this process. Nor is a fresh connection
    enough on its own: while other connections hold locks, SQLite keeps the descriptors of
    closed ones and hands them to the next, which then never meets the permission check.
    """
    if not path.exists():
        return "the file is missing"
    if not os.access(path, os.R_OK | os.W_OK):
        return "permission denied: the file cannot be read and written"
    return None


def _sqlite_file(engine: Engine) -> Path | None:
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def _probe_engine(engine: Engine, path: Path | None) -> Engine | None:
    """The probe's own engine, connecting anew on every use: for a SQLite file, and for
    PostgreSQL with a connect timeout (for its known drivers); None: the daemon's engine."""
    if path is not None:
        return _fresh_engine(path)
    if engine.dialect.name != "postgresql":
        return None
    arg = CONNECT_TIMEOUT_ARG.get(engine.dialect.driver)
    connect_args = {arg: PROBE_TIMEOUT_SECONDS} if arg else {}
    return create_engine(engine.url, poolclass=NullPool, connect_args=connect_args)


def _fresh_engine(path: Path) -> Engine:
    """An engine that connects anew on every use, read-write without creating the file:
    a deleted database is reported, not silently recreated empty."""
    url = f"sqlite:///file:{quote(str(path))}?mode=rw&uri=true"
    return create_engine(url, poolclass=NullPool, connect_args={"timeout": PROBE_TIMEOUT_SECONDS})
