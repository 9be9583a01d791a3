"""One ``monitor run`` per SQLite file: an exclusive lock beside the database.

SQLite serves one instance (claims need row locks it does not have); a second
``monitor run`` on the same file is refused with a clear message. The lock is
``flock`` on ``<database>.lock``: the kernel drops it when the process dies, so a
killed monitor never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine

from monitor.errors import StorageError


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of a SQLite engine; None for other databases and in-memory ones."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


@contextlib.contextmanager
def only_instance(engine: Engine) -> Iterator[bool]:
    """Hold the file's lock while the block runs; yields whether this is a SQLite file.

    Raises StorageError when another process holds it.
    """
    path = sqlite_file(engine)
    if path is None:
        yield False
        return
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot create {lock_path}: {exc.strerror}", fatal=True) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise StorageError(
                f"another monitor (pid {holder}) is already running on {path}; SQLite serves "
                "one instance: stop it first, or use PostgreSQL to run several "
                "(README: Running several instances)",
                fatal=True,
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield True
    finally:
        os.close(fd)  # closing the descriptor drops the lock
