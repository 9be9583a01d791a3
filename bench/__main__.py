"""The monitor against the tools users would pick instead, every row measured in one run.

    python -m bench [--feeds 2000] [--quick]

N realistic feeds (RSS and Atom, 40 entries each, some with full bodies, some with the rule
phrases) are served from 127.0.0.1..20 by nginx (or, where it is not installed, an aiohttp
static server) in a process of its own (``bench.server``). Rows:

1-3. first pass (every feed new), unchanged pass (every feed answers 304) and a pass where
     10% of the feeds changed, in feeds/s, beside a naive sequential ``feedparser.parse(url)``
     loop and the ``reader`` library (``update_feeds(workers=20)``, ``scheduled=False`` so
     every pass updates every feed). Each tool is set up before it is timed: reader's
     database made and its feeds added; the monitor's process started, its database
     migrated and its parse workers running (``bench.monitor_passes``), as the daemon keeps
     them. Row 3 is the median of three such passes for reader and the monitor, each with
     new entries in the same feeds (the naive loop reads them all whole anyway: one pass).
     A last line times ``monitor run --once`` as a new process on an unchanged pass,
     start-up included;
4.   matching cost per entry for 10 / 1,000 / 10,000 rules (``bench.matching``);
5.   detection-to-delivery latency to a local webhook receiver (median, p99): from the
     daemon's log line for the poll that stored the alert to the receiver's clock;
6.   peak RSS of the daemon with 10,000 feeds configured, once it has polled them all.

``--quick`` (CI) runs every row small so the benchmark cannot rot.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import feedparser

from bench import matching
from bench.feeds import ENV, RULES, change_feeds, own_words, write_feeds
from bench.server import started

CHANGED_ROUNDS = 3


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


class MonitorPasses:
    """``bench.monitor_passes`` in a process of its own: set up once, then timed pass by pass."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.monitor_passes", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        if self.stdout.readline().strip() != "ready":
            raise RuntimeError("bench.monitor_passes did not start")
        self.summaries: list[str] = []

    def run_pass(self) -> None:
        self.stdin.write("pass\n")
        self.stdin.flush()
        line = self.stdout.readline()
        if not line:
            raise RuntimeError("bench.monitor_passes exited during a pass")
        self.summaries.append(json.loads(line)["summary"])

    def close(self) -> None:
        self.stdin.close()
        self.proc.wait(60)


def monitor_once(config: Path) -> None:
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
            "ERROR",
        ],
        check=True,
        env=ENV,
    )


def write_config(path: Path, urls: list[str], extra: str = "", interval: str = "1h") -> Path:
    feeds = "".join(f"  - url: {u}\n" for u in urls)
    path.write_text(
        f"database: sqlite:///{path.stem}.db\n"
        f"defaults: {{interval: {interval}, timeout: 20s}}\nfeeds:\n{feeds}{RULES}{extra}"
    )
    return path


def passes(root: Path, urls: list[str], feeds_dir: Path) -> dict[str, dict[str, float]]:
    """Rows 1-3: seconds per pass for each tool."""
    from reader import make_reader

    times: dict[str, dict[str, float]] = {"naive": {}, "reader": {}, "monitor": {}}
    reader = make_reader(str(root / "reader.sqlite"))
    for url in urls:
        reader.add_feed(url)
    config = write_config(root / "monitor.yaml", urls)

    def naive() -> None:
        for url in urls:
            feedparser.parse(url)

    def read() -> None:
        reader.update_feeds(workers=20, scheduled=False)

    monitor = MonitorPasses(config)
    try:
        for name in ("first", "unchanged"):
            times["naive"][name] = timed(naive)
            times["reader"][name] = timed(read)
            times["monitor"][name] = timed(monitor.run_pass)
        # One pass of each is one sample on a noisy machine (reader's has ranged from 119 to
        # 200 feeds/s on the same code): reader and the monitor take the median of
        # CHANGED_ROUNDS, each with new entries in the same 10% of the feeds. The naive loop
        # reads every feed whole whatever changed: one pass of it says as much.
        for round_ in range(1, CHANGED_ROUNDS + 1):
            change_feeds(feeds_dir, len(urls), round_)
            if round_ == 1:
                times["naive"]["changed"] = timed(naive)
            times["reader"][f"changed {round_}"] = timed(read)
            times["monitor"][f"changed {round_}"] = timed(monitor.run_pass)
        for tool in ("reader", "monitor"):
            rounds = [times[tool][f"changed {r}"] for r in range(1, CHANGED_ROUNDS + 1)]
            times[tool]["changed"] = statistics.median(rounds)
    finally:
        monitor.close()
    # Each pass a new process, as cron would run it: start-up, migrations check and parse
    # workers included, on the unchanged pass where they weigh most.
    times["run --once"] = {"unchanged": timed(lambda: monitor_once(config))}
    reader.close()
    return times


