from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.schedule import (
    MAX_BACKOFF,
    backoff_delay,
    next_poll_after_failure,
    next_poll_after_success,
)

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def low() -> float:
    return 0.0


def high() -> float:
    return 0.999999


def mid() -> float:
    return 0.5


@pytest.mark.parametrize(("rand", "seconds"), [(mid, 300.0), (low, 270.0), (high, 329.9999)])
def test_success_is_interval_with_ten_percent_jitter(rand, seconds: float) -> None:  # type: ignore[no-untyped-def]
    got = (next_poll_after_success(NOW, 300, rand) - NOW).total_seconds()
    assert got == pytest.approx(seconds, abs=0.01)


@pytest.mark.parametrize(
    ("interval", "failures", "delay"),
    [
        (300, 0, 300),
        (300, 1, 300),
        (300, 2, 600),
        (300, 3, 1200),
        (300, 7, 19200),
        (300, 8, MAX_BACKOFF),
        (300, 500, MAX_BACKOFF),
        (86400, 3, 86400),  # a daily feed is never polled more often because it fails
        (60, 1, 60),
    ],
)
def test_backoff_doubles_and_caps(interval: float, failures: int, delay: float) -> None:
    assert backoff_delay(interval, failures) == delay


def test_failure_uses_backoff_with_jitter() -> None:
    got = next_poll_after_failure(NOW, 300, failures=3, rand=mid)
    assert got == NOW + timedelta(seconds=1200)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (None, 600.0),  # plain backoff
        (60.0, 600.0),  # Retry-After shorter than backoff: backoff wins
        (3600.0, 3600.0),  # longer: honoured
        (10 * 86400.0, 86400.0),  # absurd: capped at a day
    ],
)
def test_retry_after_is_a_floor(retry_after: float | None, expected: float) -> None:
    got = next_poll_after_failure(NOW, 300, failures=2, retry_after=retry_after, rand=mid)
    assert (got - NOW).total_seconds() == expected


def test_jitter_spreads_feeds_apart() -> None:
    import random

    rng = random.Random(7)
    times = {next_poll_after_success(NOW, 300, rng.random) for _ in range(50)}
    assert len(times) == 50
    assert all(timedelta(seconds=270) <= t - NOW <= timedelta(seconds=330) for t in times)
