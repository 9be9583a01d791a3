"""The bulk writes of a poll, on SQLite and PostgreSQL: what a batch could get wrong.

A poll's entries go in with multi-row INSERTs (ids read back from RETURNING),
changed ones with one executemany UPDATE, its alerts with one multi-row insert-or-
nothing, and a batch of unchanged polls with one UPDATE executed per poll. Each id
must land on its own entry, each poll's values on its own feed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, select
from sqlalchemy.orm import Session

from monitor.alerting import NewAlert
from monitor.models import FetchResult, ParsedEntry, ParsedFeed, StoredEntry
from monitor.storage import Storage
from monitor.storage.repo import ChangedPoll, PollStored, UnchangedPoll
from monitor.storage.tables import AlertRow, DeliveryRow, EntryRow, FeedRow, StoryRow
from tests.support.storage import migrated, with_feeds

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
LEASE = 60.0


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    with migrated(db_url) as eng:
        yield eng


def fetched(etag: str | None = None, modified: str | None = None, **kw: Any) -> FetchResult:
    """A 200 with a body (``not_modified=True`` for a 304)."""
    not_modified = kw.pop("not_modified", False)
    status = 304 if not_modified else 200
    return FetchResult("http://feeds.example/x.xml", status, not_modified, b"", etag, modified,
                       "application/rss+xml", **kw)  # fmt: skip


def item(key: str, text: str = "", link: str | None = None) -> ParsedEntry:
    """An entry whose every field names it, so a row given another's values shows."""
    text = text or f"text of {key}"
    published = NOW - timedelta(minutes=len(key))
    return ParsedEntry(key, f"guid-{key}", link or f"https://news.example.test/{key}",
                       f"title {key}", f"summary {key}", text, published, None,
                       f"hash {key} {text}")  # fmt: skip


def feed_of(*entries: ParsedEntry, bozo: str | None = None) -> ParsedFeed:
    return ParsedFeed(title="Wire", version="rss20", entries=entries, bozo=bozo)


def store(storage: Storage, feed_id: int, parsed: ParsedFeed, now: datetime = NOW) -> Any:
    return storage.record_success(feed_id, fetched(), parsed, now + timedelta(minutes=5), now, "h")


def entry_rows(engine: Engine) -> dict[int, EntryRow]:
    with Session(engine) as session:
        return {row.id: row for row in session.scalars(select(EntryRow))}


def feed_rows(engine: Engine) -> dict[int, FeedRow]:
    with Session(engine) as session:
        return {row.id: row for row in session.scalars(select(FeedRow))}


# -- entries: ids, new and changed ---------------------------------------------------------


def test_each_new_entry_gets_the_id_of_its_own_row(engine: Engine) -> None:
    other, feed = with_feeds(engine, 2, NOW)
    storage = Storage(engine, "me")
    store(storage, other, feed_of(*(item(f"o{i}") for i in range(7))))  # ids don't start at 1
    keys = [f"k{i:02d}" for i in (5, 3, 9, 1, 0, 8, 2, 7, 6, 4)]  # not in key order

    stored = store(storage, feed, feed_of(*(item(k) for k in keys))).entries

    assert [e.key for e in stored] == keys  # in the order of the body
    rows = entry_rows(engine)
    assert len({e.id for e in stored}) == len(keys)
    for e in stored:
        row = rows[e.id]
        assert (row.feed_id, row.key, row.title, row.content) == (feed, e.key, e.title, e.content)
        assert (row.guid, row.link, row.summary) == (f"guid-{e.key}", e.link, e.summary)
        assert row.published_at == e.published and row.first_seen_at == NOW == e.first_seen
        assert row.changed_at is None and row.story_id is None and e.is_new


