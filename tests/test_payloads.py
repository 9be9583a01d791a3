"""What reaches a webhook, Slack and the console, for ordinary and hostile alerts.

Slack messages are checked three ways: every block loads with slack_sdk's ``Block.parse`` and
survives the SDK's own validation (``to_dict`` validates) unchanged; our explicit checks of
Slack's limits, counted in UTF-16 units; and escaping, so no ``<`` or ``&`` from a feed reaches
the mrkdwn except in the links we build.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from monitor.models import Alert, Source
from monitor.notify.payloads import (
    console_line,
    encode_json,
    slack_digest,
    slack_digest_batches,
    slack_message,
    webhook_body,
)

DETECTED = datetime(2026, 11, 24, 8, 1, 12, 345678, tzinfo=UTC)
PUBLISHED = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
SNIPPET = "Officials declared a state of emergency on Monday."
LINK = re.compile(r"<(https?://[^|<>\s]+)\|([^<>]*)>")
BAD_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")

HOSTILE = {
    "long": "A" * 10_000,
    "ampersands": "&" * 10_000,
    "markup": "<script>alert(1)</script> *bold* _it_ ~strike~ `code` ```block``` > quote",
    "mentions": "<!channel> <!here> <!everyone> <@U024BE7LH> <#C024BE7LR|general> @channel",
    "link": "<https://evil.example/|click me> <mailto:x@evil.example>",
    "emoji": "👨‍👩‍👧‍👦" * 3000,
    "flags": "🇺🇦" * 5000,
    "combining": "e\u0301" * 6000,
    "rtl": "\u202eשלום עולם مرحبا بالعالم " * 500,
    "control": "line one\nline two\r\n\tline three\x00\x1b[31m\x85\u2028end",
    "surrogate": "broken \ud800 text",
    "empty": "",
    "blank": " \n\t ",
}


def make_alert(n: int = 0, **changes: Any) -> Alert:
    """An ordinary alert; ``changes`` replace fields. Highlights follow the snippet's match."""
    snippet = changes.get("snippet", SNIPPET)
    start = snippet.find("state of emergency")
    fields: dict[str, Any] = {
        "id": f"alert-{n}",
        "rule": "emergency",
        "matched": ("state of emergency",),
        "title": f"Story number {n}",
        "url": f"https://example.org/news/{n}?a=1&b=2",
        "published": PUBLISHED,
        "summary": "plain text",
        "snippet": snippet,
        "feed_name": "Example World",
        "feed_url": "https://example.org/world/rss.xml",
        "detected_at": DETECTED,
        "highlights": ((start, start + 18),) if start >= 0 else (),
    }
    fields.update(changes)
    return Alert(**fields)


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def text_objects(block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "text" in block:
        yield block["text"]
    yield from block.get("elements", [])


def check_mrkdwn(text: str) -> None:
    """Only our own links may hold ``<``/``>``; every ``&`` starts an escape."""
    assert not BAD_AMPERSAND.search(text), text[:200]
    outside = LINK.sub("", text)
    assert "<" not in outside and ">" not in outside, outside[:200]


def check_block(block: dict[str, Any]) -> None:
    parsed = Block.parse(block)
    assert parsed is not None, block["type"]
    assert parsed.to_dict() == block  # to_dict runs the SDK's validators
    if block["type"] == "header":
        assert block["text"]["type"] == "plain_text"
        assert 0 < units(block["text"]["text"]) <= 150
    if block["type"] == "context":
        assert 0 < len(block["elements"]) <= 10
    for obj in text_objects(block):
        assert 0 < units(obj["text"]) <= 3000
        assert obj["text"].strip() == obj["text"] or block["type"] == "header"
        if obj["type"] == "mrkdwn":
            assert obj["verbatim"] is True
            check_mrkdwn(obj["text"])


def check_message(message: dict[str, Any]) -> None:
    """Within Slack's limits, valid for the SDK, escaped, and encodable."""
    assert 0 < len(message["blocks"]) <= 50
    assert 0 < units(message["text"]) <= 3000
    check_mrkdwn(message["text"])
    assert "<" not in message["text"]
    for block in message["blocks"]:
        check_block(block)
    json.loads(encode_json(message).decode("utf-8"))


def links(message: dict[str, Any]) -> list[tuple[str, str]]:
    texts = [obj["text"] for b in message["blocks"] for obj in text_objects(b)]
    return [m.groups() for t in texts for m in LINK.finditer(t)]


def snippet_text(message: dict[str, Any]) -> str:
    blocks = message["blocks"]
    assert len(blocks) == 3
    return str(blocks[2]["text"]["text"])


# --- webhook -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        (PUBLISHED, "2026-11-24T08:00:00Z"),
        (None, None),
        (
            datetime(2026, 11, 24, 10, 0, 5, 999999, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-24T08:00:05Z",
        ),
    ],
    ids=["utc", "none", "offset"],
)
def test_webhook_body(published: datetime | None, expected: str | None) -> None:
    alert = make_alert(7, published=published, title='Café <b> & "quotes"\n')
    assert webhook_body(alert) == {
        "type": "alert",
        "id": "alert-7",
        "rule": "emergency",
        "matched": ["state of emergency"],
        "entry": {
            "title": 'Café <b> & "quotes"\n',
            "url": "https://example.org/news/7?a=1&b=2",
            "published": expected,
            "summary": "plain text",
            "snippet": SNIPPET,
        },
        "feed": {"name": "Example World", "url": "https://example.org/world/rss.xml"},
        "detected_at": "2026-11-24T08:01:12Z",
        "sources": [
            {
                "feed": {"name": "Example World", "url": "https://example.org/world/rss.xml"},
                "url": "https://example.org/news/7?a=1&b=2",
                "title": 'Café <b> & "quotes"\n',
            }
        ],
    }


