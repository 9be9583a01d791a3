"""The ``monitor`` command: parse arguments, run one command, map errors to exit codes.

Exit codes: 0 success; 1 a runtime failure; 2 bad usage or invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from monitor import __version__
from monitor.app import App
from monitor.config import LoadedConfig, default_config_path, load_config
from monitor.errors import ConfigError, MonitorError
from monitor.report import describe_config, feeds_table

log = logging.getLogger("monitor")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=Path,
        default=None,
        help="configuration file (default: $MONITOR_CONFIG, else ./config.yaml)",
    )
    common.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Watch RSS/Atom feeds and alert when a story matches a rule.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"feed-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", parents=[common], help="run the daemon (or one pass with --once)")
    run.add_argument("--once", action="store_true", help="poll every feed once, then exit")
    run.add_argument(
        "--max-wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="with --once: how long to wait for deliveries and their retries (default 30)",
    )
    sub.add_parser("check", parents=[common], help="validate the configuration and every rule")
    sub.add_parser("feeds", parents=[common], help="one line per feed: last poll, status, next")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    _setup_logging(args.log_level)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": cmd_run,
        "check": cmd_check,
        "feeds": cmd_feeds,
    }
    try:
        return commands[args.command](args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    except MonitorError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))


def _load(args: argparse.Namespace) -> LoadedConfig:
    return load_config(args.config or default_config_path())


def cmd_check(args: argparse.Namespace) -> int:
    loaded = _load(args)
    print(describe_config(loaded))
    return EXIT_OK


def cmd_feeds(args: argparse.Namespace) -> int:
    app = App.open(_load(args))
    try:
        print(feeds_table(app.storage.feed_statuses(), app.clock.now()))
    finally:
        app.close()
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    app = App.open(_load(args))
    try:
        if args.once:
            return _run_once(app)
        from monitor.daemon import Daemon

        asyncio.run(Daemon(app).run())
        return EXIT_OK
    finally:
        app.close()


def _run_once(app: App) -> int:
    from monitor.daemon import run_once

    progress = _progress_printer() if sys.stderr.isatty() else None
    report = asyncio.run(run_once(app, progress))
    if progress:
        print(file=sys.stderr)
    log.info("%s", report.summary())
    return EXIT_OK


def _progress_printer() -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        print(f"\rpolled {done}/{total} feeds", end="", file=sys.stderr, flush=True)

    return show