def test_a_second_poll_returns_new_entries_then_changed_ones_with_their_old_ids(
    engine: Engine,
) -> None:
    (feed,) = with_feeds(engine, 1, NOW)
    storage = Storage(engine, "me")
    first = {
        e.key: e for e in store(storage, feed, feed_of(item("a"), item("b"), item("c"))).entries
    }

    body = feed_of(
        item("c", "c rewritten"), item("d"), item("a"), item("b", "b rewritten"), item("e")
    )
    second = store(storage, feed, body, now=LATER).entries

    assert [(e.key, e.is_new) for e in second] == [
        ("d", True), ("e", True), ("c", False), ("b", False)
    ]  # fmt: skip
    changed = {e.key: e for e in second if not e.is_new}
    assert changed["c"].id == first["c"].id and changed["b"].id == first["b"].id
    assert changed["c"].first_seen == NOW and changed["c"].content == "c rewritten"
    rows = entry_rows(engine)
    assert len(rows) == 5
    assert rows[first["c"].id].content == "c rewritten"
    assert rows[first["b"].id].content_hash == "hash b b rewritten"
    assert rows[first["b"].id].changed_at == LATER and rows[first["b"].id].first_seen_at == NOW
    assert rows[first["a"].id].changed_at is None and rows[first["a"].id].content == "text of a"
    for e in second:
        assert rows[e.id].key == e.key and rows[e.id].content == e.content


def test_a_key_given_twice_in_one_body_is_stored_once_with_its_last_values(engine: Engine) -> None:
    (feed,) = with_feeds(engine, 1, NOW)
    stored = store(Storage(engine, "me"), feed, feed_of(item("a", "one"), item("a", "two"))).entries

    assert [(e.key, e.content) for e in stored] == [("a", "two")]
    assert [r.content for r in entry_rows(engine).values()] == ["two"]


def test_more_entries_than_one_insert_or_lookup_batch_map_to_their_rows(engine: Engine) -> None:
    """Past many multi-row INSERTs (ENTRY_PAGE rows each) and storage's 1,000 keys per IN."""
    (feed,) = with_feeds(engine, 1, NOW)
    storage = Storage(engine, "me")
    entries = [item(f"k{i:04d}") for i in range(2500)]
    first = store(storage, feed, feed_of(*entries)).entries
    rows = entry_rows(engine)
    assert len(rows) == 2500 and len(first) == 2500
    assert all(rows[e.id].key == e.key and rows[e.id].content == e.content for e in first)

    changed = [item(e.key, "new text") if i % 7 == 0 else e for i, e in enumerate(entries)]
    second = store(storage, feed, feed_of(*changed), now=LATER).entries

    ids = {e.key: e.id for e in first}
    assert [e.key for e in second] == [e.key for e in entries[::7]]
    assert all(e.id == ids[e.key] and not e.is_new for e in second)
    rows = entry_rows(engine)
    assert sum(r.content == "new text" for r in rows.values()) == len(second)
    assert all(rows[ids[e.key]].content == "new text" for e in second)


# -- alerts and their outbox rows ------------------------------------------------------------


def alert_for(e: StoredEntry, rule: str, story: str, notifiers: tuple[str, ...]) -> NewAlert:
    return NewAlert(
        id=str(uuid.uuid4()), rule=rule, story_key=story, feed_id=e.feed_id, entry_id=e.id,
        matched=(rule, e.key), field="title", snippet=f"snippet {e.key}", highlights=((0, 5),),
        title=e.title, url=e.link, summary=e.summary, published=e.published, feed_name="Wire",
        feed_url="http://feeds.example/wire.xml", detected_at=NOW, notifiers=notifiers,
    )  # fmt: skip


