"""``monitor feeds add | import | export``: real pages on 127.0.0.1, real config files.

Every edit is checked against the whole file: the text after it is the text before
with only the new lines inserted, and the result passes ``monitor check``.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app import App
from monitor.cli import main
from monitor.config import load_config
from monitor.discover import FeedLink, feed_links, read_feed
from monitor.errors import ParseError
from monitor.feedsfile import EditError, NewFeed, with_feeds
from monitor.fetch import fetch_page as fetch_page_async
from monitor.fetch import make_client
from monitor.opml import OpmlError, OpmlFeed, build_opml, parse_opml
from tests.conftest import FakeClock, write_config
from tests.support.feeds import Item, atom, rss
from tests.support.hostile import MIB, Sent, endless, peak_memory
from tests.support.polling import poll_due
from tests.support.server import FeedServer

Capture = pytest.CaptureFixture[str]
HTML = "text/html; charset=utf-8"
SLACK_SECRET = "https://hooks.slack.com/services/T0/B0/not-to-be-seen-1234"
HOOK_SECRET = "s3cret-signing-key-not-to-be-seen"

# A hand-written file: comments, blank lines, its own indentation, quoting and alignment.
LAYOUT = """\
# feed-monitor, as its operator wrote it

database: sqlite:///monitor.db        # next to this file
block_private_addresses: false

defaults:
  interval: 5m
  timeout: 5s

feeds:
  - url: https://example.org/world/rss.xml
    name: Example World               # keep this comment
    # interval: 1m   (off for now)

  # the rules follow
rules:
- name: emergency
  any: ["state of emergency", 'martial law']     # quoting kept
notifiers:
  ops-slack: {type: slack, url: "${SLACK_WEBHOOK_URL}"}
  ingest:    {type: webhook, url: "https://hooks.example.org/monitor", secret: "${WEBHOOK_SECRET}"}
  stdout:    {type: console}
"""


def page(*links: tuple[str, str], title: str = "A page", filler: bytes = b"") -> bytes:
    """An HTML page whose head names ``(type, href)`` feeds."""
    tags = "".join(f'<link rel="alternate" type="{t}" href="{h}" title="T {h}">' for t, h in links)
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>{tags}</head><body><p>News</p>"
    ).encode() + filler


def inserted(before: str, after: str) -> list[str]:
    """The lines ``after`` adds to ``before``; fails if anything else changed."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    ops = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    assert [op for op in ops if op[0] not in ("equal", "insert")] == []
    return [line for op in ops if op[0] == "insert" for line in new[op[3] : op[4]]]


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", SLACK_SECRET)
    monkeypatch.setenv("WEBHOOK_SECRET", HOOK_SECRET)


@pytest.fixture
def layout(tmp_path: Path, secrets: None) -> Path:
    return write_config(tmp_path / "config.yaml", LAYOUT)


# feeds add


def test_page_with_a_relative_feed_link_adds_the_resolved_feed_and_keeps_the_layout(
    layout: Path, server: FeedServer, capsys: Capture
) -> None:
    server.route(
        "/news/index.html", body=page(("application/rss+xml", "../rss/wire.xml")), content_type=HTML
    )
    server.route("/rss/wire.xml", body=rss([Item(title="Curfew", guid="1")], title="The Wire"))

    code = main(["feeds", "add", server.url("/news/index.html"), "-c", str(layout)])

    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    feed = server.url("/rss/wire.xml")
    assert out == f'added "The Wire" {feed} (found on {server.url("/news/index.html")})\n'
    after = layout.read_text()
    assert inserted(LAYOUT, after) == [f"  - url: {feed}\n"]
    assert after.index(feed) > after.index("# interval: 1m") > 0
    assert after.index(feed) < after.index("  # the rules follow")
    assert [f.url for f in load_config(layout).config.feeds][-1] == feed
    assert main(["check", "-c", str(layout)]) == 0


def test_secrets_stay_references_in_the_file_and_out_of_the_output(
    layout: Path, server: FeedServer, capsys: Capture
) -> None:
    server.route("/feed.xml", body=rss([Item(title="a", guid="1")]))

    assert main(["feeds", "add", server.url("/feed.xml"), "-c", str(layout)]) == 0
    assert main(["check", "-c", str(layout)]) == 0

    text = layout.read_text()
    assert 'url: "${SLACK_WEBHOOK_URL}"}' in text and 'secret: "${WEBHOOK_SECRET}"}' in text
    out, err = capsys.readouterr()
    for secret in (SLACK_SECRET, HOOK_SECRET):
        assert secret not in text + out + err


