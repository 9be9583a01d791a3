"""One unit of work: a session as one transaction, database errors mapped to StorageError."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session

from monitor.errors import StorageError

T = TypeVar("T")
KEY_BATCH = 1000  # keys or ids per IN (...) query


class unit:
    """A session as one transaction, with database errors mapped to StorageError."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __enter__(self) -> Session:
        return self.session

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is None:
                self.session.commit()
            else:
                self.session.rollback()
        except SQLAlchemyError as err:
            self.session.rollback()
            raise StorageError(f"database write failed: {_reason(err)}", is_fatal(err)) from err
        finally:
            self.session.close()
        if isinstance(exc, SQLAlchemyError):
            raise StorageError(f"database error: {_reason(exc)}", is_fatal(exc)) from exc


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc)


# SQLite primary result codes that no wait will cure: IOERR, CORRUPT, FULL, CANTOPEN,
# READONLY, NOTADB (https://sqlite.org/rescode.html). BUSY and LOCKED are not here.
_FATAL_SQLITE = frozenset({8, 10, 11, 13, 14, 26})


def is_fatal(exc: BaseException) -> bool:
    """Whether a database error means the file cannot be written at all (see StorageError)."""
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in _FATAL_SQLITE


def insert_for(session: Session, table: type[DeclarativeBase] | Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing`` on both."""
    return dialect_insert(dialect_of(session), table)


def dialect_insert(dialect: str, table: type[DeclarativeBase] | Table) -> Any:
    """``insert_for`` by dialect name: for statements built once per dialect and reused."""
    insert: Callable[[type[DeclarativeBase] | Table], Insert] = (
        postgresql.insert if dialect == "postgresql" else sqlite.insert
    )
    return insert(table)


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def table_of(model: type[DeclarativeBase]) -> Table:
    """The Core table of an ORM model. Statements on it skip the ORM's per-row work (no
    objects, no unit of work): the way to write many rows in one executemany."""
    return cast(Table, model.__table__)


def batches(items: Sequence[T], size: int = KEY_BATCH) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size``: one ``IN (...)`` per slice, so a query never passes
    SQLite's 32,766 variables nor holds a lock for long."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