def test_webhook_body_without_url_is_null() -> None:
    assert webhook_body(make_alert(url=None))["entry"]["url"] is None


OTHERS = (
    Source("Wire", "https://wire.example/rss", "https://wire.example/a/1", "Clashes in Almaty"),
    Source("Paper <b>", "https://paper.example/rss", "javascript:alert(1)", "Unrest"),
)


def test_other_outlets_of_the_story_are_named_in_every_payload() -> None:
    own = Source("Example World", "https://example.org/world/rss.xml", "https://e.org/1", "T")
    alert = make_alert(1, sources=(own, *OTHERS))

    body = webhook_body(alert)
    message = slack_message(alert)
    line = console_line(alert)

    assert [s["feed"]["name"] for s in body["sources"]] == ["Example World", "Wire", "Paper <b>"]
    assert body["sources"][1]["url"] == "https://wire.example/a/1"
    context = " ".join(e["text"] for e in message["blocks"][1]["elements"])
    assert "*Also reported by:* <https://wire.example/a/1|Wire>, Paper &lt;b&gt;" in context
    assert "javascript" not in json.dumps(message)
    assert line.endswith(" | also: Wire, Paper <b>")


def test_a_story_told_by_one_outlet_names_no_others() -> None:
    alert = make_alert(2)
    assert "Also reported" not in json.dumps(slack_message(alert))
    assert "also:" not in console_line(alert)


@pytest.mark.parametrize(
    ("obj", "encoded"),
    [
        ({"a": [1, 2], "b": None}, b'{"a":[1,2],"b":null}'),
        ({"é": "ü 🚨"}, '{"é":"ü 🚨"}'.encode()),
        ({"s": "bad \ud800"}, b'{"s":"bad \\ud800"}'),
    ],
)
def test_encode_json(obj: dict[str, Any], encoded: bytes) -> None:
    assert encode_json(obj) == encoded
    assert json.loads(encoded) == obj


# --- Slack: one alert --------------------------------------------------------------------------


def test_slack_message_shape() -> None:
    message = slack_message(make_alert(3, matched=("state of emergency", "martial law")))
    check_message(message)
    assert links(message) == [("https://example.org/news/3?a=1&amp;b=2", "Story number 3")]
    context = " ".join(e["text"] for e in message["blocks"][1]["elements"])
    for fact in ("emergency", "Example World", '"state of emergency", "martial law"'):
        assert fact in context
    assert snippet_text(message) == "Officials declared a *state of emergency* on Monday."
    assert "Story number 3" in message["text"] and "emergency" in message["text"]


