"""The ``monitor`` command: parse arguments, run one command, map errors to exit codes.

Exit codes: 0 success; 1 a runtime failure; 2 bad usage or invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from monitor import __version__, gctune
from monitor.app import App
from monitor.config import LoadedConfig, default_config_path, load_config
from monitor.durations import parse_duration
from monitor.errors import ConfigError, MonitorError, QueryError
from monitor.feedcmd import add_feeds_parser, run_action
from monitor.logs import FORMATS, LEVELS, setup_logging
from monitor.matching.matcher import Matcher
from monitor.report import alerts_table, describe_config, feeds_table
from monitor.storage.outbox import Outbox
from monitor.storage.single import only_instance

log = logging.getLogger("monitor")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments found after parsing: exit 2."""


def _common_options(top: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name.

    Only the top-level parser holds their defaults: a subcommand's parser would
    otherwise overwrite ``monitor --log-format json check`` with its own default.
    """

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=Path,
        default=default(None),
        help="configuration file (default: $MONITOR_CONFIG, else ./config.yaml)",
    )
    common.add_argument("--log-level", default=default("INFO"), choices=LEVELS)
    common.add_argument(
        "--log-format",
        default=default("text"),
        choices=FORMATS,
        help="text: one line for people (default); json: one JSON object a line",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(top=False)
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Watch RSS/Atom feeds and alert when a story matches a rule.",
        parents=[_common_options(top=True)],
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
        help="with --once: how long to wait for articles, deliveries and retries (default 30)",
    )
    sub.add_parser("check", parents=[common], help="validate the configuration and every rule")
    add_feeds_parser(sub, common)
    _add_test_rule(sub, common)
    prune = sub.add_parser(
        "prune", parents=[common], help="delete entries older than retention.entries now"
    )
    prune.add_argument(
        "--older-than", metavar="DURATION", help="instead of retention.entries, e.g. 30d"
    )
    prune.add_argument("--dry-run", action="store_true", help="only count what would go")
    alerts = sub.add_parser(
        "alerts",
        parents=[common],
        help="recent alerts and their deliveries; 'alerts retry [ID...]' requeues failed ones",
    )
    alerts.add_argument("action", nargs="*", metavar="retry [ID ...]")
    alerts.add_argument("--failed", action="store_true", help="only alerts with a failed delivery")
    alerts.add_argument("--limit", type=int, default=50, help="how many alerts (default 50)")
    return parser


def _add_test_rule(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    test = sub.add_parser(
        "test-rule",
        parents=[common],
        help="show whether a query matches a text, file, page or the stored entries",
    )
    test.add_argument("query", help="a rule query, e.g. '\"state of emergency\" OR curfew'")
    source = test.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="match this text")
    source.add_argument("--file", type=Path, help="match this file (text or HTML)")
    source.add_argument("--url", help="fetch this page and match its text")
    source.add_argument("--stored", action="store_true", help="backtest over stored entries")
    test.add_argument("--since", default="30d", help="with --stored: how far back (default 30d)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
    setup_logging(args.log_level, args.log_format)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": cmd_run,
        "check": cmd_check,
        "feeds": cmd_feeds,
        "test-rule": cmd_test_rule,
        "alerts": cmd_alerts,
        "prune": cmd_prune,
    }
    try:
        return commands[args.command](args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MonitorError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:  # `monitor feeds | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _load(args: argparse.Namespace) -> LoadedConfig:
    return load_config(args.config or default_config_path())


def cmd_check(args: argparse.Namespace) -> int:
    loaded = _load(args)
    print(describe_config(loaded))
    return EXIT_OK


def cmd_feeds(args: argparse.Namespace) -> int:
    if args.action is not None:  # add, import, export
        return run_action(args)
    app = App.open(_load(args))
    try:
        print(feeds_table(app.storage.feed_statuses(), app.clock.now()))
    finally:
        app.close()
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    # A reload asked for while migrations run must not kill the process (SIGHUP's default);
    # the daemon installs its own handler once it serves.
    if threading.current_thread() is threading.main_thread():  # only it may set handlers
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    app = App.open(_load(args))
    from monitor import daemon  # what serving needs, imported before the collector settles

    gctune.settle()  # started: what start-up made stays as long as the process
    try:
        with only_instance(app.engine) as single:
            if single:  # no other instance can hold a claim: a dead one's claims go
                app.storage.clear_claims()
            if args.once:
                return _run_once(app, args.max_wait)
            server = daemon.Daemon(app)
            asyncio.run(server.run())
            if server.fatal is not None:
                raise server.fatal
            return EXIT_OK
    finally:
        app.close()


def _run_once(app: App, max_wait: float) -> int:
    from monitor.daemon import run_once

    progress = _progress_printer() if sys.stderr.isatty() else None
    report = asyncio.run(run_once(app, max_wait, progress))
    if progress:
        print(file=sys.stderr)
    log.info("%s", report.summary())
    return EXIT_OK


def _progress_printer() -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        print(f"\rpolled {done}/{total} feeds", end="", file=sys.stderr, flush=True)

    return show


def _marks() -> tuple[str, str]:
    """Bold on a terminal, ``**`` around the matched words otherwise."""
    return ("\033[1;31m", "\033[0m") if sys.stdout.isatty() else ("**", "**")


def cmd_test_rule(args: argparse.Namespace) -> int:
    from monitor import rulecheck

    try:
        matcher = rulecheck.compile_query(args.query)
    except QueryError as exc:
        print(f"monitor: bad query: {exc}", file=sys.stderr)
        print(f"  {args.query}\n  {' ' * (exc.column - 1)}^", file=sys.stderr)
        return EXIT_USAGE
    if args.stored:
        return _backtest(args, matcher)
    if args.url:
        entry = rulecheck.fetch_page(args.url)
    else:
        entry = rulecheck.text_entry(args.text if args.text is not None else _read(args.file))
    match = rulecheck.match_one(matcher, entry)
    if match is None:
        print("no match")
        return EXIT_FAILURE
    print(rulecheck.render_match(match, *_marks()))
    return EXIT_OK


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _backtest(args: argparse.Namespace, matcher: Matcher) -> int:
    from monitor import rulecheck

    try:
        window = parse_duration(args.since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from exc
    app = App.open(_load(args))
    try:
        since = app.clock.now() - timedelta(seconds=window)
        result = rulecheck.backtest(matcher, app.storage.entries_since(since))
    finally:
        app.close()
    print(rulecheck.render_backtest(result, args.since, *_marks()))
    return EXIT_OK if result.hits else EXIT_FAILURE


def cmd_prune(args: argparse.Namespace) -> int:
    from monitor.retention import prune_entries

    loaded = _load(args)
    older_than = loaded.config.retention.entries
    if args.older_than is not None:
        try:
            older_than = parse_duration(args.older_than)
        except ValueError as exc:
            raise UsageError(f"--older-than: {exc}") from exc
    if older_than is None:
        raise UsageError("no retention.entries in the configuration: give --older-than")
    app = App.open(loaded)
    try:
        result = prune_entries(app.engine, app.clock.now(), older_than, args.dry_run)
    finally:
        app.close()
    verb = "would prune" if args.dry_run else "pruned"
    print(f"{verb} {result.pruned} entries first seen before {result.cutoff:%Y-%m-%d %H:%M} UTC")
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    action = args.action
    if action and action[0] != "retry":
        raise UsageError(f"unknown alerts action {action[0]!r} (did you mean 'alerts retry'?)")
    app = App.open(_load(args))
    try:
        outbox = Outbox(app.engine)
        if action:
            count = outbox.retry_failed(action[1:] or None, app.clock.now())
            print(f"{count} failed deliveries put back in the queue")
            return EXIT_OK
        print(alerts_table(outbox.alerts(args.limit, args.failed)))
    finally:
        app.close()
    return EXIT_OK