class Receiver:
    """A webhook receiver recording when each alert arrived, by feed name."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                at = time.time()
                outer.arrived.setdefault(json.loads(body)["feed"]["name"], at)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"


def latency(root: Path, base: str, count: int) -> list[float]:
    """Row 5: seconds from the poll that stored each alert to the receiver getting it."""
    feeds = root / "feeds"
    receiver = Receiver()
    names = [f"lat-{k}" for k in range(count)]
    for name in names:
        (feeds / f"{name}.xml").write_bytes(_latency_feed(name, fresh=False))
    config = root / "latency.yaml"
    config.write_text(
        "database: sqlite:///latency.db\ndefaults: {interval: 1s, timeout: 5s}\nfeeds:\n"
        + "".join(f"  - url: {base}/{n}.xml\n    name: {n}\n" for n in names)
        + RULES
        + f"notifiers:\n  hook: {{type: webhook, url: '{receiver.url}'}}\n"
    )
    log = root / "latency.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config), "--log-level", "INFO"],
            stderr=out,
            stdout=subprocess.DEVNULL,
            env=ENV,
        )
    try:
        time.sleep(4)  # every feed polled once: its old entries stored without alerts
        for name in names:
            (feeds / f"{name}.xml").write_bytes(_latency_feed(name, fresh=True))
            time.sleep(0.1)
        deadline = time.time() + 60
        while len(receiver.arrived) < count and time.time() < deadline:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        receiver.httpd.shutdown()
    detected = _detections(log.read_text())
    return sorted(receiver.arrived[n] - detected[n] for n in names if n in receiver.arrived)


def _latency_feed(name: str, fresh: bool) -> bytes:
    items = [f"<item><title>{name} weather</title><guid>{name}-old</guid></item>"]
    if fresh:
        when = format_datetime(datetime.now(UTC), usegmt=True)
        words = own_words(int(name.rsplit("-", 1)[1]))  # each feed's story is its own
        items.append(
            f"<item><title>{name}: state of emergency declared</title><guid>{name}-new</guid>"
            f"<description>{words}</description>"
            f"<link>https://news.test/{name}/new</link><pubDate>{when}</pubDate></item>"
        )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
        f"{''.join(items)}</channel></rss>"
    ).encode()


def _detections(log: str) -> dict[str, float]:
    """From the daemon's log: when each feed's poll stored an alert."""
    out = {}
    for line in log.splitlines():
        if ": feed lat-" in line and " 1 alerts" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            name = line.split(": feed ", 1)[1].split(":", 1)[0]
            out.setdefault(name, stamp)
    return out


def peak_rss(root: Path, urls: list[str], configured: int, seconds: float) -> tuple[int, int]:
    """Row 6: (peak RSS in MB, feeds polled) for a daemon with ``configured`` feeds."""
    copies = [f"{urls[k % len(urls)]}?copy={k}" for k in range(configured)]
    config = write_config(root / "rss.yaml", copies)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(config), "--log-level", "ERROR"],
        env=ENV,
    )
    try:
        # until every feed was polled once (the first pass, when memory peaks), at most
        # ``seconds``
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and _polled(root / "rss.db") < configured:
            time.sleep(1)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak_kb = int(status.split("VmHWM:")[1].split()[0])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return peak_kb // 1024, _polled(root / "rss.db")


def _polled(database: Path) -> int:
    """How many feeds of the daemon's database were polled (0 before it made its tables)."""
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT count(*) FROM feeds WHERE last_poll_at IS NOT NULL")
            return int(row.fetchone()[0])
    except sqlite3.OperationalError:  # no database or no table yet, or busy
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="small N for CI")
    args = parser.parse_args()
    count = 60 if args.quick else args.feeds
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = write_feeds(root / "feeds", count)
        with started(root / "feeds") as (server, bases):
            urls = [f"{bases[n % len(bases)]}/{name}" for n, name in enumerate(names)]
            print(f"{count} feeds, {_size(root / 'feeds') / count / 1e3:.0f} KB each on average,")
            print(
                f"served by {server} (own process) from {len(bases)} loopback addresses; "
                f"{os.cpu_count()} cores"
            )
            times = passes(root, urls, root / "feeds")
            per_entry = _matching(args.quick)
            delays = latency(root, bases[0], 10 if args.quick else 100)
            rss_mb, polled = peak_rss(
                root, urls, 1_000 if args.quick else 10_000, 15 if args.quick else 90
            )
    _table(count, times, per_entry, delays, rss_mb, polled, 1_000 if args.quick else 10_000)


