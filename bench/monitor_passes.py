"""The monitor as the long-running process it is, timed pass by pass (``python -m bench`` rows 1-3).

    python -m bench.monitor_passes CONFIG

Opens the configuration, database and parse workers once, as the daemon does when it
starts (and as the bench makes reader's database and adds its feeds before timing it),
prints ``ready``, then runs one pass per line read on stdin: every feed polled once,
as ``monitor run --once`` polls them, with the same parse workers kept between passes.
Each pass answers with one line of JSON: its seconds and its summary.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from monitor import gctune
from monitor.app import App
from monitor.config import load_config
from monitor.daemon import run_once
from monitor.parsepool import ParsePool
from monitor.storage.single import only_instance


async def serve(app: App) -> None:
    loop = asyncio.get_running_loop()
    with ParsePool() as pool:
        # Every worker started before the first pass: the daemon's are by its second poll.
        await asyncio.gather(*(pool.submit(os.getpid) for _ in range(pool.workers * 2)))
        gctune.settle()  # as ``monitor run`` does once started
        print("ready", flush=True)
        while await loop.run_in_executor(None, sys.stdin.readline):
            start = time.perf_counter()
            report = await run_once(app, max_wait=30.0, parse_pool=pool)
            seconds = time.perf_counter() - start
            print(json.dumps({"seconds": seconds, "summary": report.summary()}), flush=True)


def main() -> None:
    app = App.open(load_config(Path(sys.argv[1])))
    try:
        with only_instance(app.engine):
            asyncio.run(serve(app))
    finally:
        app.close()


if __name__ == "__main__":
    main()
