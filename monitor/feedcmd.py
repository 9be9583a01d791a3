"""``monitor feeds add | import | export``: the feeds list, edited from the command line.

``add`` fetches a URL as a feed poll would (same client, timeout, size cap and
``block_private_addresses``); a page is searched for the feed it names. ``import``
reads an OPML file; ``export`` writes one. Both edits go through
``monitor.feedsfile``: the rest of config.yaml is left byte for byte, the result must
validate, and it is written atomically. ``monitor feeds`` alone still prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from monitor.app import App, http_client
from monitor.config import Config, LoadedConfig, default_config_path, load_config
from monitor.discover import FeedLink, feed_links, is_http_url, looks_like_html, read_feed
from monitor.durations import parse_duration
from monitor.errors import FetchError, ParseError, StorageError
from monitor.feedsfile import EditError, NewFeed, add_feeds, read_text, write_atomic
from monitor.fetch import MAX_BODY_BYTES, Page, fetch_page
from monitor.models import ParsedFeed
from monitor.opml import OpmlError, OpmlFeed, Skipped, Subscriptions, build_opml, parse_opml
from monitor.storage.health import hide_credentials, url_secrets
from monitor.yamlsource import YamlSyntaxError, load_yaml

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
FEEDS_HELP = "one line per feed: last poll, status, next poll, polled by"
# ``$$`` (a literal ``$``), ``${NAME}`` or ``${NAME:-default}``, as monitor.yamlsource reads them
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


class Refused(Exception):
    """Bad usage, or a change that cannot be made: exit 2, nothing written."""


def add_feeds_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """``monitor feeds [add URL | import FILE | export]``."""
    feeds = sub.add_parser(
        "feeds",
        parents=[common],
        help=f"{FEEDS_HELP}; 'feeds add|import|export' edit the list",
        description=f"Without an action: {FEEDS_HELP}. With one: add a feed, import an OPML"
        " file, or export the feeds as OPML. Edits keep the rest of the file as it is.",
    )
    actions = feeds.add_subparsers(dest="action", metavar="ACTION")
    add = actions.add_parser(
        "add", parents=[common], help="add a feed, or the feed a web page links to"
    )
    add.add_argument("url", metavar="URL", help="a feed, or a page that names its feed")
    add.add_argument("--name", help="the feed's name (default: the feed's own title)")
    add.add_argument("--interval", metavar="DURATION", help="poll interval, e.g. 5m")
    add.add_argument("--rules", metavar="RULE[,RULE...]", help="only these rules (default: all)")
    imp = actions.add_parser("import", parents=[common], help="add every feed of an OPML file")
    imp.add_argument("file", type=Path, metavar="FILE.opml")
    imp.add_argument("--dry-run", action="store_true", help="show what would be added")
    exp = actions.add_parser("export", parents=[common], help="the feeds as OPML 2.0")
    exp.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")


def run_action(args: argparse.Namespace) -> int:
    """Run ``feeds add``, ``import`` or ``export``; returns the exit code."""
    actions: dict[str, Callable[[argparse.Namespace], int]] = {
        "add": cmd_add,
        "import": cmd_import,
        "export": cmd_export,
    }
    try:
        return actions[args.action](args)
    except Refused as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (FetchError, ParseError) as exc:
        print(f"monitor: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAILURE


def _load(args: argparse.Namespace) -> LoadedConfig:
    return load_config(args.config or default_config_path())


# feeds add


@dataclass(frozen=True)
class Found:
    """The feed ``feeds add`` settled on; ``page`` is where it was found, if not given."""

    url: str
    feed: ParsedFeed
    page: str | None = None
    others: tuple[FeedLink, ...] = ()


def cmd_add(args: argparse.Namespace) -> int:
    loaded = _load(args)
    url = args.url.strip()
    if not is_http_url(url):
        hint = f" (did you mean https://{url}?)" if "://" not in url else ""
        raise Refused(f"{url!r} is not an http:// or https:// URL{hint}")
    interval, rules = _interval(args.interval), _rules(args.rules)
    text = read_text(loaded.path)
    _refuse_configured(loaded, text, url)
    found = asyncio.run(discover(loaded.config, url))
    _refuse_configured(loaded, text, found.url, found.others)
    name = " ".join((args.name or "").split()) or None
    new = NewFeed(url=found.url, name=name, interval=interval, rules=rules)
    add_feeds(loaded.path, text, [new], os.environ)
    label = name or found.feed.title
    where = f" (found on {found.page})" if found.page else ""
    print(f"added {_quoted(label)}{found.url}{where}")
    _print_others(found.others)
    return EXIT_OK


def _interval(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        parse_duration(text)
    except ValueError as exc:
        raise Refused(f"--interval: {exc}") from exc
    return text.strip()


def _rules(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    rules = tuple(name.strip() for name in text.split(",") if name.strip())
    if not rules:
        raise Refused("--rules: give rule names separated by commas")
    return rules


def _refuse_configured(
    loaded: LoadedConfig, text: str, url: str, others: Sequence[FeedLink] = ()
) -> None:
    index = next((i for i, f in enumerate(loaded.config.feeds) if f.url == url.strip()), None)
    if index is None:
        return
    feed = loaded.config.feeds[index]
    line = load_yaml(text).line_of(("feeds", index))
    name = f' "{feed.name}"' if feed.name else ""
    _print_others(others)
    raise Refused(
        f"{url} is already configured: feeds[{index}]{name} at {loaded.path}:{line};"
        " nothing written"
    )


def _quoted(label: str | None) -> str:
    return f'"{" ".join(label.split())}" ' if label else ""


def _print_others(others: Sequence[FeedLink]) -> None:
    if not others:
        return
    print(f"the page names {len(others)} more: 'monitor feeds add URL' adds one of them")
    for link in others:
        title = f"  {link.title}" if link.title else ""
        print(f"  {link.url}  ({link.kind}){title}")


async def discover(config: Config, url: str) -> Found:
    """The feed at ``url``, or the one the page at ``url`` names first (RSS and Atom before
    JSON Feed). Raises FetchError or ParseError with the reason."""
    timeout = config.defaults.timeout
    async with http_client(config) as client:
        page = await _fetch(client, url, timeout)
        not_feed = None
        if not looks_like_html(page.body):
            try:
                return Found(url=url, feed=_feed(page))
            except ParseError as exc:
                not_feed = exc
        links = feed_links(page.text(), page.url)
        if not links and not_feed is not None:
            raise ParseError(f"no feed at {url}: {not_feed}") from not_feed
        if not links:
            raise ParseError(f"no feed at {url}: the page names none (no <link rel=alternate>)")
        chosen = links[0]
        try:
            feed = _feed(await _fetch(client, chosen.url, timeout))
        except ParseError as exc:
            raise ParseError(f"{chosen.url}, named by {url}, is no feed: {exc}") from exc
        return Found(url=chosen.url, feed=feed, page=url, others=tuple(links[1:]))


async def _fetch(client: httpx.AsyncClient, url: str, timeout: float) -> Page:
    try:
        return await fetch_page(client, url, timeout)
    except FetchError as exc:
        raise FetchError(f"cannot fetch {url}: {exc}", exc.status) from exc


def _feed(page: Page) -> ParsedFeed:
    """The page read as a feed; one over the size cap would fail every poll, so is refused."""
    if page.truncated:
        limit = MAX_BODY_BYTES // (1024 * 1024)
        raise ParseError(f"over {limit} MiB, more than a poll reads")
    return read_feed(page.body, page.content_type, page.url)


# feeds import


@dataclass(frozen=True)
class ImportPlan:
    """What an OPML file brings: feeds to add, ones already configured, ones skipped."""

    add: tuple[NewFeed, ...]
    already: tuple[OpmlFeed, ...]
    skipped: tuple[Skipped, ...]


def cmd_import(args: argparse.Namespace) -> int:
    loaded = _load(args)
    text = read_text(loaded.path)
    as_written = written_urls(text, len(loaded.config.feeds))
    written = [url for url in as_written if url is not None and _names_variables(url)]
    plan = plan_import(_read_opml(args.file), loaded.config, written)
    if plan.add:
        add_feeds(loaded.path, text, plan.add, os.environ, write=not args.dry_run)
    verb = "would add" if args.dry_run else "added"
    for feed in plan.add:
        print(f"{verb} {_quoted(feed.name)}{feed.url}")
    for skip in plan.skipped:
        print(f"skipped {skip.what}: {skip.reason}")
    print(import_summary(plan, args.dry_run))
    return EXIT_OK


def _read_opml(path: Path) -> Subscriptions:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return parse_opml(data)
    except OpmlError as exc:
        raise Refused(f"{path}: not a readable OPML file: {exc}") from exc


def plan_import(subs: Subscriptions, config: Config, written: Sequence[str] = ()) -> ImportPlan:
    """Which feeds of ``subs`` to add: not configured (also as ``written``: URLs as
    config.yaml writes them, ``${VAR}`` and all, as ``feeds export`` gives them), not
    repeated, names made unique. The first feed of each category gets the category as a
    comment line above it."""
    configured = {feed.url for feed in config.feeds} | set(written)
    names = {feed.name for feed in config.feeds if feed.name}
    planned: dict[str, NewFeed] = {}
    already: list[OpmlFeed] = []
    skipped = list(subs.skipped)
    category: tuple[str, ...] = ()
    for feed in subs.feeds:
        if feed.url in planned:
            skipped.append(Skipped(feed.url, "listed twice"))
        elif feed.url in configured:
            already.append(feed)
        else:
            new_category = bool(feed.category) and feed.category != category
            comment = " / ".join(feed.category) if new_category else None
            name = _unique(feed.name, feed.category, names)
            planned[feed.url] = NewFeed(url=feed.url, name=name, comment=comment)
            category = feed.category
    return ImportPlan(tuple(planned.values()), tuple(already), tuple(skipped))


def _unique(name: str | None, category: tuple[str, ...], taken: set[str]) -> str | None:
    """``name``, else with its category, else numbered: feed names must differ."""
    if name is None:
        return None
    candidates = [name] + ([f"{name} ({category[-1]})"] if category else [])
    candidates += [f"{name} ({n})" for n in range(2, len(taken) + 3)]
    chosen = next(c for c in candidates if c not in taken)
    taken.add(chosen)
    return chosen


def import_summary(plan: ImportPlan, dry_run: bool) -> str:
    """``N added, M already configured, K skipped (reasons)``."""
    reasons = Counter(skip.reason for skip in plan.skipped)
    why = ", ".join(f"{count} {reason}" for reason, count in reasons.items())
    line = (
        f"{len(plan.add)} {'to add' if dry_run else 'added'}, "
        f"{len(plan.already)} already configured, {len(plan.skipped)} skipped"
    )
    line += f" ({why})" if why else ""
    return line + (" - dry run, nothing written" if dry_run else "")


# feeds export


def cmd_export(args: argparse.Namespace) -> int:
    loaded = _load(args)
    titles = _stored_titles(loaded)
    configured = loaded.config.feeds
    written = written_urls(_read_again(loaded.path), len(configured))
    feeds = [
        OpmlFeed(url=export_url(as_written, f.url), name=f.name or titles.get(f.url))
        for f, as_written in zip(configured, written, strict=True)
    ]
    data = build_opml(feeds, f"feed-monitor: {loaded.path.name}", datetime.now(UTC))
    if args.output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return EXIT_OK
    write_atomic(args.output, data, new_mode=0o600)  # it may name credentials' variables
    print(f"{len(feeds)} feeds written to {args.output}", file=sys.stderr)
    return EXIT_OK


def export_url(written: str | None, url: str) -> str:
    """The URL ``feeds export`` writes for a feed configured as ``written`` (``url`` once
    substituted). As written when it takes its secrets from ``${VAR}`` references: the file
    then holds no secret, only their names (a re-import on this machine finds the feed
    configured). Otherwise with its credentials hidden."""
    if written and _names_variables(written):
        if not any(_without_variables(secret) for secret in url_secrets(written)):
            return written
    return hide_credentials(url)


def _names_variables(text: str) -> bool:
    return any(m.group(1) for m in _VAR.finditer(text))


def _without_variables(text: str) -> str:
    """``text`` without its ``${NAME}`` references: what it writes out (a default too)."""
    return _VAR.sub(lambda m: "" if m.group(1) and m.group(2) is None else m.group(), text)


def written_urls(text: str | None, count: int) -> list[str | None]:
    """The ``count`` feeds' URLs as config.yaml's ``text`` writes them, before ``${VAR}``
    substitution; None for each where that cannot be told (the file changed meanwhile)."""
    unknown: list[str | None] = [None] * count
    try:
        data = load_yaml(text).data if text is not None else None
    except YamlSyntaxError:
        return unknown
    feeds = data.get("feeds") if isinstance(data, dict) else None
    if not isinstance(feeds, list) or len(feeds) != count:
        return unknown
    return [
        f.get("url") if isinstance(f, dict) and isinstance(f.get("url"), str) else None
        for f in feeds
    ]


def _read_again(path: Path) -> str | None:
    try:
        return read_text(path)
    except EditError:
        return None


def _stored_titles(loaded: LoadedConfig) -> dict[str, str]:
    """Each feed's own title, as its last poll stored it, by configured URL.

    Titles only complete the export: when the database cannot be read, it goes on without.
    """
    try:
        app = App.open(loaded)
        try:
            return {s.config_url: s.title for s in app.storage.feed_statuses() if s.title}
        finally:
            app.close()
    except StorageError as exc:
        print(
            f"monitor: no stored titles ({exc}); unnamed feeds are listed by URL", file=sys.stderr
        )
        return {}
