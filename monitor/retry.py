"""Which answers are worth another attempt, and when: pure, with ``now`` passed in.

Per the contract: connection errors, timeouts, 408, 429 and 5xx retry with
exponential backoff and jitter, honouring ``Retry-After`` (seconds or an HTTP
date), until 24 hours have passed since the first attempt; any other 4xx fails
at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

MAX_RETRY_AFTER = 24 * 3600.0
GIVE_UP_AFTER = 24 * 3600.0
RETRYABLE_4XX = frozenset({408, 425, 429})

Kind = Literal["ok", "retry", "fail"]


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: ``kind``, the HTTP status if any, an error text, Retry-After."""

    kind: Kind
    status: int | None
    error: str | None
    retry_after: float | None = None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (seconds or HTTP date), at most 24 hours.

    Anything unreadable is ``None``: the caller's own backoff applies.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)


def classify(
    status: int | None,
    error: str | None = None,
    retry_after_header: str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """The outcome of an answer with ``status``, or of a request that failed with ``error``."""
    if status is None:
        return Outcome("retry", None, error or "no answer")
    if 200 <= status < 300:
        return Outcome("ok", status, None)
    if status in RETRYABLE_4XX or status >= 500:
        after = parse_retry_after(retry_after_header, now) if now is not None else None
        return Outcome("retry", status, error, after)
    return Outcome("fail", status, error)


def backoff(attempt: int, rand: Callable[[], float], base: float, cap: float) -> float:
    """Exponential backoff with jitter after ``attempt`` failures: in ``[d/2, d]``, d doubling."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay / 2 + rand() * delay / 2


def next_attempt(
    attempt: int,
    now: datetime,
    first_attempt_at: datetime,
    retry_after: float | None,
    rand: Callable[[], float] = random.random,
    base: float = 1.0,
    cap: float = 3600.0,
    give_up_after: float = GIVE_UP_AFTER,
) -> datetime | None:
    """When to try again after ``attempt`` failed attempts, or ``None`` once 24 hours are used.

    ``Retry-After`` is a floor: the receiver's wish wins over a shorter backoff.
    """
    delay = backoff(attempt, rand, base, cap)
    if retry_after is not None:
        delay = max(delay, retry_after)
    when = now + timedelta(seconds=delay)
    deadline = first_attempt_at + timedelta(seconds=give_up_after)
    if now >= deadline:
        return None
    return min(when, deadline)
