"""Opening the database: URL resolution, SQLite pragmas, and migrations at start-up."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StorageError

BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_KEY = 0x6D6F6E69746F72  # pg_advisory_lock key: "monitor"


def resolve_url(url: str, base_dir: Path) -> str:
    """A relative SQLite path is taken relative to the config file's folder."""
    parsed = make_url(url)
    db = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not db
        or db == ":memory:"
        or db.startswith("file:")
    ):
        return url
    if Path(db).is_absolute():
        return url
    return parsed.set(database=str((base_dir / db).resolve())).render_as_string(hide_password=False)


@functools.lru_cache(maxsize=4096)  # every poll's log line names its feed by it
def safe_url(url: str) -> str:
    """The URL with its password shown as ``***``: the password part, query parameters such
    as ``password=`` or ``sslpassword=``, and the password wherever else it appears."""
    try:
        parsed = make_url(url)
        query = {k: "***" if _SECRET_PARAM.search(k) else v for k, v in parsed.query.items()}
        shown = parsed.set(query=query).render_as_string(hide_password=True)
        shown = shown.replace("%2A%2A%2A", "***")
        if parsed.password:
            secret = str(parsed.password)
            for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
                shown = shown.replace(form, "***")
        return shown
    except Exception:
        return "***"


_SECRET_PARAM = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def create(url: str) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    try:
        engine = create_engine(url, future=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StorageError(f"cannot use database {safe_url(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def migrations_dir() -> Path:
    """Where the Alembic scripts are: the ``monitor.migrations`` package (``migrations/``)."""
    spec = importlib.util.find_spec("monitor.migrations")
    if spec is None or not spec.submodule_search_locations:
        raise StorageError("the migrations package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply pending migrations; safe to call on every start, by several instances at once."""
    try:
        with _migration_lock(engine):
            command.upgrade(alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot migrate {safe_url(str(engine.url))}: {getattr(exc, 'orig', None) or exc}",
            fatal=True,
        ) from exc


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, instances starting together migrate one after the other."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()


def open_database(url: str, base_dir: Path, migrate: bool = True) -> Engine:
    """The engine for ``url``, migrated to the newest schema when ``migrate``."""
    engine = create(resolve_url(url, base_dir))
    if migrate:
        upgrade(engine)
    return engine