def test_alerts_go_in_once_per_rule_and_story_first_come_with_their_deliveries(
    engine: Engine,
) -> None:
    (feed,) = with_feeds(engine, 1, NOW)
    storage = Storage(engine, "me")
    proposed: list[NewAlert] = []

    def decide(entries: list[StoredEntry], _first: bool) -> list[NewAlert]:
        by_key = {e.key: e for e in entries}
        proposed.extend([
            alert_for(by_key["a"], "riot", "unset", ("hook", "chat")),
            alert_for(by_key["b"], "riot", "unset", ("hook",)),  # a's story again: not inserted
            alert_for(by_key["b"], "fire", "unset", ("chat",)),  # another rule: inserted
            alert_for(by_key["c"], "riot", "unset", ()),  # no notifier: an alert, no outbox
        ])  # fmt: skip
        return proposed

    link = "https://news.example.test/story"  # a and b tell one story
    parsed = feed_of(item("a", link=link), item("b", link=link), item("c"))
    out = storage.record_success(feed, fetched(), parsed, LATER, NOW, "h", decide)

    a_riot, b_riot, b_fire, c_riot = proposed
    with Session(engine) as session:
        rows = {r.id: r for r in session.scalars(select(AlertRow))}
        deliveries = sorted(
            (d.alert_id, d.notifier, d.state, d.attempts, d.next_attempt_at)
            for d in session.scalars(select(DeliveryRow))
        )
    assert set(rows) == {a_riot.id, b_fire.id, c_riot.id}  # the first of a story's two
    assert out.alerts == [a_riot.id, b_fire.id, c_riot.id]
    assert out.alert_rules == ["riot", "fire", "riot"]
    assert rows[a_riot.id].story_key == rows[b_fire.id].story_key == f"url:{link}"
    assert rows[a_riot.id].entry_id == a_riot.entry_id and rows[a_riot.id].detected_by == "me"
    assert rows[b_fire.id].entry_id == b_fire.entry_id != a_riot.entry_id
    assert rows[b_fire.id].matched == ["fire", "b"] and rows[b_fire.id].highlights == [[0, 5]]
    assert rows[c_riot.id].story_key == "url:https://news.example.test/c"
    assert deliveries == sorted([
        (a_riot.id, "hook", "pending", 0, NOW), (a_riot.id, "chat", "pending", 0, NOW),
        (b_fire.id, "chat", "pending", 0, NOW),
    ])  # fmt: skip

    # a later poll proposing the story again (a's entry changed) inserts nothing
    def again(entries: list[StoredEntry], _first: bool) -> list[NewAlert]:
        return [alert_for(e, "riot", "unset", ("hook",)) for e in entries]

    body = feed_of(item("a", "a rewritten", link=link), item("b", link=link), item("c"))
    out = storage.record_success(feed, fetched(), body, LATER, LATER, "h2", again)
    assert out.alerts == [] and [e.key for e in out.entries] == ["a"]
    with Session(engine) as session:
        assert len(session.scalars(select(AlertRow)).all()) == 3
        assert len(session.scalars(select(DeliveryRow)).all()) == 3


def test_grouped_entries_are_filed_under_their_own_stories(engine: Engine) -> None:
    (feed,) = with_feeds(engine, 1, NOW)
    storage = Storage(engine, "me")

    def decide(entries: list[StoredEntry], _first: bool) -> list[NewAlert]:
        return [alert_for(e, "riot", "unset", ("hook",)) for e in entries if e.key != "quiet"]

    same = "https://news.example.test/one-story"
    parsed = feed_of(
        item("x", "xylophone quartet"),
        item("quiet"),
        item("y", "yodel contest", link=same),
        item("z", "zeppelin parade", link=same),
    )
    out = storage.record_success(feed, fetched(), parsed, LATER, NOW, "h", decide)

    with Session(engine) as session:
        stories: dict[int | None, str] = {s.id: s.key for s in session.scalars(select(StoryRow))}
        entries = {r.key: r.story_id for r in session.scalars(select(EntryRow))}
        alerts = {r.entry_id: r.story_key for r in session.scalars(select(AlertRow))}
    assert entries["quiet"] is None
    assert stories[entries["x"]] == "url:https://news.example.test/x"
    assert entries["y"] == entries["z"] and stories[entries["y"]] == f"url:{same}"
    assert len(stories) == 2 and len(out.alerts) == 2  # y and z: one story, one alert
    ids = {e.key: e.id for e in out.entries}
    assert alerts == {ids["x"]: stories[entries["x"]], ids["y"]: stories[entries["y"]]}

    # later: one new entry joins x's story by its link, another starts a story of its own
    # (whose key sorts first, so stories are not joined in id order)
    x_link = "https://news.example.test/x"
    later = feed_of(item("w", "walrus sighting", link=x_link), item("v", "volcano alert"))
    out = storage.record_success(feed, fetched(), later, LATER, LATER, "h2", decide)

    with Session(engine) as session:
        stories = {s.id: s.key for s in session.scalars(select(StoryRow))}
        entries = {r.key: r.story_id for r in session.scalars(select(EntryRow))}
    assert entries["w"] == entries["x"] and len(stories) == 3
    assert stories[entries["v"]] == "url:https://news.example.test/v"
    assert len(out.alerts) == 1  # v's: x's story alerted for riot already


# -- a batch of unchanged polls ----------------------------------------------------------------


