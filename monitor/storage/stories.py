"""Stories: each entry that alerts joins the story it tells, or starts one.

An entry joins a story by key first (its canonical link, else its feed and entry
key, as before grouping: the same link in two feeds is one story), then by
likeness to the stories of the last ``grouping.WINDOW`` (``monitor.grouping``)
that other feeds told: one feed's entries are its own separate stories, however
alike their wording (a wire's template bulletins, a feed of earthquake reports).
Alerts are unique on (rule, story key), so a second outlet's report of a story
that alerted does not alert again. Every key of a story's entries is kept in
``story_keys``, so a later entry with one of those links joins it too.

Only entries that raise an alert are grouped: likeness is looked up for what
might be sent, so a poll of thousands of entries that match nothing costs nothing
more, and a story's sources are the outlets whose entries matched a rule.

The likeness index lives in memory: filled from the database on first use,
topped up with stories other instances added since, and trimmed as stories age
out of the window. Stories this process adds in a transaction that rolls back
are taken out again.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Insert, bindparam, event, select, update
from sqlalchemy.orm import Session

from monitor.alerting import NewAlert, story_key
from monitor.grouping import WINDOW, Signature, StoryIndex, signature
from monitor.models import StoredEntry
from monitor.storage.session import batches, dialect_insert, dialect_of, table_of
from monitor.storage.tables import EntryRow, StoryKeyRow, StoryRow

REREAD = timedelta(minutes=15)
ENTRIES, STORIES, STORY_KEYS = table_of(EntryRow), table_of(StoryRow), table_of(StoryKeyRow)
# Every grouped entry's story, written in one executemany once a poll's entries are grouped.
_SET_STORY = (
    update(ENTRIES)
    .where(ENTRIES.c.id == bindparam("s_entry"))
    .values(story_id=bindparam("s_story"))
)
# Built once, with bound values: these run on every poll that alerts.
_WINDOW_STORIES = select(
    STORIES.c.id, STORIES.c.key, STORIES.c.signature, STORIES.c.first_seen_at, STORIES.c.feed_id
).order_by(STORIES.c.id)
_STORIES_AFTER_ID = _WINDOW_STORIES.where(
    STORIES.c.id > bindparam("after"), STORIES.c.first_seen_at >= bindparam("since")
)
_STORIES_SINCE = _WINDOW_STORIES.where(STORIES.c.first_seen_at >= bindparam("since"))
_STORIES_BY_KEY = select(STORY_KEYS.c.key, STORY_KEYS.c.story_id).where(
    STORY_KEYS.c.key.in_(bindparam("keys", expanding=True))
)
# Stories started in a batch stand in memory under ids above this until they are inserted:
# above every real id (SQLite's and PostgreSQL's integer keys stay far below it).
PROVISIONAL = 1 << 62


class PollAlerts(NamedTuple):
    """A poll's new and changed entries, the alerts proposed for them, and when it ran."""

    entries: Sequence[StoredEntry]
    alerts: Sequence[NewAlert]
    now: datetime


class _Started(NamedTuple):
    """A story an entry starts: its stand-in id until inserted, the entry, its signature."""

    stand_in: int
    entry: StoredEntry
    sig: Signature
    now: datetime


# Aged stories leave memory at most this often: looking for them means reading every story
# of the window, and a minute more in it changes nothing.
SWEEP = timedelta(minutes=1)


