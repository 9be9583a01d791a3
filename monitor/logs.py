"""Log output: a line for people (``text``) or one JSON object a line for collectors (``json``).

A JSON line carries ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, every
structured field the line was logged with (``extra={"feed": ..., "rule": ...}``) and
``exc_info`` (the traceback text) when it is about an exception.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("text", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("httpx", "httpcore", "apscheduler", "alembic")  # chatty below WARNING


def rfc3339(created: float) -> str:
    """A record's timestamp as RFC 3339 in UTC, to the millisecond: ``2026-11-24T08:01:12.345Z``."""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line, ``time`` first; extras and tracebacks come from the library."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = rfc3339(record.created)
        super().add_fields(log_data, record, message_dict)


def make_formatter(fmt: str) -> logging.Formatter:
    """The formatter for ``--log-format``: ``text`` (as it always was) or ``json``."""
    if fmt == "json":
        return JsonLineFormatter()
    if fmt == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"unknown log format {fmt!r} (expected one of {', '.join(FORMATS)})")


def setup_logging(level: str, fmt: str = "text", stream: TextIO | None = None) -> None:
    """Log at ``level`` to ``stream`` (standard error) in format ``fmt``.

    Like ``logging.basicConfig``, it does nothing to a root logger that already has
    handlers (an embedding program's, or pytest's), so calling ``main()`` in-process
    never takes over someone else's logging.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    numeric = getattr(logging, level)
    logging.basicConfig(level=numeric, handlers=[handler])
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, numeric))
