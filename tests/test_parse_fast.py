"""The fast path of parse_feed (fastfeedparser) against the feedparser path, feed by feed.

Entry keys are stored, so for every body the fast path reads, the ParsedFeed must be the
one feedparser gives, field by field; bodies it does not vouch for go to feedparser.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from html import escape
from typing import Any

import fastfeedparser
import pytest
from feedparser.urls import _urljoin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.feeds import make_feed
from monitor import fastparse, parse
from monitor.models import ParsedFeed
from monitor.parse import parse_feed
from tests.support.feeds import Item, atom, news_items, rss, seed_paragraphs
from tests.test_hostile_feeds import ACCENTED, MISSING, dated_items, many_items, rss_raw
from tests.test_parse import RSS_091, RSS_10

BASE = "http://feeds.test/news/feed.xml"
RSS_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Tricky</title>'
    "<link>http://tricky.test/</link><description>d</description>"
    '<atom:link rel="self" href="http://tricky.test/feed"/>'
)
ATOM_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
    'xml:lang="en"><title type="text">Atom tricky</title><id>urn:t</id>'
    '<updated>2026-11-24T08:00:00Z</updated><link rel="self" href="http://tricky.test/atom"/>'
)


def rss_items(items: str, head: str = RSS_HEAD) -> bytes:
    return f"{head}{items}</channel></rss>".encode()


def atom_entries(entries: str) -> bytes:
    return f"{ATOM_HEAD}{entries}</feed>".encode()


def read_both(
    body: bytes, content_type: str | None = "application/rss+xml", url: str | None = BASE
) -> tuple[ParsedFeed | None, ParsedFeed]:
    """The fast path's ParsedFeed (None when it leaves the body to feedparser) and
    feedparser's."""
    headers = {"content-type": content_type} if content_type else {}
    fast = parse._read_fast(body, headers) is not None
    slow = _by_feedparser(body, content_type, url)
    if not fast:
        return None, slow
    return parse_feed(body, content_type, url), slow


def _by_feedparser(body: bytes, content_type: str | None, url: str | None) -> ParsedFeed:
    original = parse._read_fast
    parse._read_fast = lambda *_: None  # type: ignore[assignment]
    try:
        return parse_feed(body, content_type, url)
    finally:
        parse._read_fast = original


def assert_same(body: bytes, content_type: str | None = "application/rss+xml") -> ParsedFeed:
    """``body`` is read the fast way, and to the same ParsedFeed as feedparser's."""
    fast, slow = read_both(body, content_type)
    assert fast is not None, "left to feedparser"
    assert fast == slow
    return fast


def fixture_feeds() -> Iterator[Any]:
    """Every feed the other tests use, and the benchmark's."""
    when = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    paragraphs = seed_paragraphs()
    seed_html = "".join(f"<p>{p}</p>" for p in paragraphs[1:])
    yield pytest.param(RSS_091, id="rss091")
    yield pytest.param(RSS_10, id="rdf")
    for build in (rss, atom):
        name = build.__name__
        yield pytest.param(build(news_items(3)), id=f"{name}-news")
        yield pytest.param(
            build([Item("T", "http://x.test/a", "g1", "<p>S</p>", "<b>C</b>", when)]),
            id=f"{name}-fields",
        )
        yield pytest.param(build([Item("t", link="http://x.test/a")]), id=f"{name}-no-guid")
        yield pytest.param(build([Item("t", summary="only text")]), id=f"{name}-text-only")
        yield pytest.param(
            build([Item(paragraphs[0], guid="kz", content=seed_html)]), id=f"{name}-seed"
        )
        yield pytest.param(
            build([Item("t", guid="g", published=datetime(2999, 1, 1, tzinfo=UTC))]),
            id=f"{name}-far-future",
        )
        yield pytest.param(
            build([Item("first", guid="same"), Item("second", guid="same")]),
            id=f"{name}-duplicates",
        )
        yield pytest.param(build(many_items(300)), id=f"{name}-many")
        yield pytest.param(
            build([Item(t, guid=f"b{n}") for n, t in enumerate(ACCENTED)]), id=f"{name}-accents"
        )
    for n in range(8):  # RSS with content:encoded, and Atom (n % 4 == 0) with content
        yield pytest.param(make_feed(n), id=f"bench-{n}")
    yield pytest.param(rss_raw(MISSING), id="missing-fields")
    yield pytest.param(rss_raw(dated_items()), id="dates")
    yield pytest.param(
        rss_raw("".join(f"<item><title>S {n}</title><guid>{n}</guid></item>" for n in range(5))),
        id="relative-guids",
    )
    yield pytest.param(b"\xef\xbb\xbf" + rss(news_items(2)), id="bom")


