"""One unit of work: a session as one transaction, database errors mapped to StorageError."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session

from monitor.errors import StorageError

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
KEY_BATCH = 1000  # keys or ids per IN (...) query
# Index lookups a two-column ``a IN (...) AND b IN (...)`` query may make (pair_batches):
# about a millisecond on SQLite.
PAIR_PROBES = 50_000


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


def pair_batches(
    pairs: Iterable[tuple[A, B]], probes: int = PAIR_PROBES, size: int = KEY_BATCH
) -> Iterator[tuple[list[A], list[B]]]:
    """Distinct ``pairs`` in sorted order, as chunks to look up on a two-column index with
    ``a IN (firsts) AND b IN (seconds)``: (firsts, seconds) per chunk. Such a query looks
    up every first with every second, so a chunk keeps their product within ``probes``
    and each list within ``size``; rows of pairs not asked for can come back. (SQLite
    scans the whole index for a row-value ``(a, b) IN`` list instead.)"""
    firsts: set[A] = set()
    seconds: set[B] = set()
    for a, b in sorted(set(pairs)):
        grown_a = len(firsts) + (a not in firsts)
        grown_b = len(seconds) + (b not in seconds)
        if firsts and (grown_a * grown_b > probes or max(grown_a, grown_b) > size):
            yield sorted(firsts), sorted(seconds)  # type: ignore[type-var]
            firsts, seconds = set(), set()
        firsts.add(a)
        seconds.add(b)
    if firsts:
        yield sorted(firsts), sorted(seconds)  # type: ignore[type-var]
