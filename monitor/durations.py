"""Durations as users write them in config.yaml: ``45s``, ``5m``, ``2h``, ``1d``."""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SECONDS = 36500 * 86400  # 100 years: any longer overflows date arithmetic
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``; a bare number is seconds. Raises ValueError with a reason."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError("expected a duration such as 45s, 5m, 2h or 1d")
    if isinstance(text, int | float):
        return _positive(float(text))
    compact = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", compact):
        return _positive(float(compact))
    parts = list(_PART.finditer(compact))
    if not parts or "".join(p.group(0) for p in parts) != compact:
        raise ValueError(f"invalid duration {text!r}: use a number and a unit (s, m, h, d, w)")
    return _positive(sum(float(p.group(1)) * _UNITS[p.group(2)] for p in parts))


def _positive(seconds: float) -> float:
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError("a duration must be greater than zero")
    if seconds > MAX_SECONDS:
        raise ValueError(f"a duration must be at most {MAX_SECONDS // 86400}d")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form: ``90`` -> ``1m30s``."""
    whole = int(round(seconds))
    if whole < 1:
        return f"{seconds:.1f}s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            count, whole = divmod(whole, size)
            out.append(f"{count}{unit}")
    return "".join(out)
