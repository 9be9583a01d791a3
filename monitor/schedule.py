"""When a feed is polled next: its interval with jitter, backoff after failures, Retry-After.

Pure: every function takes ``now`` and a random source, so tests use explicit datetimes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

JITTER = 0.1
MAX_BACKOFF = 6 * 3600.0
MAX_RETRY_AFTER = 24 * 3600.0


def next_poll_after_success(
    now: datetime, interval: float, rand: Callable[[], float] = random.random
) -> datetime:
    """``interval`` later, give or take 10%, so feeds added together drift apart."""
    return now + timedelta(seconds=_jittered(interval, rand))


def backoff_delay(interval: float, failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row: doubling, never under the interval.

    The cap is the larger of six hours and the interval itself, so a daily feed
    is never polled more often because it fails.
    """
    if failures <= 0:
        return interval
    return min(interval * 2 ** min(failures - 1, 32), max(MAX_BACKOFF, interval))


def next_poll_after_failure(
    now: datetime,
    interval: float,
    failures: int,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> datetime:
    """Backoff for the failure streak (``failures`` includes this one); Retry-After is a floor."""
    delay = _jittered(backoff_delay(interval, failures), rand)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return now + timedelta(seconds=delay)


def _jittered(seconds: float, rand: Callable[[], float]) -> float:
    return seconds * (1 - JITTER + 2 * JITTER * rand())
