"""Matching in the parse workers (monitor.parsematch): the same matches as the main process
finds, the rules of the latest matcher, and matches that count only for the matcher that
found them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.alerting import Alerter, FeedContext
from monitor.grouping import signature
from monitor.matching.matcher import Match, Matcher, RuleSpec
from monitor.matching.query import parse_query
from monitor.matching.text import prepare_entry
from monitor.models import ParsedFeed, StoredEntry
from monitor.parsematch import PREFIX, remove_orphans
from monitor.parsepool import ParsePool
from tests.support.feeds import Item, rss

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
URL = "http://feeds.test/a.xml"


def matcher(**rules: str) -> Matcher:
    return Matcher([RuleSpec(name, parse_query(query)) for name, query in rules.items()])


def items() -> list[Item]:
    texts = [
        ("Curfew after protests", "A <b>state of emergency</b> was declared in the capital."),
        ("Network down", "An internet blackout hit the north; the internet was cut for days."),
        ("Markets calm", "Prices held steady as talks went on."),
        ("Old report", "A state of emergency, declared last year, was lifted."),
    ]
    return [
        Item(title, f"http://example.test/{n}", f"g{n}", summary, None, NOW - timedelta(days=n))
        for n, (title, summary) in enumerate(texts)
    ]


def parse(body: bytes, *calls: tuple[Matcher | None, datetime | None]) -> list[ParsedFeed]:
    async def go() -> list[ParsedFeed]:
        with ParsePool(workers=1) as pool:
            return [await pool.parse(body, None, URL, m, since) for m, since in calls]

    return asyncio.run(go())


def test_a_worker_finds_the_matches_the_main_process_finds() -> None:
    rules = matcher(
        emergency='"state of emergency"',
        shutdown='"internet blackout" OR (internet NEAR/3 cut)',
    )
    (parsed,) = parse(rss(items()), (rules, None))

    expected = [
        tuple(rules.match(prepare_entry(e.title, e.summary, e.content))) for e in parsed.entries
    ]
    assert [e.matches for e in parsed.entries] == expected
    assert [[m.rule for m in found] for found in expected] == [
        ["emergency"],
        ["shutdown"],
        [],
        ["emergency"],
    ]
    # and the story signature of each that matched, which grouping would compute
    assert [e.signature for e in parsed.entries] == [
        signature(e.title, e.summary, e.content) if e.matches else None for e in parsed.entries
    ]


def test_entries_before_a_first_polls_backlog_window_are_left_unmatched() -> None:
    (parsed,) = parse(rss(items()), (matcher(e='"state of emergency"'), NOW - timedelta(hours=36)))

    assert [e.matches is not None for e in parsed.entries] == [True, True, False, False]


def test_without_a_matcher_nothing_is_matched() -> None:
    (parsed,) = parse(rss(items()), (None, None))

    assert all(e.matches is None for e in parsed.entries)


def test_a_new_matcher_reaches_the_workers_and_its_files_go_with_the_pool() -> None:
    body = rss(items())
    old, new = matcher(r='"state of emergency"'), matcher(r="prices")

    async def go() -> tuple[list[ParsedFeed], list[str]]:
        with ParsePool(workers=1) as pool:
            found = [await pool.parse(body, None, URL, m) for m in (old, new, old)]
            directory = os.path.dirname(pool._rules.path_for(old))
            files = sorted(os.listdir(directory))
        assert not os.path.exists(directory)
        return found, files

    found, files = asyncio.run(go())
    assert [[bool(e.matches) for e in parsed.entries] for parsed in found] == [
        [True, False, False, True],
        [False, False, True, False],
        [True, False, False, True],
    ]
    assert files == ["rules-1.pickle", "rules-2.pickle", "rules-3.pickle"]


def test_rules_left_by_a_killed_monitor_are_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    orphan = tmp_path / f"{PREFIX}{int(gone.stdout)}-abc"
    live = tmp_path / f"{PREFIX}{os.getpid()}-def"
    other = tmp_path / "feed-monitor-other"
    for directory in (orphan, live, other):
        directory.mkdir()
        (directory / "rules-1.pickle").write_bytes(b"x")

    remove_orphans(tmp_path)

    assert not orphan.exists() and live.exists() and other.exists()


def stored(title: str, summary: str, matches: tuple[Match, ...] | None) -> StoredEntry:
    return StoredEntry(
        1, 1, "k", "http://example.test/1", title, summary, "", NOW, NOW, True, matches=matches
    )


def context(rules: tuple[str, ...] | None = None) -> FeedContext:
    return FeedContext(1, "feed", URL, 86400.0, rules)


def test_matches_count_only_for_the_matcher_that_found_them() -> None:
    current = matcher(emergency='"state of emergency"', prices="prices")
    earlier = matcher(emergency="curfew")  # the rules before a reload
    alerter = Alerter(current, {})
    found_earlier = tuple(earlier.match(prepare_entry("Curfew tonight", "Prices rose.", "")))
    entry = stored("Curfew tonight", "Prices rose.", found_earlier)

    by_earlier = alerter.alerts_for(context(), [entry], False, NOW, matched_by=earlier)
    by_current = alerter.alerts_for(context(), [entry], False, NOW, matched_by=current)

    assert [a.rule for a in by_earlier] == ["prices"]  # matched again, with today's rules
    assert [a.rule for a in by_current] == ["emergency"]  # taken as found


def test_found_matches_keep_to_the_feeds_rules_and_give_way_to_article_text() -> None:
    rules = matcher(emergency='"state of emergency"', prices="prices")
    alerter = Alerter(rules, {})
    text = ("Emergency", "A state of emergency; prices rose.")
    entry = stored(*text, tuple(rules.match(prepare_entry(*text, ""))))
    calm = stored("Calm", "Nothing of note.", ())
    with_article = replace(calm, article="A state of emergency was declared.")

    only_prices = alerter.alerts_for(context(("prices",)), [entry], False, NOW, matched_by=rules)
    as_found = alerter.alerts_for(context(), [calm], False, NOW, matched_by=rules)
    article = alerter.alerts_for(context(), [with_article], False, NOW, matched_by=rules)

    assert [a.rule for a in only_prices] == ["prices"]
    assert as_found == []
    assert [a.rule for a in article] == ["emergency"]  # the article's text, matched here