def test_a_batch_of_unchanged_polls_writes_each_feed_its_own_values(engine: Engine) -> None:
    ids = with_feeds(engine, 8, NOW)
    me, other = Storage(engine, "me"), Storage(engine, "other")
    # before: validators on every feed; feed 0 failing, feed 1 with a note on its body
    for n, feed in enumerate(ids):
        body = feed_of(item(f"e{n}"), bozo="mismatched tag" if n == 1 else None)
        result = fetched(f'"v{n}"', f"Mon, 0{n + 1} Nov 2026 08:00:00 GMT")
        me.record_success(feed, result, body, NOW, NOW, f"body {n}")
    me.record_failure(ids[0], "HTTP 503", 503, NOW, NOW)
    claimed_by = {f.id: "me" for f in me.claim_due(NOW, LEASE, limit=4)}
    claimed_by |= {f.id: "other" for f in other.claim_due(NOW, LEASE)}
    assert set(claimed_by) == set(ids)

    polls = [
        (ids[0], fetched(not_modified=True), None),  # 304 after an error: the error goes
        (ids[1], fetched(), "body 1"),  # the same body, no validators: the note stays; dropped
        (ids[2], fetched(not_modified=True), None),  # 304 without validators: both kept
        (ids[3], fetched('"new"', not_modified=True), None),  # a new etag only: modified kept
        (ids[4], fetched(None, "Tue, 03 Nov 2026", not_modified=True), None),  # the other way
        (ids[5], fetched('"w"', "Wed", permanent_url="http://moved.example/5.xml"), "new"),
        (ids[6], fetched(), "body 6"),  # 200, same body, no validators: both dropped
        (ids[7], fetched('"v7"', not_modified=True), None),
    ]
    me.record_unchanged([
        UnchangedPoll(feed, result, LATER + timedelta(minutes=i), LATER, body_hash)
        for i, (feed, result, body_hash) in enumerate(polls)
    ])  # fmt: skip

    rows = feed_rows(engine)
    got = {
        n: (rows[f].etag, rows[f].last_modified, rows[f].body_hash, rows[f].url)
        for n, f in enumerate(ids)
    }
    url = "http://feeds.example/{}.xml".format
    assert got == {
        0: ('"v0"', "Mon, 01 Nov 2026 08:00:00 GMT", "body 0", url(0)),
        1: (None, None, "body 1", url(1)),
        2: ('"v2"', "Mon, 03 Nov 2026 08:00:00 GMT", "body 2", url(2)),
        3: ('"new"', "Mon, 04 Nov 2026 08:00:00 GMT", "body 3", url(3)),
        4: ('"v4"', "Tue, 03 Nov 2026", "body 4", url(4)),
        5: ('"w"', "Wed", "new", "http://moved.example/5.xml"),
        6: (None, None, "body 6", url(6)),
        7: ('"v7"', "Mon, 08 Nov 2026 08:00:00 GMT", "body 7", url(7)),
    }
    assert rows[ids[0]].last_error is None and rows[ids[0]].consecutive_failures == 0
    assert rows[ids[1]].last_error == "malformed feed, read anyway: mismatched tag"
    for i, feed in enumerate(ids):
        row = rows[feed]
        assert row.last_status == "unchanged" and row.last_http_status == polls[i][1].status
        assert row.next_poll_at == LATER + timedelta(minutes=i)
        assert row.last_poll_at == row.last_success_at == LATER and row.last_polled_by == "me"
        # this instance's claims end; one another instance took over stays theirs
        mine = claimed_by[feed] == "me"
        assert row.claimed_by == (None if mine else "other")
        assert (row.claimed_until is None) == mine


def test_one_feed_twice_in_a_batch_ends_with_its_last_poll(engine: Engine) -> None:
    (feed,) = with_feeds(engine, 1, NOW)
    me = Storage(engine, "me")
    me.record_unchanged([
        UnchangedPoll(feed, fetched('"1"'), LATER, NOW, "one"),
        UnchangedPoll(feed, fetched('"2"', not_modified=True), LATER + timedelta(hours=1), LATER,
                      None),
    ])  # fmt: skip

    row = feed_rows(engine)[feed]
    assert (row.etag, row.body_hash, row.last_http_status) == ('"2"', "one", 304)
    assert row.next_poll_at == LATER + timedelta(hours=1) and row.last_poll_at == LATER


def test_an_empty_batch_writes_nothing(engine: Engine) -> None:
    (feed,) = with_feeds(engine, 1, NOW)
    before = feed_rows(engine)[feed]
    Storage(engine, "me").record_unchanged([])
    after = feed_rows(engine)[feed]
    assert (after.last_poll_at, after.last_status) == (before.last_poll_at, None)


