"""One exception tree for the monitor.

    MonitorError
     ├── ConfigError          configuration file or rule problems (exit 2)
     │    └── QueryError      a rule query that does not parse (has a column)
     ├── FetchError           an HTTP fetch failed (recorded on the feed)
     ├── ParseError           a body that is not a readable feed (recorded on the feed)
     ├── StorageError         the database cannot be opened or written (exit 1)
     └── DeliveryError        a notifier could not deliver (retried or failed)

Outside errors (httpx, feedparser, SQLAlchemy) are mapped where they enter,
with ``raise ... from exc``; only the unexpected escapes as something else.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose."""


class ConfigError(MonitorError):
    """The configuration is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class QueryError(ConfigError):
    """A rule query does not parse: ``reason`` at 1-based ``column``."""

    def __init__(self, reason: str, column: int) -> None:
        self.reason = reason
        self.column = column
        super().__init__([f"{reason} at column {column}"])


class FetchError(MonitorError):
    """A feed or page could not be fetched; ``status`` is the HTTP status if any."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.elapsed: float | None = None  # seconds the request took before it failed


class ParseError(MonitorError):
    """A body was fetched but is not a feed that can be read."""


class StorageError(MonitorError):
    """The database cannot be opened, migrated or written.

    ``fatal`` when waiting cannot help (disk full, read-only or unopenable file,
    I/O error, corruption): the process stops with exit 1 instead of polling
    feeds it cannot record. A busy (locked) database is not fatal.
    """

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class DeliveryError(MonitorError):
    """A notifier failed; ``retryable`` says whether another attempt may succeed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