@pytest.mark.parametrize("field", ["title", "snippet", "feed_name", "rule"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_slack_message_hostile(field: str, name: str) -> None:
    message = slack_message(make_alert(**{field: HOSTILE[name]}))
    check_message(message)
    everything = encode_json(message).decode()
    for raw in ("<!channel>", "<!here>", "<@U024BE7LH>", "<script>", "<https://evil"):
        assert raw not in everything


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("A & B <C>", "A &amp; B &lt;C&gt;"),
        ("<!channel> wake up", "&lt;!channel&gt; wake up"),
        ("<https://evil.example|x>", "&lt;https://evil.example|x&gt;"),
        ("two\nlines\u202e", "two lines"),
        ("", "(untitled)"),
    ],
)
def test_title_escaped_in_link(title: str, shown: str) -> None:
    message = slack_message(make_alert(title=title))
    assert links(message) == [("https://example.org/news/0?a=1&amp;b=2", shown)]
    assert shown in message["text"]


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://example.org/a|b>c d", "https://example.org/a%7Cb%3Ec%20d"),
        ("HTTP://example.org/é", "http://example.org/%C3%A9"),
        ("javascript:alert(1)", None),
        (None, None),
        ("https://example.org/" + "x" * 5000, None),
    ],
)
def test_only_http_urls_become_links(url: str | None, target: str | None) -> None:
    message = slack_message(make_alert(url=url))
    check_message(message)
    assert [t for t, _ in links(message)] == ([target] if target else [])