def test_a_poll_that_stores_entries_ends_only_this_instances_claim(engine: Engine) -> None:
    mine, theirs = with_feeds(engine, 2, NOW)
    me, other = Storage(engine, "me"), Storage(engine, "other")
    assert [f.id for f in me.claim_due(NOW, LEASE, limit=1)] == [mine]
    assert [f.id for f in other.claim_due(NOW, LEASE)] == [theirs]

    for feed in (mine, theirs):
        me.record_success(feed, fetched('"v"'), feed_of(item(f"e{feed}")), LATER, NOW, "h")

    rows = feed_rows(engine)
    assert (rows[mine].claimed_by, rows[mine].claimed_until) == (None, None)
    assert rows[theirs].claimed_by == "other" and rows[theirs].claimed_until is not None
    for feed in (mine, theirs):
        row = rows[feed]
        assert (row.last_polled_by, row.last_status, row.etag, row.body_hash) == (
            "me",
            "ok",
            '"v"',
            "h",
        )
        assert row.first_polled_at == NOW and row.body_keys == [f"e{feed}"]


def test_a_later_poll_keeps_first_polled_and_marks_the_same_body_unchanged(engine: Engine) -> None:
    (feed,) = with_feeds(engine, 1, NOW)
    me = Storage(engine, "me")
    me.record_success(feed, fetched('"v"', "Mon"), feed_of(item("a")), LATER, NOW, "h")
    parsed = replace(feed_of(item("a"), item("b")), title=None)

    out = me.record_success(feed, fetched(), parsed, LATER, LATER, "h")

    row = feed_rows(engine)[feed]
    assert [e.key for e in out.entries] == ["b"]
    assert (row.first_polled_at, row.last_poll_at, row.last_status) == (NOW, LATER, "unchanged")
    assert (row.etag, row.last_modified, row.title) == (None, None, "Wire")


# -- polls stored together (group commit) ---------------------------------------------------


def polled(feed: int, parsed: ParsedFeed, decide: Any = None, now: datetime = NOW) -> ChangedPoll:
    return ChangedPoll(feed, fetched(f'"{feed}"'), parsed, LATER, now, f"hash {feed}", decide)


def commits(engine: Engine) -> list[int]:
    """A list that grows by one at each commit on ``engine``."""
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def test_polls_stored_together_commit_once_each_with_its_own_rows(engine: Engine) -> None:
    a, b, c = with_feeds(engine, 3, NOW)
    storage = Storage(engine, "me")
    store(storage, c, feed_of(item("c1"), item("c2")))  # c's second poll: one changed entry

    def decide(entries: list[StoredEntry], first: bool) -> list[NewAlert]:
        return [alert_for(e, f"first={first}", "unset", ("hook",)) for e in entries]

    polls = [
        polled(a, feed_of(item("a1"), item("a2")), decide),
        polled(b, feed_of(item("b1")), decide),
        polled(c, feed_of(item("c1"), item("c2", "c2 rewritten"), item("c3")), decide, LATER),
    ]
    seen = commits(engine)
    out = storage.record_changed(polls)

    assert len(seen) == 1
    assert all(isinstance(o, PollStored) for o in out)
    stored = [o for o in out if isinstance(o, PollStored)]
    assert [[(e.key, e.feed_id, e.is_new) for e in o.entries] for o in stored] == [
        [("a1", a, True), ("a2", a, True)],
        [("b1", b, True)],
        [("c3", c, True), ("c2", c, False)],
    ]
    assert [o.alert_rules for o in stored] == [
        ["first=True"] * 2, ["first=True"], ["first=False"] * 2
    ]  # fmt: skip
    with Session(engine) as session:
        alerts = {r.id: (r.feed_id, r.entry_id) for r in session.scalars(select(AlertRow))}
    for o in stored:  # each poll's alert ids are those of its own entries
        ids = {e.id for e in o.entries}
        assert {alerts[i][1] for i in o.alerts} == ids and {alerts[i][0] for i in o.alerts} == {
            o.entries[0].feed_id
        }
    rows = entry_rows(engine)
    assert sorted((r.feed_id, r.key) for r in rows.values()) == sorted(
        [(a, "a1"), (a, "a2"), (b, "b1"), (c, "c1"), (c, "c2"), (c, "c3")]
    )
    assert {r.first_seen_at for r in rows.values() if r.feed_id == c and r.key == "c3"} == {LATER}
    feeds = feed_rows(engine)
    for feed in (a, b, c):
        assert feeds[feed].etag == f'"{feed}"' and feeds[feed].body_hash == f"hash {feed}"
        assert feeds[feed].first_polled_at == NOW and feeds[feed].last_status == "ok"