def test_a_direct_feed_url_is_added_with_name_interval_and_rules(
    layout: Path, server: FeedServer, capsys: Capture
) -> None:
    server.route(
        "/all.atom", body=atom([Item(title="a", guid="1")]), content_type="application/atom+xml"
    )
    url = server.url("/all.atom")
    argv = [
        "feeds",
        "add",
        url,
        "--name",
        "Wire: world",
        "--interval",
        "2m",
        "--rules",
        "emergency",
        "-c",
        str(layout),
    ]

    assert main(argv) == 0

    assert capsys.readouterr().out == f'added "Wire: world" {url}\n'
    assert inserted(LAYOUT, layout.read_text()) == [
        f"  - url: {url}\n",
        "    name: 'Wire: world'\n",
        "    interval: 2m\n",
        "    rules: [emergency]\n",
    ]
    feed = load_config(layout).config.feeds[-1]
    assert (feed.name, feed.interval, feed.rules) == ("Wire: world", 120.0, ["emergency"])


def test_a_name_is_written_literally_never_as_an_environment_reference(
    tmp_path: Path, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME_SECRET", "leaked")
    config = write_config(tmp_path / "config.yaml", "feeds: []\n")
    server.route("/feed.xml", body=rss([Item(title="a", guid="1")]))

    assert (
        main(
            [
                "feeds",
                "add",
                server.url("/feed.xml"),
                "--name",
                "Cost ${HOME_SECRET}",
                "-c",
                str(config),
            ]
        )
        == 0
    )

    assert "name: Cost $${HOME_SECRET}\n" in config.read_text()
    assert load_config(config).config.feeds[0].name == "Cost ${HOME_SECRET}"


def test_a_page_without_a_feed_exits_1_and_leaves_the_file_alone(
    layout: Path, server: FeedServer, capsys: Capture
) -> None:
    server.route("/plain.html", body=page(("text/css", "/style.css")), content_type=HTML)
    server.route("/notes.txt", body=b"just some text", content_type="text/plain")
    before = layout.read_bytes()

    assert main(["feeds", "add", server.url("/plain.html"), "-c", str(layout)]) == 1
    err = capsys.readouterr().err
    assert (
        err == f"monitor: no feed at {server.url('/plain.html')}: the page names none"
        " (no <link rel=alternate>)\n"
    )
    assert main(["feeds", "add", server.url("/notes.txt"), "-c", str(layout)]) == 1
    assert main(["feeds", "add", server.url("/gone.html"), "-c", str(layout)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"monitor: no feed at {server.url('/notes.txt')}: not a feed")
    assert err[1] == f"monitor: cannot fetch {server.url('/gone.html')}: HTTP 404 Not Found"
    assert layout.read_bytes() == before


def test_a_page_naming_something_that_is_not_a_feed_exits_1(
    layout: Path, server: FeedServer, capsys: Capture
) -> None:
    server.route("/p.html", body=page(("application/rss+xml", "/fake.xml")), content_type=HTML)
    server.route("/fake.xml", body=b"<html><body>oops</body></html>", content_type=HTML)
    before = layout.read_bytes()

    assert main(["feeds", "add", server.url("/p.html"), "-c", str(layout)]) == 1

    err = capsys.readouterr().err
    assert err.startswith(f"monitor: {server.url('/fake.xml')}, named by {server.url('/p.html')}")
    assert "an HTML page, not a feed" in err and err.count("\n") == 1
    assert layout.read_bytes() == before


def test_an_already_configured_feed_exits_2_naming_the_entry(
    tmp_path: Path, server: FeedServer, capsys: Capture
) -> None:
    feed = server.url("/feed.xml")
    server.route("/feed.xml", body=rss([Item(title="a", guid="1")]))
    server.route(
        "/p.html",
        body=page(("application/rss+xml", "/feed.xml"), ("application/atom+xml", "/other.atom")),
        content_type=HTML,
    )
    text = f"feeds:\n  - url: https://a.example/x.xml\n  - url: {feed}   \n    name: Mine\n"
    config = write_config(tmp_path / "config.yaml", text)

    assert main(["feeds", "add", f" {feed} ", "-c", str(config)]) == 2
    assert server.seen("/feed.xml") == []  # refused before anything is fetched
    assert main(["feeds", "add", server.url("/p.html"), "-c", str(config)]) == 2

    out, err = capsys.readouterr()
    refusal = (
        f'monitor: {feed} is already configured: feeds[1] "Mine" at {config}:3; nothing written'
    )
    assert err.splitlines() == [refusal, refusal]
    assert server.url("/other.atom") in out  # the page's other feed, to choose instead
    assert config.read_text() == text


def test_a_rule_that_does_not_exist_exits_2_and_writes_nothing(
    layout: Path, server: FeedServer, capsys: Capture
) -> None:
    server.route("/feed.xml", body=rss([Item(title="a", guid="1")]))
    before = layout.read_bytes()

    assert (
        main(["feeds", "add", server.url("/feed.xml"), "--rules", "nope", "-c", str(layout)]) == 2
    )
    assert (
        main(["feeds", "add", server.url("/feed.xml"), "--interval", "soon", "-c", str(layout)])
        == 2
    )
    assert main(["feeds", "add", "example.org/feed", "-c", str(layout)]) == 2

    err = capsys.readouterr().err.splitlines()
    assert (
        err[0] == f"{layout}: not changed: with the new feeds the configuration would not be valid:"
    )
    assert err[1] == f"{layout}:15: feeds[1].rules[0]: no rule named 'nope'"
    assert err[2].startswith("monitor: --interval: invalid duration 'soon'")
    assert (
        err[3] == "monitor: 'example.org/feed' is not an http:// or https:// URL"
        " (did you mean https://example.org/feed?)"
    )
    assert layout.read_bytes() == before


def test_block_private_addresses_refuses_a_loopback_page(
    tmp_path: Path, server: FeedServer, capsys: Capture
) -> None:
    server.route("/feed.xml", body=rss([Item(title="a", guid="1")]))
    text = "block_private_addresses: true\nfeeds: []\n"
    config = write_config(tmp_path / "config.yaml", text)

    assert main(["feeds", "add", server.url("/feed.xml"), "-c", str(config)]) == 1

    assert capsys.readouterr().err == (
        f"monitor: cannot fetch {server.url('/feed.xml')}: "
        "refused by block_private_addresses: 127.0.0.1 is a loopback address\n"
    )
    assert server.requests == []
    assert config.read_text() == text


def test_an_oversized_page_is_cut_and_its_head_still_read(
    tmp_path: Path, server: FeedServer, capsys: Capture
) -> None:
    big = page(("application/atom+xml", "/a.atom"), filler=b"<p>x</p>" * (2 * MIB))  # 16 MiB
    server.route("/big.html", body=big, content_type=HTML)
    server.route(
        "/a.atom", body=atom([Item(title="a", guid="1")]), content_type="application/atom+xml"
    )
    config = write_config(tmp_path / "config.yaml", "")

    assert main(["feeds", "add", server.url("/big.html"), "-c", str(config)]) == 0

    assert capsys.readouterr().out.startswith(f'added "Test Atom News" {server.url("/a.atom")}')
    assert config.read_text() == f"feeds:\n  - url: {server.url('/a.atom')}\n"


def test_the_page_body_is_cut_at_the_cap(server: FeedServer) -> None:
    server.route("/big.html", body=b"<p>" + b"y" * 5000, content_type=HTML)

    async def fetch() -> tuple[int, bool]:
        async with make_client() as client:
            got = await fetch_page_async(client, server.url("/big.html"), 5.0, max_bytes=1000)
            return len(got.body), got.truncated

    assert asyncio.run(fetch()) == (1000, True)


def test_a_feed_over_the_size_cap_is_refused(
    tmp_path: Path, server: FeedServer, capsys: Capture
) -> None:
    sent = Sent()
    server.route("/huge.xml", handler=endless(sent))  # 1 GiB, declared
    config = write_config(tmp_path / "config.yaml", "feeds: []\n")

    assert main(["feeds", "add", server.url("/huge.xml"), "-c", str(config)]) == 1
    sent.stop.set()

    err = capsys.readouterr().err
    assert (
        err
        == f"monitor: no feed at {server.url('/huge.xml')}: over 10 MiB, more than a poll reads\n"
    )
    assert sent.bytes < 100 * MIB  # the client hung up after 10 MiB
    assert config.read_text() == "feeds: []\n"


def test_a_slow_page_times_out_after_the_configured_timeout(
    tmp_path: Path, server: FeedServer, capsys: Capture
) -> None:
    server.route("/slow.xml", body=rss([]), delay=3.0)
    config = write_config(tmp_path / "config.yaml", "defaults:\n  timeout: 1s\n")

    assert main(["feeds", "add", server.url("/slow.xml"), "-c", str(config)]) == 1

    assert capsys.readouterr().err.endswith(": timed out after 1s\n")
    assert config.read_text() == "defaults:\n  timeout: 1s\n"


def test_the_file_keeps_its_mode_and_the_table_still_shows(
    tmp_path: Path, server: FeedServer, capsys: Capture
) -> None:
    server.route("/feed.xml", body=rss([Item(title="a", guid="1")], title="Wire"))
    config = write_config(tmp_path / "config.yaml", "feeds: []\n")
    config.chmod(0o640)

    assert main(["feeds", "add", server.url("/feed.xml"), "-c", str(config)]) == 0
    assert main(["feeds", "-c", str(config)]) == 0

    assert config.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert capsys.readouterr().out.splitlines()[1].startswith("NAME")


# The splice itself: each layout of ``feeds:`` and where the new item goes.

NEW = [NewFeed("https://n.example/feed.xml", name="yes")]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "feeds:\n  - url: https://n.example/feed.xml\n    name: 'yes'\n"),
        (
            "# only a comment",
            "# only a comment\nfeeds:\n  - url: https://n.example/feed.xml\n    name: 'yes'\n",
        ),
        (
            "rules:\n    - {name: a, any: [x]}\n",
            "rules:\n    - {name: a, any: [x]}\nfeeds:\n    - url: https://n.example/feed.xml\n"
            "      name: 'yes'\n",
        ),
        (
            "feeds: []\nrules: []\n",
            "feeds:\n  - url: https://n.example/feed.xml\n    name: 'yes'\nrules: []\n",
        ),
        (
            "feeds: []  # none yet\n",
            "feeds:  # none yet\n  - url: https://n.example/feed.xml\n    name: 'yes'\n",
        ),
        (
            "feeds:\n# later\nrules: []\n",
            "feeds:\n  - url: https://n.example/feed.xml\n    name: 'yes'\n# later\nrules: []\n",
        ),
        (
            "feeds:\n- url: https://a.example/\n  note: |\n    text\n\n# end\n",
            "feeds:\n- url: https://a.example/\n  note: |\n    text\n\n"
            "- url: https://n.example/feed.xml\n  name: 'yes'\n# end\n",
        ),
        (
            "feeds:\r\n  - url: https://a.example/\r\nrules: []\r\n",
            "feeds:\r\n  - url: https://a.example/\r\n  - url: https://n.example/feed.xml\r\n"
            "    name: 'yes'\r\nrules: []\r\n",
        ),
        (
            "feeds:\n  - url: https://a.example/",
            "feeds:\n  - url: https://a.example/\n  - url: https://n.example/feed.xml\n"
            "    name: 'yes'\n",
        ),
        (
            "feeds: [{url: 'https://a.example/'}]\n",
            "feeds: [{url: 'https://a.example/'}, "
            "{url: https://n.example/feed.xml, name: 'yes'}]\n",
        ),
    ],
    ids=[
        "empty",
        "comment-only",
        "no-key",
        "flow-empty",
        "flow-empty-comment",
        "null",
        "indentless-block-scalar",
        "crlf",
        "no-final-newline",
        "flow-items",
    ],
)
def test_new_items_are_spliced_in_place(before: str, after: str) -> None:
    assert with_feeds(before, NEW) == after


