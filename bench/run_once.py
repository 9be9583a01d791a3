"""How long ``monitor run --once`` takes on N local feeds, beside a naive sequential loop.

    python -m bench.run_once [--feeds 500] [--quick]

Rows: the monitor's first pass (every feed new), its second pass (every feed
answers 304), and a naive ``for url: feedparser.parse(url)`` loop over the same
feeds from the same server, in the same run, so the ratio means something on a
noisy machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import feedparser

from bench.feeds import serve, write_feeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="50 feeds, for CI")
    args = parser.parse_args()
    count = 50 if args.quick else args.feeds
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = write_feeds(root / "feeds", count)
        httpd, base = serve(root / "feeds")
        urls = [f"{base}/{name}" for name in names]
        config = _config(root, urls)
        naive = _timed(lambda: [feedparser.parse(u) for u in urls])
        first = _timed(lambda: _run_once(config))
        second = _timed(lambda: _run_once(config))
        httpd.shutdown()
    print(f"{count} feeds of about 40 entries, served from 127.0.0.1")
    print(f"{'pass':<40}{'seconds':>10}{'feeds/s':>10}{'x naive':>10}")
    for label, seconds in (
        ("naive sequential feedparser.parse(url)", naive),
        ("monitor run --once, first pass", first),
        ("monitor run --once, unchanged (304)", second),
    ):
        print(f"{label:<40}{seconds:>10.2f}{count / seconds:>10.1f}{naive / seconds:>10.2f}")


def _config(root: Path, urls: list[str]) -> Path:
    feeds = "".join(f"  - url: {u}\n" for u in urls)
    path = root / "config.yaml"
    path.write_text(f"database: sqlite:///monitor.db\nfeeds:\n{feeds}")
    return path


def _run_once(config: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "run",
            "--once",
            "-c",
            str(config),
            "--log-level",
            "WARNING",
        ],
        check=True,
        env=env,
    )


def _timed(action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
