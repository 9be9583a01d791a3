from __future__ import annotations

import pytest

from monitor.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("1h30m", 5400),
        ("1.5h", 5400),
        (" 10 m ", 600),
        ("90", 90),
        (30, 30),
        (0.5, 0.5),
        ("2H", 7200),
    ],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "5x", "m5", "5 minutes", "-5m", "0s", "0", "5m5", "abc", True]
)
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45s"), (300, "5m"), (5400, "1h30m"), (90061, "1d1h1m1s"), (0.25, "0.2s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
