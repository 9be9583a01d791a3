"""Tests that need something the machine may lack: skip locally, fail under CI (``CI=true``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def skip_unless_ci(reason: str, why_ci_runs_it: str = "CI runs this test") -> None:
    """Skip with ``reason``; under CI, where the test must run, fail with it instead."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{why_ci_runs_it}: {reason}")
    pytest.skip(reason)


def require(path: Path, why: str) -> None:
    """Skip (under CI, fail) when ``path`` is missing; ``why`` says what needs it."""
    if not path.exists():
        skip_unless_ci(f"{path} is missing: {why}")
