from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.errors import ParseError
from monitor.parse import parse_feed
from tests.support.feeds import Item, atom, news_items, rss, seed_paragraphs

RSS_091 = b"""<?xml version="1.0"?>
<rss version="0.91"><channel><title>Old News</title><link>http://old.test/</link>
<description>d</description>
<item><title>Curfew declared</title><link>http://old.test/1</link>
<description>A curfew.</description></item>
</channel></rss>"""

RSS_10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://rdf.test/"><title>RDF News</title><link>http://rdf.test/</link>
<description>d</description></channel>
<item rdf:about="http://rdf.test/a"><title>Martial law</title><link>http://rdf.test/a</link>
<description>Martial law was declared.</description><dc:date>2026-11-24T07:00:00Z</dc:date></item>
</rdf:RDF>"""


@pytest.mark.parametrize(
    ("body", "version", "title", "first_title"),
    [
        (RSS_091, "rss091u", "Old News", "Curfew declared"),
        (RSS_10, "rss10", "RDF News", "Martial law"),
        (rss(news_items(3)), "rss20", "Test World News", news_items(1)[0].title),
        (atom(news_items(3)), "atom10", "Test Atom News", news_items(1)[0].title),
    ],
)
def test_formats(body: bytes, version: str, title: str, first_title: str) -> None:
    parsed = parse_feed(body, "application/xml")
    assert parsed.version.startswith(version[:5])
    assert parsed.title == title
    assert parsed.entries[0].title == first_title
    assert parsed.bozo is None


def test_rss_fields_and_dates() -> None:
    when = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    body = rss(
        [
            Item(
                "T",
                link="http://x.test/a",
                guid="g1",
                summary="<p>S</p>",
                content="<b>C</b>",
                published=when,
            )
        ]
    )
    (entry,) = parse_feed(body).entries
    assert (entry.key, entry.guid, entry.link) == ("id:g1", "g1", "http://x.test/a")
    assert entry.summary == "<p>S</p>"
    assert entry.content == "<b>C</b>"
    assert entry.published == when


@pytest.mark.parametrize(
    ("item", "key_prefix"),
    [
        (Item("t", link="http://x.test/a", guid="guid-1"), "id:guid-1"),
        (Item("t", link="http://x.test/a"), "link:http://x.test/a"),
        (Item("t", summary="only text"), "hash:"),
    ],
)
def test_entry_identity(item: Item, key_prefix: str) -> None:
    (entry,) = parse_feed(rss([item])).entries
    assert entry.key.startswith(key_prefix)


def test_identity_is_stable_and_content_hash_tracks_edits() -> None:
    a = parse_feed(rss([Item("Title", guid="g", summary="first")])).entries[0]
    b = parse_feed(rss([Item("Title", guid="g", summary="first")])).entries[0]
    c = parse_feed(rss([Item("Title", guid="g", summary="edited")])).entries[0]
    assert a.key == b.key == c.key
    assert a.content_hash == b.content_hash != c.content_hash


def test_duplicate_guids_keep_the_first() -> None:
    items = [Item("first", guid="same"), Item("second", guid="same"), Item("third", guid="other")]
    entries = parse_feed(rss(items)).entries
    assert [e.title for e in entries] == ["first", "third"]


def test_malformed_but_readable_is_kept_with_bozo() -> None:
    body = b'<rss version="2.0"><channel><title>T</title><item><title>a & b</title><link>http://x.test/1</link></item></channel>'
    parsed = parse_feed(body)
    assert [e.title for e in parsed.entries] == ["a & b"]
    assert parsed.bozo is not None and "not well-formed" in parsed.bozo


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>Home</title></head><body><p>Welcome</p></body></html>",
        bytes(range(256)) * 20,
        b"",
        b'{"json": true}',
    ],
)
def test_unreadable_bodies_raise(body: bytes) -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(body, "text/html")


def test_seed_article_as_content_encoded() -> None:
    paragraphs = seed_paragraphs()
    html = "".join(f"<p>{p}</p>" for p in paragraphs[1:])
    (entry,) = parse_feed(rss([Item(paragraphs[0], guid="kz", content=html)])).entries
    assert "internet blackout" in entry.content
    assert entry.title.startswith("Troops, protesters clash")


def test_far_future_date_is_dropped() -> None:
    body = rss([Item("t", guid="g", published=datetime(2999, 1, 1, tzinfo=UTC))])
    assert parse_feed(body).entries[0].published is None