def test_a_poll_that_fails_among_others_fails_alone(engine: Engine) -> None:
    a, b, c = with_feeds(engine, 3, NOW)
    storage = Storage(engine, "me")

    def broken(entries: list[StoredEntry], first: bool) -> list[NewAlert]:
        raise RuntimeError("a bug in a rule")

    seen = commits(engine)
    out = storage.record_changed(
        [
            polled(a, feed_of(item("a1"))),
            polled(b, feed_of(item("b1")), broken),
            polled(c, feed_of(item("c1"))),
        ]
    )

    assert isinstance(out[1], RuntimeError) and str(out[1]) == "a bug in a rule"
    assert [[e.key for e in o.entries] for o in (out[0], out[2]) if isinstance(o, PollStored)] == [
        ["a1"], ["c1"]
    ]  # fmt: skip
    assert len(seen) == 2  # the batch rolled back; a and c then committed one by one
    assert sorted((r.feed_id, r.key) for r in entry_rows(engine).values()) == [
        (a, "a1"), (c, "c1")
    ]  # fmt: skip
    feeds = feed_rows(engine)
    assert feeds[b].last_poll_at is None and feeds[b].etag is None  # nothing of b's poll
    assert feeds[a].last_poll_at == NOW == feeds[c].last_poll_at


