"""Which answers are retried, and when: pure, against explicit datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.retry import classify, next_attempt, parse_retry_after

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, "ok"),
        (204, "ok"),
        (None, "retry"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (400, "fail"),
        (401, "fail"),
        (403, "fail"),
        (404, "fail"),
        (410, "fail"),
        (301, "fail"),
    ],
)
def test_classify(status: int | None, kind: str) -> None:
    assert classify(status, None if status else "connection refused").kind == kind


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("999999", 86400.0),
        ("Tue, 24 Nov 2026 08:00:30 GMT", 30.0),
        ("Tue, 24 Nov 2026 07:00:00 GMT", 0.0),
        ("Wed, 25 Nov 2026 09:00:00 GMT", 86400.0),
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_retry_after_is_kept_on_the_outcome() -> None:
    outcome = classify(429, None, "2", NOW)
    assert (outcome.kind, outcome.status, outcome.retry_after) == ("retry", 429, 2.0)


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (6, 16.0, 32.0), (20, 1800.0, 3600.0)],
)
def test_backoff_doubles_with_jitter_and_a_cap(attempt: int, low: float, high: float) -> None:
    for rand in (0.0, 0.5, 0.999):
        when = next_attempt(attempt, NOW, NOW, None, lambda r=rand: r)
        assert when is not None
        assert low <= (when - NOW).total_seconds() <= high


def test_retry_after_is_a_floor() -> None:
    when = next_attempt(1, NOW, NOW, 2.0, lambda: 0.0)
    assert when == NOW + timedelta(seconds=2)
    assert next_attempt(12, NOW, NOW, 2.0, lambda: 0.0) == NOW + timedelta(seconds=1024)


def test_gives_up_after_24_hours() -> None:
    first = NOW - timedelta(hours=23, minutes=59)
    last = next_attempt(30, NOW, first, None, lambda: 1.0)
    assert last == first + timedelta(hours=24)
    assert next_attempt(31, first + timedelta(hours=24), first, None, lambda: 1.0) is None
