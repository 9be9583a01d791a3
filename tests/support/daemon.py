"""``monitor run`` as a background process, and waiting for what it does, in tests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.process import clean_env


class Daemon:
    """``monitor run`` in the background; output goes to files so a full pipe never blocks it."""

    def __init__(self, config: Path, name: str) -> None:
        self.out_path = config.parent / f"{name}.out"
        self.err_path = config.parent / f"{name}.err"
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "-c", str(config)],
                stdout=out,
                stderr=err,
                env=clean_env(),
            )

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, float]:
        """Send ``sig`` and wait; the exit code and how many seconds the exit took."""
        self.proc.send_signal(sig)
        started = time.monotonic()
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not met within {timeout:g}s: {what or predicate}")


class ServingDaemon:
    """``monitor run`` with ``web.listen`` on port 0, as a child process; its log goes to a
    file (a full pipe would block it) and tells the address it serves."""

    def __init__(self, config: Path, prefix: list[str] | None = None) -> None:
        self.err_path = config.parent / "daemon.err"
        command = [*(prefix or []), sys.executable, "-m", "monitor", "run", "-c", str(config)]
        with self.err_path.open("w") as err:
            self.proc = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=err, env=clean_env()
            )

    @property
    def log(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def url(self, timeout: float = 30.0) -> str:
        """The base URL the daemon logged, once it did."""
        found: list[str] = []

        def logged() -> bool:
            found.extend(re.findall(r"web: serving on (http://\S+/)", self.log))
            assert self.proc.poll() is None, f"the daemon exited:\n{self.log}"
            return bool(found)

        wait_for(logged, timeout, "the daemon serving its web endpoint")
        return found[0]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)