@pytest.fixture(params=["extractor", "lxml"])
def fastfeedparser_way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """fastfeedparser reads with its native extractor, or with lxml where it declines
    (RDF, a large feed with few items): both ways must give feedparser's result."""
    if request.param == "lxml":
        monkeypatch.setattr(fastfeedparser.main, "_core", None)


@pytest.mark.usefixtures("fastfeedparser_way")
@pytest.mark.parametrize("body", list(fixture_feeds()))
def test_fixture_feeds_read_alike(body: bytes) -> None:
    parsed = assert_same(body)
    assert parsed.entries


TRICKY_RSS = {
    "no-guid-relative-link": "<item><title>a</title><link>/story/1</link></item>",
    "relative-permalink-guid": "<item><title>a</title><guid>story/1</guid></item>",
    "guid-then-link": "<item><guid>http://x.test/g</guid><link>http://x.test/l</link></item>",
    "link-then-guid": "<item><link>http://x.test/l</link><guid>http://x.test/g</guid></item>",
    "guid-not-permalink": '<item><guid isPermaLink="false">http://x.test/g</guid></item>',
    "guid-permalink-capital": '<item><guid isPermaLink="True">http://x.test/g</guid></item>',
    "empty-link-after-guid": "<item><guid>http://x.test/g</guid><link></link></item>",
    "empty-link-before-guid": "<item><link/><guid>http://x.test/g</guid><title>t</title></item>",
    "empty-guid": "<item><guid></guid><title>t</title></item>",
    "slashes-after-scheme": "<item><guid>http:////x.test/g</guid><link>http:///x.test/l</link></item>",
    "bad-ipv6-link": "<item><link>http://[x.test/l</link><title>t</title></item>",
    "query-in-link": "<item><link>http://x.test/?a=1&amp;b=2&amp;amp;c=3&amp;d;=4</link></item>",
    "entities-in-title": "<item><title>a &amp;amp; b &lt;b&gt;x&lt;/b&gt; &amp;lt; &#233;</title>"
    "<guid>e</guid></item>",
    "html-escaped-description": "<item><guid>h</guid><description>&lt;p&gt;Hi &amp;amp; "
    "bye&lt;/p&gt;</description></item>",
    "cdata": "<item><guid>c</guid><title><![CDATA[A <b>bold</b> & title]]></title>"
    "<description><![CDATA[<p>x &amp; y</p>]]></description></item>",
    "whitespace": "<item><guid>  w  </guid><title>\n  Spaced\u3000title \u00a0 </title>"
    "<description>\t</description></item>",
    "c1-controls": "<item><guid>c1</guid><title>x\u0096y \u0080 \u0093q\u0094</title></item>",
    "utf8-read-as-latin1": "<item><guid>m</guid><title>\u00c3\u00a9t\u00c3\u00a9</title></item>",
    "content-only": "<item><guid>co</guid><content:encoded><![CDATA[<p>Body</p>]]>"
    "</content:encoded></item>",
    "content-then-description": "<item><guid>cd</guid><content:encoded>C</content:encoded>"
    "<description>D</description></item>",
    "empty-content": "<item><guid>ec</guid><content:encoded></content:encoded></item>",
    "dc-date": "<item><guid>dd</guid><dc:date>2026-11-24T07:00:00+02:00</dc:date></item>",
    "both-dates": "<item><guid>bd</guid><pubDate>Tue, 24 Nov 2026 07:00:00 EST</pubDate>"
    "<dc:date>2026-11-23</dc:date></item>",
    "odd-dates": "<item><guid>od</guid><pubDate>24 Nov 26 7:00 PDT</pubDate></item>"
    "<item><guid>od2</guid><pubDate>2026-11-24 07:00</pubDate></item>"
    "<item><guid>od3</guid><pubDate> Tuesday, November 24, 2026 </pubDate></item>",
    "extensions": "<item><title>x</title><guid>ex</guid><dc:creator>Me</dc:creator>"
    '<category domain="d">News</category><author>a@b.test (A)</author>'
    '<enclosure url="http://x.test/a.mp3" length="1" type="audio/mpeg"/>'
    '<comments>http://x.test/c</comments><source url="http://s.test/">Other title</source>'
    '<media:thumbnail url="http://x.test/t.jpg"/><media:content url="http://x.test/v.mp4"/>'
    "</item>",
    "nothing": "<item></item><item><title></title><description> </description></item>",
    "text-between-fields": "<item>stray<guid>tb</guid> text <title>t</title></item>",
    "comment-between": "<item><!-- c --><guid>cb</guid><?pi x?><title>t</title></item>",
}