def test_two_polls_of_one_feed_given_together_are_stored_one_after_the_other(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    (feed,) = with_feeds(engine, 1, NOW)
    storage = Storage(engine, "me")

    out = storage.record_changed(
        [
            polled(feed, feed_of(item("a"), item("b"))),
            polled(feed, feed_of(item("a", "a rewritten"), item("c")), now=LATER),
        ]
    )

    first, second = out
    assert isinstance(first, PollStored) and isinstance(second, PollStored)
    assert [(e.key, e.is_new) for e in first.entries] == [("a", True), ("b", True)]
    assert [(e.key, e.is_new) for e in second.entries] == [("c", True), ("a", False)]
    assert second.entries[1].id == first.entries[0].id
    assert len(entry_rows(engine)) == 3
    assert "failed" not in caplog.text  # not a failed batch retried: two transactions


def test_an_entry_joins_the_story_another_poll_of_its_batch_started(engine: Engine) -> None:
    wire, tv = with_feeds(engine, 2, NOW)
    storage = Storage(engine, "me")

    def decide(entries: list[StoredEntry], _first: bool) -> list[NewAlert]:
        return [alert_for(e, "emergency", "unset", ("hook",)) for e in entries]

    def told(key: str, link: str, title: str, summary: str) -> ParsedFeed:
        return feed_of(replace(item(key, link=link), title=title, summary=summary))

    out = storage.record_changed(
        [
            polled(wire, told("w", "https://wire.example/world/kazakhstan-clashes",
                "Troops, protesters clash in Kazakhstan as US, UN call for 'restraint'",
                "At least eight security forces have been killed and over 300 injured as"
                " violent protests resume in Almaty. A state of emergency was declared."),
                decide),
            polled(tv, told("t", "https://tv.example/news/kazakhstan-unrest",
                "Kazakhstan unrest: UN and US call for calm as troops fire on crowds in Almaty",
                "Eight security officers killed in Almaty; state of emergency declared."),
                decide),
        ]
    )  # fmt: skip

    assert [len(o.alerts) for o in out if isinstance(o, PollStored)] == [1, 0]
    with Session(engine) as session:
        stories = session.scalars(select(EntryRow.story_id)).all()
    assert len(stories) == 2 and len(set(stories)) == 1  # one story, told by both


def test_a_poll_of_a_feed_deleted_meanwhile_fails_with_a_clear_error(engine: Engine) -> None:
    a, b = with_feeds(engine, 2, NOW)
    storage = Storage(engine, "me")
    with Session(engine) as session, session.begin():
        session.execute(delete(FeedRow).where(FeedRow.id == b))

    out = storage.record_changed([polled(a, feed_of(item("a1"))), polled(b, feed_of(item("b1")))])

    assert isinstance(out[0], PollStored) and [e.key for e in out[0].entries] == ["a1"]
    assert isinstance(out[1], LookupError)
    assert str(out[1]) == f"feed {b} is no longer in the database"


def test_a_key_two_feeds_share_is_each_feeds_own_in_one_batch(engine: Engine) -> None:
    """Every poll of a batch is looked up in one SELECT of all their feeds and keys: a key
    stored for one feed must not make another feed's entry of that key look old."""
    a, b = with_feeds(engine, 2, NOW)
    storage = Storage(engine, "me")
    store(storage, a, feed_of(item("shared")))

    out = storage.record_changed(
        [
            polled(a, feed_of(item("shared"), item("a2")), now=LATER),
            polled(b, feed_of(item("shared", "b's own text")), now=LATER),
        ]
    )

    assert [[(e.key, e.is_new) for e in o.entries] for o in out if isinstance(o, PollStored)] == [
        [("a2", True)], [("shared", True)]
    ]  # fmt: skip
    rows = entry_rows(engine).values()
    assert sorted((r.feed_id, r.key, r.content) for r in rows) == [
        (a, "a2", "text of a2"), (a, "shared", "text of shared"), (b, "shared", "b's own text")
    ]  # fmt: skip


def test_a_batch_that_rolls_back_leaves_no_story_in_memory_under_a_stand_in_id(
    engine: Engine,
) -> None:
    """Stories a batch starts stand in memory under provisional ids until inserted; when
    the batch fails they go, and the polls stored alone again leave only real ids."""
    from monitor.storage.stories import PROVISIONAL

    a, b, c = with_feeds(engine, 3, NOW)
    storage = Storage(engine, "me")

    def decide(entries: list[StoredEntry], _first: bool) -> list[NewAlert]:
        return [alert_for(e, "riot", "unset", ()) for e in entries]

    def broken_picker(entries: list[StoredEntry], _first: bool) -> list[StoredEntry]:
        raise RuntimeError("after grouping")  # articles are picked once stories are filed

    polls = [
        polled(a, feed_of(item("a1", link="https://a.example/1")), decide),
        polled(b, feed_of(item("b1", link="https://b.example/1")), decide),
        replace(polled(c, feed_of(item("c1")), decide), articles=broken_picker),
    ]
    out = storage.record_changed(polls)

    assert isinstance(out[2], RuntimeError)
    with Session(engine) as session:
        stories = {i: k for i, k in session.execute(select(StoryRow.id, StoryRow.key))}
    grouper = storage.stories
    assert len(stories) == 2 and grouper._keys == stories  # a's and b's, by their real ids
    assert all(story < PROVISIONAL for story in (*grouper._seen, *grouper._feeds))
    indexed = {story for posting in grouper._index._postings.values() for story in posting}
    assert indexed <= stories.keys()


def test_an_alert_for_a_story_that_alerted_before_is_left_out_and_others_go_in(
    engine: Engine,
) -> None:
    """Alerts whose rule and story alerted already are dropped before the insert."""
    a, b = with_feeds(engine, 2, NOW)
    storage = Storage(engine, "me")
    link = "https://wire.example/world/1"

    def rules(*names: str) -> Any:
        def decide(entries: list[StoredEntry], _first: bool) -> list[NewAlert]:
            return [alert_for(e, rule, "unset", ("hook",)) for e in entries for rule in names]

        return decide

    (first,) = storage.record_changed([polled(a, feed_of(item("w", link=link)), rules("riot"))])
    (second,) = storage.record_changed(
        [polled(b, feed_of(item("p", link=link)), rules("riot", "fire", "fire"), LATER)]
    )

    assert isinstance(first, PollStored) and isinstance(second, PollStored)
    assert first.alert_rules == ["riot"] and second.alert_rules == ["fire"]
    with Session(engine) as session:
        alerts = [(r, f) for r, f in session.execute(select(AlertRow.rule, AlertRow.feed_id))]
        deliveries = session.scalars(select(DeliveryRow.alert_id)).all()
    assert sorted(alerts) == [("fire", b), ("riot", a)]
    assert sorted(deliveries) == sorted([*first.alerts, *second.alerts])
