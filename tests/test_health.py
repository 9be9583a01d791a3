"""Feed health, pure: usual gaps, verdicts and transitions against explicit datetimes; what
a health alert looks like on a webhook, Slack, the console and ``monitor alerts``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.config import HealthConfig
from monitor.health import (
    FAILING,
    OK,
    SILENT,
    EntryTimes,
    FeedHealth,
    headline,
    transition,
    transitions,
    usual_gap,
    verdict,
)
from monitor.models import Alert, FeedHealthNote
from monitor.notify.payloads import (
    console_line,
    slack_digest,
    slack_digest_batches,
    slack_message,
    webhook_body,
)
from monitor.report import alerts_table
from monitor.storage.health import hide_credentials, note_details, note_from_details
from monitor.storage.outbox import AlertWithDeliveries, DeliveryState
from tests.test_payloads import HOSTILE, check_message, make_alert

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HEALTH = HealthConfig(failures=5, silence=5.0, min_silence=86400.0)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def times(count: int, every: timedelta, newest: datetime) -> tuple[EntryTimes, ...]:
    """``count`` entries published ``every`` apart, the newest at ``newest``, each seen then."""
    return tuple(EntryTimes(newest - i * every, newest - i * every) for i in range(count))


def feed(**changes: Any) -> FeedHealth:
    fields: dict[str, Any] = {
        "id": 7,
        "name": "Wire",
        "url": "https://news.example.test/rss.xml",
        "consecutive_failures": 0,
        "last_error": None,
        "last_success": NOW,  # polled fine just now
        "entries": times(10, HOUR, NOW - HOUR),
    }
    fields.update(changes)
    return FeedHealth(**fields)


# --- the usual gap -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offsets_hours", "expected"),
    [
        ([], None),
        ([0, 1, 2, 3], None),  # four entries: too few
        ([0, 1, 2, 3, 4], 3600.0),
        ([0, 0, 0, 0, 0, 0, 0, 0], None),  # imported together: one distinct time, no rhythm
        ([0, 0, 0, 1, 2, 3, 4], 3600.0),  # duplicates count once
        ([0, 1, 2, 3, 4, 100], 3600.0),  # one long pause does not move the median
        ([0, 1, 3, 6, 10], 2.5 * 3600),  # gaps 1, 2, 3, 4 h
        ([4, 0, 3, 1, 2], 3600.0),  # in any order
        ([*range(20), *range(100, 200, 50)], 3600.0),  # only the newest 20 count
    ],
)
def test_usual_gap_is_the_median_of_distinct_recent_times(
    offsets_hours: list[float], expected: float | None
) -> None:
    assert usual_gap(NOW - timedelta(hours=h) for h in offsets_hours) == expected


@pytest.mark.parametrize(
    ("published", "first_seen", "expected"),
    [
        (NOW - DAY, NOW, NOW - DAY),  # published before it was seen: its publication time
        (NOW + DAY, NOW, NOW),  # dated in the future: when it was seen
        (None, NOW, NOW),  # no date: when it was seen
    ],
)
def test_an_entry_counts_from_its_publication_never_later_than_seen(
    published: datetime | None, first_seen: datetime, expected: datetime
) -> None:
    assert EntryTimes(published, first_seen).when == expected


# --- verdicts ----------------------------------------------------------------------------------

HOURLY_UNTIL_1H_AGO = times(10, HOUR, NOW - HOUR)


@pytest.mark.parametrize(
    ("case", "changes", "expected"),
    [
        ("healthy", {}, OK),
        ("a few failures", {"consecutive_failures": 4}, OK),
        ("failures reach the threshold", {"consecutive_failures": 5}, FAILING),
        (
            "failing beats silent",
            {"consecutive_failures": 9, "entries": times(9, HOUR, NOW - 9 * DAY)},
            FAILING,
        ),
        # hourly feed: silent after max(5 x 1h, 1d) = 1 day without anything new
        ("hourly, quiet for 23h", {"entries": times(9, HOUR, NOW - 23 * HOUR)}, OK),
        ("hourly, quiet for exactly 1d", {"entries": times(9, HOUR, NOW - DAY)}, OK),
        (
            "hourly, quiet for 1d 1s",
            {"entries": times(9, HOUR, NOW - DAY - timedelta(seconds=1))},
            SILENT,
        ),
        # daily feed: silent after 5 days
        ("daily, quiet for 4d", {"entries": times(9, DAY, NOW - 4 * DAY)}, OK),
        ("daily, quiet for 6d", {"entries": times(9, DAY, NOW - 6 * DAY)}, SILENT),
        ("four entries tell nothing", {"entries": times(4, HOUR, NOW - 30 * DAY)}, OK),
        ("never polled", {"entries": (), "last_success": None}, OK),
        # entries imported at once, undated: no rhythm to judge by yet
        ("imported together", {"entries": (EntryTimes(None, NOW - 30 * DAY),) * 20}, OK),
        # published long ago but arriving now: the feed is alive (it backdates its entries)
        (
            "backdated arrivals",
            {
                "entries": tuple(
                    EntryTimes(e.published, NOW - HOUR) for e in times(9, HOUR, NOW - 9 * DAY)
                )
            },
            OK,
        ),
        # a dead feed added yesterday: silence counts from its entries' arrival
        (
            "dead feed added 23h ago",
            {
                "entries": tuple(
                    EntryTimes(e.published, NOW - 23 * HOUR) for e in times(9, HOUR, NOW - 99 * DAY)
                )
            },
            OK,
        ),
        (
            "dead feed added 25h ago",
            {
                "entries": tuple(
                    EntryTimes(e.published, NOW - 25 * HOUR) for e in times(9, HOUR, NOW - 99 * DAY)
                )
            },
            SILENT,
        ),
        # quiet is measured up to the last successful poll, never up to now
        (
            "quiet for 2d, polled fine 10 min ago",
            {"entries": times(9, HOUR, NOW - 2 * DAY), "last_success": NOW - 10 * MINUTE},
            SILENT,
        ),
        (
            "quiet for 1d 1s before its last good poll, which was 2d ago",
            {
                "entries": times(9, HOUR, NOW - 3 * DAY - timedelta(seconds=1)),
                "last_success": NOW - 2 * DAY,
            },
            SILENT,
        ),
        (
            "daemon down 3d, first poll since not done yet",
            {"entries": times(9, HOUR, NOW - 3 * DAY - HOUR), "last_success": NOW - 3 * DAY},
            OK,
        ),
        (
            "failing under a long backoff, fewer times than the threshold",
            {
                "consecutive_failures": 4,
                "entries": times(9, HOUR, NOW - 4 * DAY - HOUR),
                "last_success": NOW - 4 * DAY,
            },
            OK,
        ),
        (
            "no good poll since its newest entry",
            {"entries": times(9, HOUR, NOW - 2 * DAY), "last_success": NOW - 3 * DAY},
            OK,
        ),
        (
            "entries but never a good poll",
            {"entries": times(9, HOUR, NOW - 2 * DAY), "last_success": None},
            OK,
        ),
        (
            "a last good poll dated after now counts up to now",
            {"entries": times(9, HOUR, NOW - 23 * HOUR), "last_success": NOW + 2 * DAY},
            OK,
        ),
    ],
)
def test_verdict(case: str, changes: dict[str, Any], expected: str) -> None:
    assert verdict(feed(**changes), HEALTH, NOW) == expected, case


@pytest.mark.parametrize(
    ("min_silence", "silence", "quiet", "expected"),
    [
        (3600.0, 5.0, 5 * HOUR, OK),  # limit 5 x 1h
        (3600.0, 5.0, 5 * HOUR + timedelta(seconds=1), SILENT),
        (3600.0, 2.0, 3 * HOUR, SILENT),
        (7 * 86400.0, 2.0, 6 * DAY, OK),  # the floor wins
    ],
)
def test_the_silence_limit_is_silence_times_the_gap_never_below_min_silence(
    min_silence: float, silence: float, quiet: timedelta, expected: str
) -> None:
    health = HealthConfig(failures=5, silence=silence, min_silence=min_silence)
    assert verdict(feed(entries=times(9, HOUR, NOW - quiet)), health, NOW) == expected


def test_a_silent_feed_whose_entries_were_pruned_stays_silent_until_something_new_comes() -> None:
    silent_since = NOW - DAY
    few = (EntryTimes(NOW - 10 * DAY, NOW - 10 * DAY),)
    quiet = feed(entries=few, state=SILENT, since=silent_since)
    assert verdict(quiet, HEALTH, NOW) == SILENT
    fresh = feed(entries=(*few, EntryTimes(None, NOW - HOUR)), state=SILENT, since=silent_since)
    assert verdict(fresh, HEALTH, NOW) == OK


def test_a_restart_after_three_days_down_is_silent_only_once_a_poll_finds_nothing_new() -> None:
    """The daemon stopped 3 days ago right after a good poll of an hourly feed, and restarts
    at NOW; its health check runs every minute while the first poll is under way."""
    stopped = NOW - 3 * DAY
    before = feed(entries=times(9, HOUR, stopped - HOUR), last_success=stopped)
    for minute in range(5):
        assert transition(before, HEALTH, NOW + minute * MINUTE) is None
    polled = NOW + 2 * MINUTE
    arrived = (EntryTimes(NOW - HOUR, polled), *before.entries)
    caught_up = replace(before, entries=arrived, last_success=polled)
    assert transition(caught_up, HEALTH, polled + MINUTE) is None
    nothing_new = replace(before, last_success=polled)  # 3 days without a new entry: silent
    change = transition(nothing_new, HEALTH, polled + MINUTE)
    assert change is not None and (change.old, change.new) == (OK, SILENT)


# --- transitions -------------------------------------------------------------------------------

SILENT_ENTRIES = times(9, HOUR, NOW - 2 * DAY)


@pytest.mark.parametrize(
    ("old", "changes", "new", "note_state", "was"),
    [
        (OK, {}, None, None, None),
        (OK, {"consecutive_failures": 5}, FAILING, "failing", None),
        (FAILING, {"consecutive_failures": 6}, None, None, None),  # still failing: no second alert
        (FAILING, {}, OK, "recovered", "failing"),
        (OK, {"entries": SILENT_ENTRIES}, SILENT, "silent", None),
        (SILENT, {"entries": SILENT_ENTRIES}, None, None, None),
        (SILENT, {}, OK, "recovered", "silent"),
        (FAILING, {"entries": SILENT_ENTRIES}, SILENT, "silent", None),  # polls again, still quiet
        (SILENT, {"consecutive_failures": 5, "entries": SILENT_ENTRIES}, FAILING, "failing", None),
    ],
)
def test_transition(
    old: str, changes: dict[str, Any], new: str | None, note_state: str | None, was: str | None
) -> None:
    change = transition(feed(state=old, since=NOW - 3 * DAY, **changes), HEALTH, NOW)
    if new is None:
        assert change is None
        return
    assert change is not None
    assert (change.old, change.new, change.note.state, change.note.was) == (
        old,
        new,
        note_state,
        was,
    )
    assert change.kind == f"feed_{note_state}"
    assert change.at == NOW


def test_a_failing_note_carries_the_error_streak_and_last_success() -> None:
    failing = feed(consecutive_failures=5, last_error="HTTP 503", changes=3)
    change = transition(failing, HEALTH, NOW)
    assert change is not None
    assert change.note == FeedHealthNote(
        state="failing",
        error="HTTP 503",
        failures=5,
        last_success=NOW,
        last_entry=NOW - HOUR,
        usual_gap=3600.0,
    )
    assert change.story_key == "health:7:4:20261124T120000.000000Z"  # one per change


def test_a_stale_note_on_a_good_feed_is_no_error() -> None:
    change = transition(
        feed(entries=SILENT_ENTRIES, last_error="malformed feed, read anyway"), HEALTH, NOW
    )
    assert change is not None and change.note.error is None


def test_transitions_lists_only_the_feeds_that_changed() -> None:
    feeds = [
        feed(id=1),
        feed(id=2, consecutive_failures=5),
        feed(id=3, state=FAILING),
        feed(id=4, state=FAILING, consecutive_failures=5),
    ]
    assert [(t.feed.id, t.new) for t in transitions(feeds, HEALTH, NOW)] == [(2, FAILING), (3, OK)]


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        (
            FeedHealthNote("failing", "timed out", 1, None),
            "feed is failing (1 poll in a row): timed out",
        ),
        (
            FeedHealthNote("failing", "HTTP 503", 5, None),
            "feed is failing (5 polls in a row): HTTP 503",
        ),
        (
            FeedHealthNote("recovered", None, 0, NOW, was="failing"),
            "feed has recovered (was failing)",
        ),
        (
            FeedHealthNote("silent", None, 0, NOW),
            "feed has published nothing new for much longer than usual",
        ),
    ],
)
def test_headline(note: FeedHealthNote, expected: str) -> None:
    assert headline(note) == expected


# --- credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HTTP 503", "HTTP 503"),
        ("https://example.org/feed.xml?a=1#x", "https://example.org/feed.xml?a=1#x"),
        ("https://bob:s3cret@example.org/feed.xml", "https://bob:***@example.org/feed.xml"),
        (
            "cannot connect to https://bob:s3cret@example.org/rss (s3cret rejected)",
            "cannot connect to https://bob:***@example.org/rss (*** rejected)",
        ),
        (
            "redirected to http://h.test/f?token=abc123&a=1",
            "redirected to http://h.test/f?a=1&token=***",
        ),
        ("https://bob:p%40ss@example.org/x and p@ss", "https://bob:***@example.org/x and ***"),
        ("http://[::1/x", "***"),
        ("GET https://u:pw@h.test/rss: refused.", "GET https://u:***@h.test/rss: refused."),
        ("(see https://u:pw@h.test/a), then", "(see https://u:***@h.test/a), then"),
    ],
)
def test_hide_credentials(text: str, expected: str) -> None:
    assert hide_credentials(text) == expected


# --- what notifiers get ------------------------------------------------------------------------

LAST_SUCCESS = datetime(2026, 11, 24, 7, 0, 30, 123, tzinfo=UTC)


def health_alert(state: str = "failing", **changes: Any) -> Alert:
    notes = {
        "failing": FeedHealthNote("failing", "HTTP 503: Service Unavailable", 5, LAST_SUCCESS),
        "silent": FeedHealthNote(
            "silent", None, 0, LAST_SUCCESS, last_entry=NOW - 3 * DAY, usual_gap=7200.0
        ),
        "recovered": FeedHealthNote("recovered", None, 0, NOW, was="failing"),
    }
    fields: dict[str, Any] = {
        "rule": "feed-health",
        "matched": (),
        "title": "feed is failing",
        "url": "https://example.org/world/rss.xml",
        "summary": "",
        "snippet": "",
        "detected_at": NOW,
        "highlights": (),
        "health": notes[state],
    }
    fields.update(changes)
    return make_alert(1, **fields)


def test_the_webhook_body_of_a_health_alert() -> None:
    assert webhook_body(health_alert()) == {
        "type": "feed_health",
        "id": "alert-1",
        "state": "failing",
        "feed": {"name": "Example World", "url": "https://example.org/world/rss.xml"},
        "error": "HTTP 503: Service Unavailable",
        "failures": 5,
        "last_success": "2026-11-24T07:00:30Z",
        "detected_at": "2026-11-24T12:00:00Z",
    }
    recovered = webhook_body(health_alert("recovered"))
    assert (recovered["state"], recovered["error"], recovered["failures"]) == ("recovered", None, 0)


@pytest.mark.parametrize(
    ("state", "text"),
    [
        (
            "failing",
            ":warning: Feed Example World is failing: HTTP 503: Service Unavailable"
            " (5 polls in a row)",
        ),
        ("silent", ":zzz: Feed Example World has published nothing new for 3d (usually every 2h)"),
        ("recovered", ":white_check_mark: Feed Example World has recovered (was failing)"),
    ],
)
def test_slack_says_what_happened_to_the_feed_in_one_line(state: str, text: str) -> None:
    message = slack_message(health_alert(state))
    check_message(message)
    assert message["blocks"][0]["text"]["text"] == text
    assert message["text"] == text.split(" ", 1)[1]
    assert "<https://example.org/world/rss.xml|" in message["blocks"][1]["elements"][0]["text"]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_slack_health_messages_stay_valid_for_hostile_names_and_errors(name: str) -> None:
    hostile = HOSTILE[name]
    note = FeedHealthNote("failing", hostile, 5, None)
    message = slack_message(health_alert(feed_name=hostile, feed_url=hostile, health=note))
    check_message(message)
    assert "<!channel>" not in str(message)


def test_a_burst_with_health_alerts_is_one_digest_listing_each() -> None:
    alerts = [health_alert("failing"), make_alert(2), health_alert("recovered", id="alert-3")]
    (batch,) = slack_digest_batches(alerts)
    message = slack_digest(batch)
    check_message(message)
    lines = message["blocks"][1]["text"]["text"].split("\n")
    assert lines[0].startswith("\u2022 :warning: Feed Example World is failing")
    assert lines[2] == "\u2022 :white_check_mark: Feed Example World has recovered (was failing)"


def test_console_prints_one_line() -> None:
    alert = health_alert(health=FeedHealthNote("failing", "line one\nline two", 5, None))
    assert console_line(alert) == (
        "2026-11-24T12:00:00Z | feed-health | Example World"
        " | Feed Example World is failing: line one line two (5 polls in a row)"
        " | https://example.org/world/rss.xml"
    )


def test_monitor_alerts_lists_a_health_alert_readably() -> None:
    alert = health_alert(title="feed is failing (5 polls in a row): HTTP 503")
    sent = DeliveryState("hook", "sent", 1, 200, None, NOW, NOW)
    text = alerts_table([AlertWithDeliveries(alert, (sent,))])
    assert text.splitlines() == [
        "2026-11-24 12:00:00Z  alert-1  [feed-health] Example World:"
        " feed is failing (5 polls in a row): HTTP 503",
        "    https://example.org/world/rss.xml  feed failing: 5 failed poll(s) in a row;"
        " last success 2026-11-24 07:00:30Z",
        "    -> hook: sent 2026-11-24 12:00:00Z after 1 attempt(s)",
    ]


@pytest.mark.parametrize("state", ["failing", "silent", "recovered"])
def test_the_note_survives_the_database_json(state: str) -> None:
    note = health_alert(state).health
    assert note is not None
    assert note_from_details(note_details(note)) == note
    assert note_from_details(note_details(replace(note, last_success=None))).last_success is None
