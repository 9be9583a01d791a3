"""The ``monitor`` command as a child process, with no proxy from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without proxies (tests talk to loopback only), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {**env, **extra}


def monitor(
    *args: str,
    timeout: float = 60,
    preexec: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m monitor ARGS`` to the end; its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or clean_env(),
        preexec_fn=preexec,
    )
