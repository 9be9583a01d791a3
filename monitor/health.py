"""Feed health, pure: is a feed failing, silent or ok, and is that a change that alerts.

``feed state + its recent entry times + now | usual gap | verdict | transition``.
A feed is *failing* after ``health.failures`` failed polls in a row, *silent* when
nothing new came for ``health.silence`` times its usual gap between entries (never
sooner than ``health.min_silence``), else *ok*. Every change of state is one
transition and raises one alert; the database makes sure it is raised once.

The usual gap is measured between publication times (a first poll finds a feed's
rhythm in its backlog). "Nothing new" runs from the newest entry's arrival (so a
feed that keeps adding backdated entries is alive, never silent) to the feed's last
successful poll, not to now: only a poll that worked and found nothing new shows the
feed quiet. A daemon stopped for days, or a feed failing under a long backoff, is no
evidence of silence.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.models import FeedHealthNote

if TYPE_CHECKING:  # only its three numbers are read; the config module brings pydantic
    from monitor.config import HealthConfig

OK, FAILING, SILENT = "ok", "failing", "silent"
RECOVERED = "recovered"  # what a webhook is told when a feed is back to ok
HEALTH_RULE = "feed-health"  # the rule name health alerts carry
RECENT_ENTRIES = 20  # the usual gap is measured over this many of a feed's newest entries
MIN_ENTRIES = 5  # fewer entries (at distinct times) tell nothing about a feed's rhythm


@dataclass(frozen=True)
class EntryTimes:
    """When an entry says it was published, and when the monitor first saw it."""

    published: datetime | None
    first_seen: datetime

    @property
    def when(self) -> datetime:
        """Its publication time, never later than it was seen (a future date is a feed's error);
        the time it was seen when it has no date."""
        if self.published is None:
            return self.first_seen
        return min(self.published, self.first_seen)


@dataclass(frozen=True)
class FeedHealth:
    """A feed as a health check sees it: its failure streak, newest entries, recorded state.

    ``name``, ``url`` and ``last_error`` come with credentials already hidden.
    """

    id: int
    name: str
    url: str
    consecutive_failures: int
    last_error: str | None
    last_success: datetime | None
    entries: tuple[EntryTimes, ...] = ()
    state: str = OK
    since: datetime | None = None  # when the recorded state began
    changes: int = 0  # how many times its state changed; the version of the state


@dataclass(frozen=True)
class Transition:
    """A feed's health changed: from ``old`` to ``new``, noticed at ``at``."""

    feed: FeedHealth
    old: str
    new: str
    at: datetime
    note: FeedHealthNote

    @property
    def kind(self) -> str:
        """The alert's kind: feed_failing, feed_silent or feed_recovered."""
        return f"feed_{self.note.state}"

    @property
    def story_key(self) -> str:
        """Unique per change of this feed (its count, and its time should the count ever be
        reset), so the alerts table's unique (rule, story) holds too."""
        return f"health:{self.feed.id}:{self.feed.changes + 1}:{self.at:%Y%m%dT%H%M%S.%fZ}"


def usual_gap(times: Iterable[datetime]) -> float | None:
    """The median gap in seconds between the newest ``RECENT_ENTRIES`` distinct times;
    None with fewer than ``MIN_ENTRIES`` (entries first seen together are no rhythm)."""
    distinct = sorted(set(times), reverse=True)[:RECENT_ENTRIES]
    if len(distinct) < MIN_ENTRIES:
        return None
    gaps = [(a - b).total_seconds() for a, b in zip(distinct, distinct[1:], strict=False)]
    return float(statistics.median(gaps))


def silence_limit(gap: float, health: HealthConfig) -> float:
    """How long a feed with this usual gap may stay quiet before it counts as silent."""
    return max(health.silence * gap, health.min_silence)


def verdict(feed: FeedHealth, health: HealthConfig, now: datetime) -> str:
    """The state the feed is in now: failing, silent or ok."""
    if feed.consecutive_failures >= health.failures:
        return FAILING
    times = [e.when for e in feed.entries]
    gap = usual_gap(times)
    if gap is None:  # too few entries to judge (pruned, say): silent until something new comes
        return SILENT if feed.state == SILENT and not _new_since(feed) else OK
    quiet = quiet_time(feed, now)
    if quiet is None:  # no successful poll since the newest entry: nothing to judge by
        return OK
    return SILENT if quiet > timedelta(seconds=silence_limit(gap, health)) else OK


def quiet_time(feed: FeedHealth, now: datetime) -> timedelta | None:
    """How long the feed was seen to add nothing: from its newest entry's arrival to its last
    successful poll (never past ``now``); None without a successful poll after that entry."""
    if feed.last_success is None or not feed.entries:
        return None
    newest = max(e.first_seen for e in feed.entries)
    polled = min(feed.last_success, now)
    return polled - newest if polled > newest else None


def _new_since(feed: FeedHealth) -> bool:
    return feed.since is None or any(e.first_seen > feed.since for e in feed.entries)


def transition(feed: FeedHealth, health: HealthConfig, now: datetime) -> Transition | None:
    """The change of the feed's health now, or None when its recorded state still holds."""
    new = verdict(feed, health, now)
    if new == feed.state:
        return None
    return Transition(feed=feed, old=feed.state, new=new, at=now, note=_note(feed, new))


def transitions(
    feeds: Sequence[FeedHealth], health: HealthConfig, now: datetime
) -> list[Transition]:
    """Every feed whose health changed, in the order given."""
    changed = (transition(feed, health, now) for feed in feeds)
    return [t for t in changed if t is not None]


def _note(feed: FeedHealth, new: str) -> FeedHealthNote:
    times = [e.when for e in feed.entries]
    return FeedHealthNote(
        state=RECOVERED if new == OK else new,
        error=feed.last_error if feed.consecutive_failures else None,
        failures=feed.consecutive_failures,
        last_success=feed.last_success,
        last_entry=max((e.first_seen for e in feed.entries), default=None),
        usual_gap=usual_gap(times),
        was=feed.state if new == OK else None,
    )


def headline(note: FeedHealthNote) -> str:
    """One plain line saying what happened, without the feed's name (``monitor alerts``)."""
    if note.state == FAILING:
        polls = f"{note.failures} poll{'' if note.failures == 1 else 's'} in a row"
        return f"feed is failing ({polls}): {note.error or 'no error text'}"
    if note.state == SILENT:
        return "feed has published nothing new for much longer than usual"
    was = f" (was {note.was})" if note.was else ""
    return f"feed has recovered{was}"