def test_a_layout_that_cannot_be_extended_in_place_is_refused() -> None:
    with pytest.raises(EditError, match="not a block mapping"):
        with_feeds("{feeds: []}\n", NEW)
    with pytest.raises(EditError, match="add them by hand"):
        with_feeds("rules: []\n...\n", NEW)  # "feeds:" would start a second document


# Discovery: which links count, in which order.


def test_feed_links_resolve_against_base_and_put_rss_and_atom_first() -> None:
    html = (
        '<html><head><base href="/sub/">'
        '<link rel="alternate" type="application/feed+json" href="feed.json">'
        '<link rel="Alternate nofollow" type="application/RSS+xml; charset=utf-8" href="a.xml"'
        ' title=" Main \n feed ">'
        '<link rel="alternate" type="application/atom+xml" href="javascript:alert(1)">'
        '<link rel="stylesheet" type="application/rss+xml" href="not-alternate.xml">'
        '<link rel="alternate" type="application/atom+xml" href="https://cdn.example/b.atom">'
        '<link rel="alternate" type="application/rss+xml" href="a.xml">'
        '</head><body><link rel="alternate" type="application/rss+xml" href="/in-body.xml">'
        "</body></html>"
    )
    assert feed_links(html, "https://site.example/news/page.html") == [
        FeedLink("https://site.example/sub/a.xml", "RSS", "Main feed"),
        FeedLink("https://cdn.example/b.atom", "Atom"),
        FeedLink("https://site.example/sub/feed.json", "JSON Feed"),
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<!DOCTYPE html><html><body>x</body></html>", "an HTML page, not a feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "a JSON Feed"),
        (b"plain words", "not a feed"),
    ],
)
def test_bodies_that_are_not_feeds_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        read_feed(body, None, "https://x.example/")