def _matching(quick: bool) -> dict[int, float]:
    rng = random.Random(7)
    entries = matching.make_entries(60 if quick else 400, rng)
    out = {}
    for n in matching.SIZES:
        rules = matching.make_rules(n, random.Random(n))
        out[n] = matching.throughput(
            matching.monitor_matcher(rules), entries, 0.3 if quick else 2.0
        )[1]
    return out


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir())


def _table(
    count: int,
    times: dict[str, dict[str, float]],
    per_entry: dict[int, float],
    delays: list[float],
    rss_mb: int,
    polled: int,
    configured: int,
) -> None:
    print()
    head = f"{'pass (feeds/s)':<22}{'naive':>9}{'reader':>9}{'monitor':>9}"
    print(f"{head}{'x naive':>9}{'x reader':>10}")
    for name, label in (
        ("first", "1. first pass"),
        ("unchanged", "2. unchanged (304)"),
        ("changed", "3. 10% changed"),
    ):
        rate = {tool: count / times[tool][name] for tool in ("naive", "reader", "monitor")}
        print(
            f"{label:<22}{rate['naive']:>9.1f}{rate['reader']:>9.1f}{rate['monitor']:>9.1f}"
            f"{rate['monitor'] / rate['naive']:>9.2f}{rate['monitor'] / rate['reader']:>10.2f}"
        )
    ratios = " / ".join(
        f"{times['reader'][f'changed {r}'] / times['monitor'][f'changed {r}']:.2f}"
        for r in range(1, CHANGED_ROUNDS + 1)
    )
    print(
        f"   (row 3: the median of {CHANGED_ROUNDS} passes of reader and of the monitor; "
        f"x reader pass by pass: {ratios})"
    )
    once = count / times["run --once"]["unchanged"]
    print(
        f"   (monitor run --once, a new process for the pass: {once:.1f} feeds/s unchanged, "
        f"{once / (count / times['reader']['unchanged']):.2f}x reader)"
    )
    print()
    print(
        "4. matching, us per entry: "
        + ", ".join(f"{n:,} rules {us:.0f}" for n, us in per_entry.items())
    )
    first, last = per_entry[matching.SIZES[0]], per_entry[matching.SIZES[-1]]
    many, few = matching.SIZES[-1], matching.SIZES[0]
    print(f"   {many:,} rules cost {last / first:.2f}x the per-entry cost of {few}")
    if delays:
        p99 = delays[min(len(delays) - 1, int(round(0.99 * (len(delays) - 1))))]
        median = statistics.median(delays)
        print(
            f"5. detection to delivery ({len(delays)} alerts): median {median * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms"
        )
    else:
        print("5. detection to delivery: no alert arrived")
    print(
        f"6. peak RSS with {configured:,} feeds configured: {rss_mb} MB ({polled:,} polled by then)"
    )


if __name__ == "__main__":
    main()