@pytest.mark.usefixtures("fastfeedparser_way")
@pytest.mark.parametrize("items", TRICKY_RSS.values(), ids=TRICKY_RSS.keys())
def test_tricky_rss_reads_alike(items: str) -> None:
    assert_same(rss_items(items))


TRICKY_ATOM = {
    "no-link": "<entry><id>urn:a:1</id><title>t</title></entry>",
    "relative-id": "<entry><id>story/1</id><title>t</title></entry>",
    "link-then-id": '<entry><link href="http://x.test/l"/><id>http://x.test/i</id></entry>',
    "links": '<entry><id>i</id><link rel="self" href="http://x.test/self"/>'
    '<link rel="Alternate" type="TEXT/HTML" href="/rel"/>'
    '<link rel="replies" href="http://x.test/r"/>'
    '<link rel="alternate" type="application/pdf" href="http://x.test/pdf"/></entry>',
    "two-alternates": '<entry><id>i2</id><link href="http://x.test/1"/>'
    '<link href="http://x.test/2"/></entry>',
    "empty-href": '<entry><id>http://x.test/id</id><link href=""/></entry>',
    "text-types": '<entry><id>tt</id><title type="html">a &amp;amp; &lt;b&gt;</title>'
    '<summary type="text">s &lt; t</summary><content type="text">plain</content></entry>',
    "content-then-summary": '<entry><id>cs</id><content type="html">&lt;p&gt;C&lt;/p&gt;'
    "</content><summary>S</summary></entry>",
    "content-only": '<entry><id>co</id><content type="html">&lt;p&gt;C&lt;/p&gt;</content></entry>',
    "dates": "<entry><id>d</id><published>2026-11-24T08:00:00.123+05:30</published>"
    "<updated>2026-11-24</updated></entry>",
    "authors": "<entry><id>au</id><author><name>A</name><email>a@b.test</email>"
    '<uri>http://a.test/</uri></author><category term="t" scheme="s" label="L"/></entry>',
}


@pytest.mark.usefixtures("fastfeedparser_way")
@pytest.mark.parametrize("entries", TRICKY_ATOM.values(), ids=TRICKY_ATOM.keys())
def test_tricky_atom_reads_alike(entries: str) -> None:
    assert_same(atom_entries(entries))


def test_prefixed_atom_reads_alike() -> None:
    body = (
        b'<?xml version="1.0"?><a:feed xmlns:a="http://www.w3.org/2005/Atom"><a:title>P</a:title>'
        b'<a:entry><a:id>p1</a:id><a:title>T</a:title><a:link href="http://x.test/p"/></a:entry>'
        b"</a:feed>"
    )
    assert assert_same(body).version == "atom10"


@pytest.mark.parametrize(
    ("encoding", "content_type"),
    [
        ("iso-8859-1", "application/rss+xml"),
        ("windows-1251", "application/rss+xml"),
        ("windows-1252", "text/xml"),
        ("utf-16", "application/xml"),
        ("iso-8859-1", "application/rss+xml; charset=iso-8859-1"),
        ("utf-8", "text/html; charset=utf-8"),  # feedparser notes NonXMLContentType
        ("utf-8", None),
    ],
)
def test_declared_encodings_read_alike(encoding: str, content_type: str | None) -> None:
    text = {"windows-1251": "Положение дел", "utf-16": "Grève 危機"}.get(
        encoding, "Grève générale à Almaty"
    )
    items = "".join(
        f"<item><guid>e{n}</guid><title>{text} {n}</title><description>{text}</description></item>"
        for n in range(3)
    )
    body = rss_items(items, RSS_HEAD.replace("utf-8", encoding)).decode().encode(encoding)
    parsed = assert_same(body, content_type)
    assert parsed.entries[0].title == f"{text} 0"