# feeds import

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="News">
      <outline text="World">
        <outline type="rss" text="BBC" title="BBC World" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"
                 htmlUrl="https://www.bbc.co.uk/news/world"/>
        <outline type="rss" text="Example World" xmlUrl="https://www.aljazeera.com/xml/rss/all.xml"/>
      </outline>
      <outline type="rss" text="Mine already" xmlUrl="https://example.org/world/rss.xml"/>
    </outline>
    <outline title="Tech">
      <outline type="rss" text="Cost in ${SLACK_WEBHOOK_URL}" xmlUrl="https://tech.example/feed?a=1&amp;b=${HOME}"/>
      <outline type="link" text="A bookmark" url="https://example.com/"/>
      <outline type="rss" text="Gopher" xmlUrl="gopher://old.example/feed"/>
      <outline type="rss" text="Again" xmlUrl="https://www.aljazeera.com/xml/rss/all.xml"/>
    </outline>
  </body>
</opml>
"""


def test_import_adds_nested_feeds_in_one_write_and_reports_the_rest(
    layout: Path, tmp_path: Path, capsys: Capture
) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)

    assert main(["feeds", "import", str(opml), "-c", str(layout)]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        "3 added, 1 already configured, 3 skipped (1 no xmlUrl, "
        "1 not an http:// or https:// URL, 1 listed twice)"
    )
    assert "skipped gopher://old.example/feed: not an http:// or https:// URL" in out
    assert "skipped A bookmark: no xmlUrl" in out
    assert inserted(LAYOUT, layout.read_text()) == [
        "  # News / World\n",
        "  - url: https://feeds.bbci.co.uk/news/world/rss.xml\n",
        "    name: BBC World\n",
        "  - url: https://www.aljazeera.com/xml/rss/all.xml\n",
        "    name: Example World (World)\n",  # "Example World" is taken
        "  # Tech\n",
        "  - url: https://tech.example/feed?a=1&b=$${HOME}\n",
        "    name: Cost in $${SLACK_WEBHOOK_URL}\n",
    ]
    feeds = load_config(layout).config.feeds
    assert (feeds[-1].url, feeds[-1].name) == (
        "https://tech.example/feed?a=1&b=${HOME}",
        "Cost in ${SLACK_WEBHOOK_URL}",
    )
    assert main(["check", "-c", str(layout)]) == 0


def test_import_dry_run_writes_nothing(layout: Path, tmp_path: Path, capsys: Capture) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)

    assert main(["feeds", "import", str(opml), "--dry-run", "-c", str(layout)]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'would add "BBC World" https://feeds.bbci.co.uk/news/world/rss.xml'
    assert out[-1].startswith("3 to add, 1 already configured, 3 skipped")
    assert out[-1].endswith(" - dry run, nothing written")
    assert layout.read_text() == LAYOUT


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE opml [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<opml version="2.0"><head><title>&lol9;</title></head>'
    b'<body><outline text="&lol9;" xmlUrl="https://x.example/&lol9;"/></body></opml>\n'
)
EXTERNAL = (
    b'<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<opml version="2.0"><body><outline text="&xxe;" xmlUrl="https://x.example/"/></body></opml>'
)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (BILLION_LAUGHS, "it declares the XML entity 'lol' (refused)"),
        (EXTERNAL, "it declares the XML entity 'xxe' (refused)"),
        (b"no xml at all", "not well-formed XML: syntax error: line 1, column 0"),
        (b'<rss version="2.0"><channel/></rss>', "the document is <rss>, not <opml>"),
        (b'<opml version="1.0"><head/></opml>', "it has no <body>"),
    ],
    ids=["billion-laughs", "external-entity", "not-xml", "not-opml", "no-body"],
)
def test_an_unreadable_opml_file_exits_2_naming_file_and_reason(
    tmp_path: Path, capsys: Capture, data: bytes, reason: str
) -> None:
    config = write_config(tmp_path / "config.yaml", "feeds: []\n")
    opml = tmp_path / "bad.opml"
    opml.write_bytes(data)

    with peak_memory() as peak:
        code = main(["feeds", "import", str(opml), "-c", str(config)])

    assert code == 2
    assert capsys.readouterr().err == f"monitor: {opml}: not a readable OPML file: {reason}\n"
    assert peak.traced < 20 * MIB and peak.rss_growth < 64 * MIB  # 10**9 "lol"s never built
    assert config.read_text() == "feeds: []\n"


def test_a_missing_opml_file_exits_2(tmp_path: Path, capsys: Capture) -> None:
    config = write_config(tmp_path / "config.yaml", "")
    assert main(["feeds", "import", str(tmp_path / "none.opml"), "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert err == f"monitor: cannot read {tmp_path / 'none.opml'}: No such file or directory\n"


def test_deeply_nested_outlines_are_read_without_recursion() -> None:
    depth = 5000
    data = (
        b'<opml version="1.0"><body>'
        + b'<outline text="c">' * depth
        + b'<outline text="Deep" xmlUrl="https://deep.example/rss"/>'
        + b"</outline>" * depth
        + b"</body></opml>"
    )
    subs = parse_opml(data)
    assert [(f.url, f.name, len(f.category)) for f in subs.feeds] == [
        ("https://deep.example/rss", "Deep", depth)
    ]
    with pytest.raises(OpmlError, match="larger than 10 MiB"):
        parse_opml(b" " * (10 * MIB + 1))


# feeds export


def test_export_then_import_into_an_empty_config_adds_every_feed(
    layout: Path, tmp_path: Path, capsys: Capture
) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)
    assert main(["feeds", "import", str(opml), "-c", str(layout)]) == 0
    capsys.readouterr()

    assert main(["feeds", "export", "-c", str(layout)]) == 0
    exported = capsys.readouterr().out
    assert exported.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    copy = tmp_path / "copy.opml"
    copy.write_text(exported, encoding="utf-8")
    empty = write_config(tmp_path / "empty.yaml", "")
    assert main(["feeds", "import", str(copy), "-c", str(empty)]) == 0

    assert capsys.readouterr().out.splitlines()[-1] == "4 added, 0 already configured, 0 skipped"
    original = [(f.url, f.name) for f in load_config(layout).config.feeds]
    assert [(f.url, f.name) for f in load_config(empty).config.feeds] == original


def test_export_names_unnamed_feeds_by_their_stored_title(
    tmp_path: Path, server: FeedServer
) -> None:
    server.route("/wire.xml", body=rss([Item(title="a", guid="1")], title="Wire Title"))
    config = write_config(
        tmp_path / "config.yaml",
        f"feeds:\n  - url: {server.url('/wire.xml')}\n  - url: https://named.example/rss\n"
        "    name: Named\n  - url: https://never.example/rss\n",
    )
    app = App.open(load_config(config, env={}), clock=FakeClock(datetime.now(UTC)))
    app.sync_feeds()
    poll_due(app, every_feed=True)
    app.close()
    out = tmp_path / "out.opml"

    assert main(["feeds", "export", "-o", str(out), "-c", str(config)]) == 0

    subs = parse_opml(out.read_bytes())
    assert [(f.url, f.name) for f in subs.feeds] == [
        (server.url("/wire.xml"), "Wire Title"),
        ("https://named.example/rss", "Named"),
        ("https://never.example/rss", None),  # exported with its URL as text
    ]


def test_build_opml_escapes_and_drops_what_xml_cannot_hold() -> None:
    feeds = [OpmlFeed("https://a.example/?x=1&y=2", 'Q&A <"news">\x01', html_url="https://a.ex/")]
    data = build_opml(feeds, "t", datetime(2026, 11, 24, 8, tzinfo=UTC))
    assert b'text="Q&amp;A &lt;&quot;news&quot;&gt;"' in data
    assert b"<dateCreated>Tue, 24 Nov 2026 08:00:00 GMT</dateCreated>" in data
    assert parse_opml(data).feeds == (
        OpmlFeed("https://a.example/?x=1&y=2", 'Q&A <"news">', html_url="https://a.ex/"),
    )


@pytest.mark.slow
def test_export_as_a_process_writes_utf8_to_stdout(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.yaml",
        "database: sqlite:///m.db\nfeeds:\n  - url: https://a.example/rss\n    name: Ünïcode ✓\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"} | {"LC_ALL": "C"}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "feeds", "export", "-c", str(config)],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert 'text="Ünïcode ✓"'.encode() in done.stdout


FEED_PASS, FEED_TOKEN, LITERAL_PASS, LITERAL_KEY = "hunter2", "tok123", "pl4in-pw", "k3y-lit"
SECRET_FEEDS = f"""\
database: sqlite:///monitor.db
feeds:
  - url: "https://reader:${{FEED_PASS}}@example.test/feed.xml?token=${{FEED_TOKEN}}"
  - url: "https://bob:{LITERAL_PASS}@plain.example/rss?api_key={LITERAL_KEY}&lang=en"
  - url: "https://mixed.example/rss?token=${{FEED_TOKEN}}&key={LITERAL_KEY}"
    name: Mixed
  - url: "https://default.example/rss?token=${{UNSET_TOKEN:-{LITERAL_KEY}}}"
  - url: https://open.example/rss?page=2