@pytest.mark.parametrize(
    ("title", "unit"),
    [
        (HOSTILE["ampersands"], "&amp;"),
        (HOSTILE["emoji"], "👨‍👩‍👧‍👦"),
        (HOSTILE["flags"], "🇺🇦"),
        (HOSTILE["combining"], "e\u0301"),
        ("x" * 10_000, "x"),
    ],
)
def test_long_title_cut_between_whole_characters(title: str, unit: str) -> None:
    message = slack_message(make_alert(title=title))
    ((_, shown),) = links(message)
    assert shown.endswith("\u2026")
    kept = shown.removesuffix("\u2026")
    assert kept and kept == unit * (len(kept) // len(unit))
    assert units(kept) > 400  # cut near the cap, not far below it


@pytest.mark.parametrize(
    ("snippet", "highlights", "expected"),
    [
        ("a state of emergency now", ((2, 20),), "a *state of emergency* now"),
        ("A & B: martial law", ((7, 18),), "A &amp; B: *martial law*"),
        ("x <martial law> y", ((2, 15),), "x *&lt;martial law&gt;* y"),
        ("martial law and curfew", ((0, 11), (16, 22)), "*martial law* and *curfew*"),
        ("martial law", ((0, 7), (4, 11)), "*martial law*"),
        ("martial law", ((0, 7), (7, 11)), "*martial law*"),
        ("curfew, martial law", ((8, 19), (0, 6)), "*curfew*, *martial law*"),
        ("a curfew b", ((1, 9),), "a *curfew* b"),
        ("state of\nemergency", ((0, 18),), "*state of emergency*"),
        ("🚨 curfew", ((2, 8),), "🚨 *curfew*"),
        ("curfew", ((50, 60), (3, 3), (-5, 0)), "curfew"),
        ("curfew", (), "curfew"),
    ],
)
def test_snippet_bold_on_highlights(
    snippet: str, highlights: tuple[tuple[int, int], ...], expected: str
) -> None:
    message = slack_message(make_alert(snippet=snippet, highlights=highlights))
    check_message(message)
    assert snippet_text(message) == expected


def test_long_snippet_keeps_bold_closed() -> None:
    snippet = "x&" * 5000
    message = slack_message(make_alert(snippet=snippet, highlights=((1, 9000),)))
    check_message(message)
    text = snippet_text(message)
    assert text.startswith("x*&amp;x") and text.endswith("*\u2026")
    assert units(text) > 2900


def test_blank_snippet_has_no_block() -> None:
    message = slack_message(make_alert(snippet=" \n ", highlights=((0, 3),)))
    check_message(message)
    assert len(message["blocks"]) == 2


# --- Slack: digests ----------------------------------------------------------------------------


def varied_alerts(count: int) -> list[Alert]:
    """Ordinary alerts with a hostile one every few, including the longest that fit a link."""
    names = list(HOSTILE)
    alerts = []
    for n in range(count):
        changes: dict[str, Any] = {}
        if n % 3 == 0:
            changes["title"] = HOSTILE[names[n % len(names)]]
        if n % 5 == 0:
            changes["url"] = f"https://example.org/{n}/" + "y" * 1900
        if n % 7 == 0:
            changes["feed_name"] = HOSTILE["ampersands"]
        alerts.append(make_alert(n, **changes))
    return alerts


@pytest.mark.parametrize(("count", "most"), [(1, 1), (7, 1), (100, 5), (500, 15)])
def test_digest_batches(count: int, most: int) -> None:
    alerts = varied_alerts(count)
    batches = slack_digest_batches(alerts)
    assert [a for batch in batches for a in batch] == alerts
    assert all(batches) and len(batches) <= most
    for batch in batches:
        message = slack_digest(batch)
        check_message(message)
        header = message["blocks"][0]["text"]["text"]
        assert header == f"{len(batch)} new alert{'s' if len(batch) > 1 else ''}"
        targets = [t for t, _ in links(message)]
        assert targets == [a.url.replace("&", "&amp;") for a in batch if a.url]


@pytest.mark.parametrize("count", [1, 7, 100])
def test_ordinary_burst_is_one_digest(count: int) -> None:
    alerts = [make_alert(n) for n in range(count)]
    assert slack_digest_batches(alerts) == [alerts]
    message = slack_digest(alerts)
    check_message(message)
    assert [shown for _, shown in links(message)] == [f"Story number {n}" for n in range(count)]
    assert "emergency" in message["blocks"][1]["text"]["text"]
    assert "Example World" in message["blocks"][1]["text"]["text"]


def test_overfull_digest_stays_within_limits() -> None:
    alerts = varied_alerts(500)
    message = slack_digest(alerts)
    check_message(message)
    assert message["blocks"][-1]["type"] == "context"
    assert "more not shown" in message["blocks"][-1]["elements"][0]["text"]


def test_empty_batches() -> None:
    assert slack_digest_batches([]) == []


# --- console -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(HOSTILE))
def test_console_line_is_one_line(name: str) -> None:
    line = console_line(make_alert(title=HOSTILE[name], feed_name=HOSTILE[name]))
    assert "\n" not in line and "\r" not in line and len(line.splitlines()) == 1
    assert "\x1b" not in line and "\u202e" not in line
    line.encode("utf-8")
    assert line.startswith("2026-11-24T08:01:12Z | emergency | ")
    assert line.endswith(" | https://example.org/news/0?a=1&b=2")


def test_console_line_fields() -> None:
    assert console_line(make_alert(url=None)) == (
        "2026-11-24T08:01:12Z | emergency | Example World | Story number 0 | -"
    )


# --- property ----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    title=st.text(max_size=4000),
    snippet=st.text(max_size=4000),
    feed_name=st.text(max_size=300),
    rule=st.text(max_size=300),
    matched=st.lists(st.text(max_size=80), max_size=5).map(tuple),
    highlights=st.lists(st.tuples(st.integers(-10, 4100), st.integers(-10, 4100)), max_size=6),
    url=st.one_of(st.none(), st.text(max_size=300).map(lambda s: "https://example.org/" + s)),
)
def test_any_text_stays_valid(
    title: str,
    snippet: str,
    feed_name: str,
    rule: str,
    matched: tuple[str, ...],
    highlights: list[tuple[int, int]],
    url: str | None,
) -> None:
    alert = make_alert(
        title=title,
        snippet=snippet,
        feed_name=feed_name,
        rule=rule,
        matched=matched,
        highlights=tuple(highlights),
        url=url,
    )
    check_message(slack_message(alert))
    for batch in slack_digest_batches([alert] * 3):
        check_message(slack_digest(batch))
    assert len(console_line(alert).splitlines()) == 1