def test_charset_header_overrides_the_declaration_alike() -> None:
    """feedparser follows an application/* charset over the XML declaration."""
    body = rss_items("<item><guid>c</guid><title>Grève</title></item>").decode()
    body_bytes = body.replace("utf-8", "iso-8859-1").encode("utf-8")
    fast, slow = read_both(body_bytes, "application/xml; charset=utf-8")
    assert fast is None or fast == slow
    assert slow.entries[0].title == "Grève"


def test_rss_without_version_and_atom_namespace_first() -> None:
    body = rss_items(
        "<item><guid>v</guid></item>",
        RSS_HEAD.replace('version="2.0" ', "").replace(
            "<rss ", '<rss xmlns:a="http://www.w3.org/2005/Atom" '
        ),
    )
    assert assert_same(body).version == "rss"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        pytest.param(
            b'<rss version="2.0"><channel><title>T</title><item><title>a & b</title>'
            b"</item></channel>",
            "not well-formed",
            id="malformed",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS '
            b'0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91">'
            b"<channel><title>N</title><item><title>t</title></item></channel></rss>",
            None,
            id="netscape-dtd",
        ),
        pytest.param(
            rss_items(
                "<item><guid>x</guid><title>x</title><title>y</title></item>"
                "<item><guid>x2</guid><description>a</description><description>b</description>"
                "</item>"
            ),
            None,
            id="fields-twice",
        ),
        pytest.param(
            atom_entries(
                '<entry><id>x</id><content type="xhtml"><div xmlns="http://www.w3.org/1999/'
                'xhtml"><p>Hi <b>there</b></p></div></content></entry>'
            ),
            None,
            id="xhtml-content",
        ),
        pytest.param(
            rss_items(
                "<item><guid>u</guid><description><p>raw <b>html</b></p></description></item>"
            ),
            None,
            id="markup-in-description",
        ),
        pytest.param(
            rss_items('<item xml:base="http://base.test/a/"><guid>b</guid><link>x</link></item>'),
            None,
            id="xml-base",
        ),
        pytest.param(
            rss_items("<item><Title>Case</Title><guid>c</guid></item>"), None, id="capitalised"
        ),
        pytest.param(
            rss_items("<item><guid>t</guid><title>a<!-- c -->b</title></item>"),
            None,
            id="comment-in-title",
        ),
        pytest.param(
            rss_items(
                '<item><guid>t</guid><media:content url="http://x.test/v"><media:title>M'
                "</media:title></media:content></item>"
            ),
            None,
            id="media-title",
        ),
        pytest.param(
            atom_entries('<entry><id>b</id><content type="image/png">aGVsbG8=</content></entry>'),
            None,
            id="base64-content",
        ),
        pytest.param(
            rss_items("<item><guid>s</guid><title>line\u2028sep</title></item>"),
            None,
            id="line-separator",
        ),
        pytest.param(
            (
                b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-'
                b'ns#" xmlns="http://purl.org/rss/1.0/"><item rdf:about="http://x.test/a"><title>A'
                b'</title></item><channel rdf:about="http://x.test/"><title>Late</title></channel>'
                b"</rdf:RDF>"
            ),
            None,
            id="rdf-item-before-channel",
        ),
    ],
)
def test_other_bodies_are_left_to_feedparser(body: bytes, why: str | None) -> None:
    fast, slow = read_both(body)
    assert fast is None
    assert parse_feed(body, "application/rss+xml", BASE) == slow
    if why:
        assert slow.bozo is not None and why in slow.bozo


def test_malformed_feed_keeps_its_bozo_note() -> None:
    body = b'<rss version="2.0"><channel><title>T</title><item><title>a & b</title><link>http://x.test/1</link></item></channel>'
    parsed = parse_feed(body)
    assert [e.title for e in parsed.entries] == ["a & b"]
    assert parsed.bozo is not None and "not well-formed" in parsed.bozo


