"""Where the monitor's CPU goes in ``python -m bench`` rows 1-3, thread by thread.

    python -m bench.cpu [--feeds 2000] [--rounds 3]

The monitor alone, in this process, set up as ``monitor run`` sets itself up (parse
workers started, the collector settled): a first pass, an unchanged pass, then
``--rounds`` passes in which the same 10% of the feeds changed, each round with new
entries. Each pass prints its seconds and the CPU seconds of: the event loop (fetching),
the storage threads (the writer), the parse pool's manager thread (results coming back),
the garbage collector, and the parse workers. The main process is the sum of the first
three; on two cores, main process and workers together bound a pass.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.__main__ import write_config
from bench.feeds import change_feeds, write_feeds
from bench.server import started
from monitor import gctune
from monitor.app import App
from monitor.config import load_config
from monitor.daemon import run_once
from monitor.parsepool import ParsePool


class Collector:
    """Seconds the garbage collector ran, from its callbacks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started


def by_thread() -> dict[str, float]:
    """CPU seconds of this process's threads so far, by what they do."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        name = names.get(int(tid), "")
        role = (
            "loop" if name == "MainThread"
            else "writer" if name.startswith("asyncio_")
            else "pool" if name.startswith("Thread-") or "Feeder" in name
            else "other"
        )  # fmt: skip
        out[role] = out.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def workers_cpu() -> float:
    return sum(sum(c.cpu_times()[:2]) for c in psutil.Process().children())


async def passes(config: Path, feeds_dir: Path, count: int, rounds: int) -> None:
    app = App.open(load_config(config))
    collector = Collector()
    with ParsePool() as pool:
        await asyncio.gather(*(pool.submit(os.getpid) for _ in range(pool.workers * 2)))
        gctune.settle()  # as monitor run does once started

        async def timed(name: str) -> None:
            threads, workers, collected = by_thread(), workers_cpu(), collector.seconds
            start = time.perf_counter()
            await run_once(app, max_wait=30.0, parse_pool=pool)
            seconds = time.perf_counter() - start
            spent = {k: v - threads.get(k, 0.0) for k, v in by_thread().items()}
            print(
                f"{name:14s} {seconds:6.2f} {count / seconds:8.1f}"
                f" {spent.get('loop', 0):6.2f} {spent.get('writer', 0):7.2f}"
                f" {spent.get('pool', 0):6.2f} {collector.seconds - collected:5.2f}"
                f" {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024:6d}"
                f" {workers_cpu() - workers:8.2f}",
                flush=True,
            )

        print(f"{count} feeds; CPU seconds per pass")
        print("pass            secs  feeds/s   loop  writer   pool    gc  MB RSS  workers")
        await timed("first")
        await timed("unchanged")
        for r in range(1, rounds + 1):
            change_feeds(feeds_dir, count, r)  # the feeds row 3 changes
            await timed(f"10% changed {r}")
    app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(root)  # the configuration's database is relative
        names = write_feeds(root / "feeds", args.feeds)
        with started(root / "feeds") as (_server, bases):
            urls = [f"{bases[n % len(bases)]}/{name}" for n, name in enumerate(names)]
            config = write_config(root / "monitor.yaml", urls)
            asyncio.run(passes(config, root / "feeds", args.feeds, args.rounds))


if __name__ == "__main__":
    main()