class StoryGrouper:
    """Assigns entries that alert to stories, within the caller's transaction."""

    def __init__(self) -> None:
        self._index = StoryIndex()
        self._keys: dict[int, str] = {}  # story id -> its key, for the stories in the window
        self._seen: dict[int, datetime] = {}  # story id -> first seen
        self._feeds: dict[int, set[int]] = {}  # story id -> feeds known to tell it
        self._read_at: datetime | None = None  # when the database was last read
        self._read_id = 0  # on SQLite: the highest story id read from the database
        self._swept_at: datetime | None = None  # when aged stories were last forgotten
        self._provisional = PROVISIONAL  # the last id a story started in a batch stood under
        self._lock = threading.Lock()  # polls and article fetches store in threads

    def group(
        self,
        session: Session,
        entries: Sequence[StoredEntry],
        alerts: Sequence[NewAlert],
        now: datetime,
    ) -> list[NewAlert]:
        """``alerts`` keyed on the story their entry tells, which it joins or starts."""
        return self.group_polls(session, [PollAlerts(entries, alerts, now)])[0]

    def group_polls(self, session: Session, polls: Sequence[PollAlerts]) -> list[list[NewAlert]]:
        """``group`` for several polls of distinct feeds stored in one transaction: each
        poll's alerts, the polls grouped in order as if each were stored after the one
        before (an entry joins by likeness a story an earlier poll started), with one
        statement of each kind for them all rather than five a poll."""
        todo = []
        for poll in polls:
            alerting = {a.entry_id for a in poll.alerts}
            todo.append([e for e in poll.entries if e.id in alerting])
        if not any(todo):
            return [list(poll.alerts) for poll in polls]
        with self._lock:
            self._refresh(session, max(poll.now for poll in polls))
            # already in a story: only an edited entry can be (a new one was just inserted)
            keys = self._keys_of(session, [e.id for t in todo for e in t if not e.is_new])
            # each poll's in key order, as they were when each poll was grouped alone
            fresh = [sorted((e for e in t if e.id not in keys), key=_own_key) for t in todo]
            owns = sorted({_own_key(e) for f in fresh for e in f})
            known = self._stories_by_key(session, owns)
            joined = self._join(
                session, [(f, poll.now) for f, poll in zip(fresh, polls, strict=True)], known
            )
            if joined:
                params = [{"s_entry": e, "s_story": s} for e, s in sorted(joined.items())]
                session.execute(_SET_STORY, params)
            for entry_id, story_id in joined.items():
                keys[entry_id] = self._keys.get(story_id) or _key_of(session, story_id)
        # a story an entry started is keyed on the entry's own key: most alerts stay as they are
        return [
            [
                a
                if keys.get(a.entry_id, a.story_key) == a.story_key
                else replace(a, story_key=keys[a.entry_id])
                for a in poll.alerts
            ]
            for poll in polls
        ]

    def _join(
        self,
        session: Session,
        polls: Sequence[tuple[Sequence[StoredEntry], datetime]],
        known: dict[str, int],
    ) -> dict[int, int]:
        """The story each entry joins (by key, else likeness) or starts: entry id -> story id.

        Decided entry by entry, poll by poll: one that joins another feed's story by
        likeness records this feed as telling it, so the next one cannot join it that
        way too, and a story one poll starts is in the index for the next poll's entries.
        Until the stories started are inserted, all in one executemany at the end, each
        stands in memory under a provisional id (above every real one: ties go to the
        lowest id, the story seen first). The keys are then filed in one executemany too.
        """
        filing: dict[str, int] = {}  # key -> its story (provisional for one started here)
        starting: dict[str, _Started] = {}
        for fresh, now in polls:
            for entry in fresh:
                own = _own_key(entry)
                if own in known:
                    self._note_feed(session, known[own], entry.feed_id)
                    continue
                if own in filing:  # a story this feed tells already, or one it starts
                    continue
                sig = entry.signature  # found with the parse, else here
                if sig is None:
                    sig = signature(entry.title, entry.summary, entry.content)
                story_id, alike = self._alike(sig, entry.feed_id)
                if story_id is None:
                    # A look-alike of this feed's own stands for it in the index already: a
                    # feed of template bulletins then keeps one story indexed, not thousands.
                    indexed = sig if not alike else None
                    story_id = self._stand_in(session, own, entry, indexed, now)
                    starting[own] = _Started(story_id, entry, sig, now)
                else:
                    self._note_feed(session, story_id, entry.feed_id)
                filing[own] = story_id
        started = self._start(session, starting)
        stand_ins = {s.stand_in: started[key] for key, s in starting.items()}
        known.update(_file_keys(session, {k: stand_ins.get(s, s) for k, s in filing.items()}))
        joined = {}
        for fresh, _ in polls:
            for entry in fresh:
                story_id = joined[entry.id] = known[_own_key(entry)]
                self._note_feed(session, story_id, entry.feed_id)
        return joined

    def _stand_in(
        self, session: Session, key: str, entry: StoredEntry, sig: Signature | None, now: datetime
    ) -> int:
        """A story about to start, in memory under a provisional id until it is inserted;
        indexed by ``sig`` unless None."""
        self._provisional += 1
        self._remember(self._provisional, key, sig, now, entry.feed_id)
        self._undo_log(session).append((self._provisional, None))
        return self._provisional

    def _note_feed(self, session: Session, story_id: int, feed_id: int) -> None:
        """Record that ``feed_id`` tells the story (undone if the transaction rolls back)."""
        if story_id not in self._seen:  # out of the window: nothing to keep in memory
            return
        feeds = self._feeds.setdefault(story_id, set())
        if feed_id not in feeds:
            feeds.add(feed_id)
            self._undo_log(session).append((story_id, feed_id))

    def _undo_log(self, session: Session) -> list[tuple[int, int | None]]:
        """What this transaction added to memory, taken back by one rollback listener
        (one per addition cost more than the adding): (story, feed) for a feed noted as
        telling a story, (story, None) for a story it started."""
        key = ("stories added", id(self))
        log: list[tuple[int, int | None]] | None = session.info.get(key)
        if log is None:
            log = session.info[key] = []

            def undo(rolled_back: Session) -> None:
                rolled_back.info.pop(key, None)
                for story_id, feed_id in reversed(log):
                    if feed_id is None:
                        self._forget(story_id)
                    else:
                        self._feeds.get(story_id, set()).discard(feed_id)

            event.listen(session, "after_rollback", undo, once=True)
        return log

    def _alike(self, sig: Signature, feed_id: int) -> tuple[int | None, bool]:
        """The recent story of another feed that ``sig`` tells too, if any, and whether any
        indexed story (one this feed tells included) is alike."""
        if not sig.tokens:
            return None, False
        return self._index.nearest(sig, lambda story: feed_id in self._feeds.get(story, ()))

    def _start(self, session: Session, starting: dict[str, _Started]) -> dict[str, int]:
        """Insert the stories started, one per key, in one executemany in key order: key ->
        story id. Each takes its stand-in's place in memory; where another instance started
        a story on the key a moment ago, theirs is the one and the stand-in is forgotten."""
        if not starting:
            return {}
        rows = [
            {
                "key": key,
                "title": s.entry.title[:500],
                "first_seen_at": s.now,
                "signature": s.sig.to_bytes(),
                "feed_id": s.entry.feed_id,
            }
            for key, s in sorted(starting.items())
        ]
        ids = {key: int(i) for key, i in session.execute(_story_insert(dialect_of(session)), rows)}
        log = self._undo_log(session)
        for key, s in starting.items():
            if key in ids:
                self._rename(s.stand_in, ids[key])
                log.append((ids[key], None))
            else:
                self._forget(s.stand_in)
        theirs = sorted(key for key in starting if key not in ids)
        for chunk in batches(theirs):
            query = select(StoryRow.key, StoryRow.id).where(StoryRow.key.in_(chunk))
            ids.update({key: story_id for key, story_id in session.execute(query)})
        return ids

    def _remember(
        self,
        story_id: int,
        key: str,
        sig: Signature | None,
        first_seen: datetime,
        feed_id: int | None,
    ) -> None:
        if sig is not None and sig.tokens:
            self._index.add(story_id, sig)
        self._keys[story_id] = key
        self._seen[story_id] = first_seen
        if feed_id is not None:
            self._feeds.setdefault(story_id, set()).add(feed_id)

    def _rename(self, old: int, new: int) -> None:
        """What memory holds of story ``old`` (a stand-in), now of story ``new``."""
        self._index.rename(old, new)
        self._keys[new] = self._keys.pop(old)
        self._seen[new] = self._seen.pop(old)
        self._feeds[new] = self._feeds.pop(old, set())

    def _forget(self, story_id: int) -> None:
        self._index.remove(story_id)
        self._keys.pop(story_id, None)
        self._seen.pop(story_id, None)
        self._feeds.pop(story_id, None)

    def _refresh(self, session: Session, now: datetime) -> None:
        """Add the window's stories not yet known (other instances'), drop the aged ones.

        On PostgreSQL stories are read by time, not by id: a lower id can commit after a
        higher one was read. After the first read, the last REREAD of stories is read
        again each time (a transaction storing a poll lasts far less). SQLite has one
        writer at a time, so its ids commit in order, and only stories above the highest
        id read are new: every poll would otherwise re-read this process's own last 15
        minutes of stories, signatures and all.
        """
        cutoff = now - WINDOW
        if self._read_at is None:
            rows = session.execute(_STORIES_SINCE, {"since": cutoff})
        elif dialect_of(session) == "sqlite":
            rows = session.execute(_STORIES_AFTER_ID, {"after": self._read_id, "since": cutoff})
        else:
            since = max(cutoff, self._read_at - REREAD)
            rows = session.execute(_STORIES_SINCE, {"since": since})
        added = []
        for story_id, key, raw, first_seen, feed_id in rows:
            self._read_id = max(self._read_id, story_id)
            if story_id not in self._keys:
                sig = Signature.from_bytes(raw) if raw else None
                if sig is not None and self._index.find(sig) is not None:
                    sig = None  # a look-alike stands for it (see _join)
                self._remember(story_id, key, sig, first_seen, feed_id)
                added.append(story_id)
        self._read_at = now
        self._load_feeds(session, added)
        if self._swept_at is None or now - self._swept_at >= SWEEP:
            for story_id in [s for s, seen in self._seen.items() if seen < cutoff]:
                self._forget(story_id)
            self._swept_at = now

    def _load_feeds(self, session: Session, story_ids: list[int]) -> None:
        """Which feeds tell these stories (all of them, not only the first one's)."""
        for chunk in batches(story_ids):
            query = (
                select(EntryRow.story_id, EntryRow.feed_id)
                .where(EntryRow.story_id.in_(chunk))
                .distinct()
            )
            for story_id, feed_id in session.execute(query):
                if story_id is not None:
                    self._feeds.setdefault(story_id, set()).add(feed_id)

    def _stories_by_key(self, session: Session, keys: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in batches(keys):
            rows = session.execute(_STORIES_BY_KEY, {"keys": list(chunk)})
            found.update({key: story_id for key, story_id in rows})
        return found

    def _keys_of(self, session: Session, entry_ids: list[int]) -> dict[int, str]:
        """The story keys of stored entries that are in a story already."""
        found: dict[int, str] = {}
        for chunk in batches(entry_ids):
            query = (
                select(EntryRow.id, StoryRow.key)
                .join(StoryRow, StoryRow.id == EntryRow.story_id)
                .where(EntryRow.id.in_(chunk))
            )
            found.update({entry_id: key for entry_id, key in session.execute(query)})
        return found


def _file_keys(session: Session, filing: dict[str, int]) -> dict[str, int]:
    """File each key under its story, in one executemany in key order: key -> story id. A
    key another instance has just filed under a story of its own stays there (a link is
    one story, whoever saw it first)."""
    if not filing:
        return {}
    params = [{"key": key, "story_id": story_id} for key, story_id in sorted(filing.items())]
    insert = _key_insert(dialect_of(session))
    filed = {key: int(story_id) for key, story_id in session.execute(insert, params)}
    for chunk in batches([key for key in filing if key not in filed]):
        rows = session.execute(_STORIES_BY_KEY, {"keys": list(chunk)})
        filed.update({key: int(story_id) for key, story_id in rows})
    return filed


@functools.cache
def _story_insert(dialect: str) -> Insert:
    """Stories' insert-or-nothing on their key, built once per dialect (values bound); each
    row inserted names its key, so ids map back whatever order RETURNING gives them in."""
    stmt = dialect_insert(dialect, STORIES).on_conflict_do_nothing(index_elements=["key"])
    return stmt.returning(STORIES.c.key, STORIES.c.id)


@functools.cache
def _key_insert(dialect: str) -> Insert:
    """Story keys' insert-or-nothing, built once per dialect (values bound): key, story id."""
    stmt = dialect_insert(dialect, STORY_KEYS).on_conflict_do_nothing(index_elements=["key"])
    return stmt.returning(STORY_KEYS.c.key, STORY_KEYS.c.story_id)


def _own_key(entry: StoredEntry) -> str:
    return story_key(entry.feed_id, entry.key, entry.link)


def _key_of(session: Session, story_id: int) -> str:
    return str(session.scalars(select(StoryRow.key).where(StoryRow.id == story_id)).one())