def test_fastfeedparser_gets_bytes_without_a_dtd(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real = fastfeedparser.parse

    def spy(source: Any, **options: Any) -> Any:
        seen.append(source)
        return real(source, **options)

    monkeypatch.setattr(fastfeedparser, "parse", spy)
    parse_feed(b"\xef\xbb\xbf" + rss(news_items(2)), "application/rss+xml", BASE)
    parse_feed(b'<?xml version="1.0"?>\n<!DOCTYPE rss>\n' + rss(news_items(2))[39:])
    assert len(seen) == 1 and isinstance(seen[0], bytes)
    assert b"<!DOCTYPE" not in seen[0] and not seen[0].startswith(b"\xef\xbb\xbf")


def test_entries_past_the_cap_are_left_to_feedparser() -> None:
    body = rss_raw("".join(f"<item><guid>{n}</guid></item>" for n in range(parse.MAX_ENTRIES + 1)))
    assert parse._read_fast(body, {}) is None
    parsed = parse_feed(body)
    assert len(parsed.entries) == parse.MAX_ENTRIES and parsed.bozo is not None


def test_many_elements_are_left_to_feedparser() -> None:
    """fastfeedparser's lxml tree of a channel takes some 250 bytes an element: 10 MiB of
    them are feedparser's, as before."""
    category = "<category>c</category>"
    item = "<item><guid>g</guid><title>t</title>{}</item>"  # the entry and two elements
    assert_same(rss_items(item.format(category * (fastparse.MAX_ELEMENTS_IN_ENTRY - 2))))
    assert (
        read_both(rss_items(item.format(category * (fastparse.MAX_ELEMENTS_IN_ENTRY - 1))))[0]
        is None
    )
    outside = fastparse.MAX_ELEMENTS_OUTSIDE
    assert_same(rss_items(item.format(""), RSS_HEAD + category * (outside - 10)))
    assert read_both(rss_items(item.format(""), RSS_HEAD + category * outside))[0] is None


# Generated feeds ---------------------------------------------------------------------------

_XML_CHARS = st.characters(
    codec="utf-8",
    exclude_categories=("Cs",),
    exclude_characters="\x00\ufffe\uffff\u2028\u2029",
).filter(lambda c: c >= " " or c in "\t\n\r")
_WORDS = [
    "Grève",
    "Ã©",
    "\u00c3\u00a9t\u00c3\u00a9",
    "\u0096",
    "\x80",
    "\x85",
    "&amp;",
    "<b>x</b>",
    "http://x.test/a",
    " ",
    "\u00a0",
    "\u2003",
    "\u3000",
    "\r\n",
    "\t",
    "tag:",
]
TEXT = st.one_of(
    st.text(_XML_CHARS, max_size=30),
    st.lists(st.sampled_from(_WORDS), max_size=5).map("".join),
)
URLS = st.sampled_from(
    ["http://x.test/a", "/rel/b", "c?d=1&e=2", "https://x.test/é", "http:///x.test/s", "", " "]
)
DATES = st.sampled_from(
    [
        "Tue, 24 Nov 2026 08:00:00 GMT",
        "Tue, 24 Nov 2026 08:00:00 +0530",
        "24 Nov 2026 08:00 EST",
        "2026-11-24T08:00:00Z",
        "2026-11-24",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "not a date",
        "",
    ]
)


def _xml_text(text: str, cdata: bool) -> str:
    """``text`` as XML: in a CDATA section, or escaped, non-ASCII characters as references
    in every other one."""
    if cdata and "]]>" not in text and "\r" not in text:
        return f"<![CDATA[{text}]]>"
    escaped = escape(text, quote=False).replace("\r", "&#13;")
    if len(text) % 2:
        escaped = "".join(c if c < "\x80" else f"&#{ord(c)};" for c in escaped)
    return escaped


@st.composite
def rss_item(draw: st.DrawFn) -> str:
    fields = {
        "title": lambda: f"<title>{_xml_text(draw(TEXT), draw(st.booleans()))}</title>",
        "link": lambda: f"<link>{escape(draw(URLS))}</link>",
        "guid": lambda: "<guid{}>{}</guid>".format(
            draw(st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"'])),
            escape(draw(st.one_of(URLS, TEXT))),
        ),
        "description": lambda: (
            f"<description>{_xml_text(draw(TEXT), draw(st.booleans()))}</description>"
        ),
        "content": lambda: (
            f"<content:encoded>{_xml_text(draw(TEXT), draw(st.booleans()))}</content:encoded>"
        ),
        "pubDate": lambda: f"<pubDate>{escape(draw(DATES))}</pubDate>",
        "dc:date": lambda: f"<dc:date>{escape(draw(DATES))}</dc:date>",
        "category": lambda: f"<category>{escape(draw(TEXT))}</category>",
        "source": lambda: f'<source url="http://s.test/">{escape(draw(TEXT))}</source>',
    }
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    return "<item>" + "".join(fields[name]() for name in chosen) + "</item>"


@st.composite
def atom_entry(draw: st.DrawFn) -> str:
    text_type = st.sampled_from(["", ' type="text"', ' type="html"'])
    fields = {
        "title": lambda: f"<title{draw(text_type)}>{_xml_text(draw(TEXT), False)}</title>",
        "id": lambda: f"<id>{escape(draw(st.one_of(URLS, TEXT)))}</id>",
        "link": lambda: "".join(
            '<link href="{}"{}{}/>'.format(
                escape(draw(URLS)),
                draw(st.sampled_from(["", ' rel="alternate"', ' rel="self"', ' rel="related"'])),
                draw(st.sampled_from(["", ' type="text/html"', ' type="application/pdf"'])),
            )
            for _ in range(draw(st.integers(1, 3)))
        ),
        "summary": lambda: f"<summary{draw(text_type)}>{_xml_text(draw(TEXT), False)}</summary>",
        "content": lambda: f"<content{draw(text_type)}>{_xml_text(draw(TEXT), False)}</content>",
        "published": lambda: f"<published>{escape(draw(DATES))}</published>",
        "updated": lambda: f"<updated>{escape(draw(DATES))}</updated>",
    }
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    return "<entry>" + "".join(fields[name]() for name in chosen) + "</entry>"


GENERATED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@GENERATED
@given(st.lists(rss_item(), max_size=6), TEXT, st.booleans(), st.booleans())
def test_generated_rss_reads_alike(
    items: list[str], title: str, title_last: bool, image: bool
) -> None:
    """Entries, and the feed's title before or after them, after an image's title or not."""
    title_element = f"<title>{_xml_text(title, False)}</title>"
    head = RSS_HEAD.replace("<title>Tricky</title>", "" if title_last else title_element)
    if image:
        head += "<image><url>http://x.test/i.png</url><title>Image</title><link>/</link></image>"
    body = rss_items("".join(items) + (title_element if title_last else ""), head)
    assert_same(body)


@st.composite
def rdf_item(draw: st.DrawFn) -> str:
    fields = {
        "title": lambda: f"<title>{_xml_text(draw(TEXT), draw(st.booleans()))}</title>",
        "link": lambda: f"<link>{escape(draw(URLS))}</link>",
        "description": lambda: f"<description>{_xml_text(draw(TEXT), False)}</description>",
        "dc:date": lambda: f"<dc:date>{escape(draw(DATES))}</dc:date>",
        "dc:creator": lambda: f"<dc:creator>{escape(draw(TEXT))}</dc:creator>",
    }
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    about = draw(st.sampled_from(["", ' rdf:about="http://x.test/r"', ' rdf:about=" r "']))
    return f"<item{about}>" + "".join(fields[name]() for name in chosen) + "</item>"


@GENERATED
@given(st.lists(rdf_item(), max_size=6))
def test_generated_rdf_reads_alike(items: list[str]) -> None:
    body = (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="http://x.test/"><title>RDF</title><link>http://x.test/</link>'
        '<items><rdf:Seq><rdf:li rdf:resource="http://x.test/r"/></rdf:Seq></items></channel>'
        f"{''.join(items)}</rdf:RDF>"
    )
    assert_same(body.encode())


@GENERATED
@given(st.lists(atom_entry(), max_size=6))
def test_generated_atom_reads_alike(entries: list[str]) -> None:
    assert_same(atom_entries("".join(entries)))


def test_big_feeds_with_few_entries_read_alike() -> None:
    """fastfeedparser reads a large feed with few items, one naming a <meta> tag, its
    slower way (lxml), with its large CDATA sections cut out and put back."""
    text = '<meta charset="utf-8">' + "".join(f"<p>{p}</p>" for p in seed_paragraphs()) * 20
    items = [Item(f"Story {n}", f"http://x.test/{n}", f"g{n}", text, text) for n in range(3)]
    assert len(rss(items)) > 20_000  # its threshold
    assert_same(rss(items))
    assert_same(atom(items))


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), URLS.map(lambda u: "http:" + "/" * len(u) + u)))
def test_resolving_matches_feedparsers_urljoin(uri: str) -> None:
    assert fastparse._resolve(uri) == _urljoin("", uri)
