"""``monitor test-rule``: try a query on a text, a file, a page, or the stored entries.

The backtest runs the query over entries already in the database and counts
what would have alerted, per feed and per day, so a rule can be tuned before
it goes live.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from monitor import fetch
from monitor.article import extract_article
from monitor.errors import FetchError
from monitor.fetch import Page, make_client
from monitor.matching.matcher import Match, Matcher, RuleSpec
from monitor.matching.query import parse_query
from monitor.matching.snippet import highlight
from monitor.matching.text import PreparedEntry, html_to_text, page_title, prepare_entry
from monitor.models import StoredEntry

RULE = "query"


def compile_query(query: str) -> Matcher:
    """A matcher for one query; raises QueryError."""
    return Matcher([RuleSpec(name=RULE, query=parse_query(query))])


def match_one(matcher: Matcher, entry: PreparedEntry) -> Match | None:
    matches = matcher.match(entry)
    return matches[0] if matches else None


def text_entry(text: str) -> PreparedEntry:
    """A text or HTML document, matched as an entry's content."""
    return prepare_entry("", "", text)


def fetch_page(url: str, timeout: float = 20.0) -> PreparedEntry:
    """A web page's title and article text, fetched once; raises FetchError.

    Fetched as feeds are (``monitor.fetch.fetch_page``): at most 10 MiB of the page,
    decoded, is read (the rest is ignored), within ``timeout`` seconds in all, so a
    page that drips a byte a second cannot hold the command.
    """
    try:
        page = asyncio.run(_get(url, timeout))
    except FetchError as exc:
        raise FetchError(f"cannot fetch {url}: {exc}", exc.status) from exc
    return page_entry(page)


def page_entry(page: Page) -> PreparedEntry:
    """A page as ``fetch_articles`` sees it: its article in the ``article`` field (what
    ``article:`` scopes to), with its title; a page without one, whole, as content."""
    article = extract_article(page.body, page.url, page.content_type)
    if article is not None:
        return prepare_entry(article.title or "", "", "", article.text)
    html = page.text()
    return prepare_entry(page_title(html), "", html)


async def _get(url: str, timeout: float) -> Page:
    async with make_client() as client:
        return await fetch.fetch_page(client, url, timeout)


def render_match(match: Match, open_mark: str, close_mark: str) -> str:
    """The report for a match: matched terms, field, and the highlighted snippet."""
    return (
        f"match in {match.field}: {', '.join(match.matched)}\n"
        f"  {highlight(match.snippet, match.highlights, open_mark, close_mark)}"
    )


@dataclass
class Backtest:
    """What a query would have alerted on among stored entries."""

    scanned: int = 0
    per_feed: Counter[str] = field(default_factory=Counter)
    per_day: Counter[str] = field(default_factory=Counter)
    latest: list[tuple[str, StoredEntry, Match]] = field(default_factory=list)

    @property
    def hits(self) -> int:
        return sum(self.per_feed.values())


def backtest(
    matcher: Matcher, entries: Iterable[tuple[str, StoredEntry]], keep: int = 10
) -> Backtest:
    """Run ``matcher`` over ``(feed name, entry)`` pairs, newest first."""
    result = Backtest()
    for feed, entry in entries:
        result.scanned += 1
        prepared = prepare_entry(entry.title, entry.summary, entry.content, entry.article)
        match = match_one(matcher, prepared)
        if match is None:
            continue
        result.per_feed[feed] += 1
        result.per_day[_day(entry.published or entry.first_seen)] += 1
        if len(result.latest) < keep:
            result.latest.append((feed, entry, match))
    return result


def _day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d")


def render_backtest(result: Backtest, since: str, open_mark: str, close_mark: str) -> str:
    lines = [
        f"{result.hits} of {result.scanned} entries stored in the last {since} would have alerted"
    ]
    if result.per_feed:
        lines.append("per feed:")
        lines += [f"  {n:>6}  {feed}" for feed, n in result.per_feed.most_common()]
        lines.append("per day:")
        lines += [f"  {n:>6}  {day}" for day, n in sorted(result.per_day.items(), reverse=True)]
        lines.append("latest matches:")
        for feed, entry, match in result.latest:
            lines.append(
                f"  [{feed}] {html_to_text(entry.title).strip()} {entry.link or ''}".rstrip()
            )
            lines.append("    " + highlight(match.snippet, match.highlights, open_mark, close_mark))
    return "\n".join(lines)