"""
SECRET_WORDS = (FEED_PASS, FEED_TOKEN, LITERAL_PASS, LITERAL_KEY)


@pytest.fixture
def secret_feeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FEED_PASS", FEED_PASS)
    monkeypatch.setenv("FEED_TOKEN", FEED_TOKEN)
    monkeypatch.delenv("UNSET_TOKEN", raising=False)
    return write_config(tmp_path / "config.yaml", SECRET_FEEDS)


def test_export_keeps_variable_references_and_hides_every_secret(
    secret_feeds: Path, tmp_path: Path, capsys: Capture
) -> None:
    assert main(["feeds", "export", "-c", str(secret_feeds)]) == 0
    to_stdout, err = capsys.readouterr()
    out = tmp_path / "feeds.opml"
    assert main(["feeds", "export", "-o", str(out), "-c", str(secret_feeds)]) == 0
    exported = out.read_text(encoding="utf-8")

    assert [(f.url, f.name) for f in parse_opml(out.read_bytes()).feeds] == [
        ("https://reader:${FEED_PASS}@example.test/feed.xml?token=${FEED_TOKEN}", None),
        ("https://bob:***@plain.example/rss?api_key=***&lang=en", None),
        ("https://mixed.example/rss?key=***&token=***", "Mixed"),  # one secret written out
        ("https://default.example/rss?token=***", None),  # a default is written out too
        ("https://open.example/rss?page=2", None),
    ]
    for text in (exported, to_stdout, err + capsys.readouterr().err):
        assert not [word for word in SECRET_WORDS if word in text]
    assert exported.count('"https://reader:${FEED_PASS}@') == 3  # xmlUrl, text and title


def test_export_creates_its_file_readable_by_its_owner_only(
    secret_feeds: Path, tmp_path: Path
) -> None:
    created, existing = tmp_path / "new.opml", tmp_path / "old.opml"
    existing.write_text("old")
    existing.chmod(0o644)
    for out in (created, existing):
        assert main(["feeds", "export", "-o", str(out), "-c", str(secret_feeds)]) == 0
    assert created.stat().st_mode & 0o777 == 0o600
    assert existing.stat().st_mode & 0o777 == 0o644  # a file that was there keeps its mode
    assert parse_opml(existing.read_bytes()).feeds


def test_an_export_imported_again_finds_its_variable_feed_configured(
    secret_feeds: Path, tmp_path: Path, capsys: Capture
) -> None:
    out = tmp_path / "feeds.opml"
    assert main(["feeds", "export", "-o", str(out), "-c", str(secret_feeds)]) == 0
    capsys.readouterr()

    assert main(["feeds", "import", str(out), "--dry-run", "-c", str(secret_feeds)]) == 0

    lines = capsys.readouterr().out.splitlines()
    added = [line for line in lines if line.startswith("would add")]
    assert len(added) == 3 and not [line for line in added if "${FEED_PASS}" in line]
    assert lines[-1].startswith("3 to add, 2 already configured")  # the hidden ones differ
