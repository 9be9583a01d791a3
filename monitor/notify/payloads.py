"""What each notifier sends for an alert: pure functions from ``Alert`` to a body, no I/O.

- Webhook: the contract's JSON body (``webhook_body``), encoded compactly (``encode_json``).
- Slack: an incoming-webhook message for one alert (``slack_message``) or a digest of several
  (``slack_digest``), and a burst split into as few digests as fit (``slack_digest_batches``).
- Console: one line per alert (``console_line``).
- Feed health alerts (``Alert.health`` set) get their own webhook body (``health_body``), Slack
  message and line (``health_sentence``): the same functions dispatch on it.

Titles, snippets, feed and rule names come from feeds and configuration, so Slack gets them as
hostile text: control characters, bidi overrides and lone surrogates are dropped or replaced,
``&``, ``<`` and ``>`` are escaped (a title cannot inject ``<!channel>``, a mention or a link),
text objects are ``verbatim`` (no auto-linking of ``@channel``), and every text is cut to Slack's
limits between characters a reader sees as one, never inside ``&amp;`` or an emoji. Lengths are
counted in UTF-16 code units after escaping, never less than what Slack or slack_sdk count.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from monitor.durations import format_duration
from monitor.models import Alert, FeedHealthNote, Source

# Slack's limits (Block Kit reference), in characters.
HEADER_MAX = 150
SECTION_MAX = 3000
CONTEXT_TEXT_MAX = 3000
CONTEXT_ELEMENTS_MAX = 10
BLOCKS_MAX = 50
# Our own caps, so one hostile field cannot crowd out the rest of a message.
FALLBACK_MAX = 3000
DIGEST_FALLBACK_MAX = 1000
TITLE_MAX = 500
DIGEST_TITLE_MAX = 200
NAME_MAX = 200
DIGEST_NAME_MAX = 100
MATCHED_MAX = 1000
ALSO_MAX = 1500  # the other outlets, links included, in the message's context line
ERROR_MAX = 1000
URL_MAX = 2000  # longer (after percent-encoding) is shown without a link
# The lines of one digest together; with header, footer and fallback a message stays under
# 40,000 characters, Slack's cap on a message's text.
DIGEST_LINES_BUDGET = 36_000

ELLIPSIS = "\u2026"
ZWJ = "\u200d"
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_LONE_SURROGATE = re.compile("[\\ud800-\\udfff]")
_CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f]")
_SPACES = re.compile(r"\s+")
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


# --- webhook and JSON ------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """``2026-11-24T08:01:12Z``: UTC, whole seconds (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def webhook_body(alert: Alert) -> dict[str, Any]:
    """The contract's webhook body; text fields exactly as the alert holds them."""
    if alert.health is not None:
        return health_body(alert, alert.health)
    return {
        "type": "alert",
        "id": alert.id,
        "rule": alert.rule,
        "matched": list(alert.matched),
        "entry": {
            "title": alert.title,
            "url": alert.url,
            "published": rfc3339(alert.published) if alert.published else None,
            "summary": alert.summary,
            "snippet": alert.snippet,
        },
        "feed": {"name": alert.feed_name, "url": alert.feed_url},
        "detected_at": rfc3339(alert.detected_at),
        "sources": [
            {"feed": {"name": s.feed_name, "url": s.feed_url}, "url": s.url, "title": s.title}
            for s in sources_of(alert)
        ],
    }


def sources_of(alert: Alert) -> tuple[Source, ...]:
    """Every outlet known to carry the story, the alert's own entry first."""
    return alert.sources or (Source(alert.feed_name, alert.feed_url, alert.url, alert.title),)


def other_sources(alert: Alert) -> tuple[Source, ...]:
    """The outlets besides the one whose entry raised the alert."""
    return sources_of(alert)[1:]


def encode_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON. A lone surrogate (not encodable) is written as its ``\\udXXX`` escape."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8", "backslashreplace")


# --- text cleaning, escaping, cutting --------------------------------------------------------


def _collapse(text: str) -> str:
    """One line of display text; whitespace runs become one space (ends are kept)."""
    text = _LONE_SURROGATE.sub("\ufffd", text.translate(_BIDI_CONTROLS))
    return _SPACES.sub(" ", _CONTROL.sub(" ", text))


def _clean(text: str) -> str:
    return _collapse(text).strip()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _units(text: str) -> int:
    """Length in UTF-16 code units (what JavaScript counts; never less than ``len``)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _cost(ch: str, escape: bool) -> int:
    if escape and ch in _ESCAPES:
        return len(_ESCAPES[ch])
    return 2 if ord(ch) > 0xFFFF else 1


def _joins_previous(ch: str) -> bool:
    """Marks, joiners, variation selectors, skin tones and tags belong to the character before."""
    o = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or ch == ZWJ
        or 0xFE00 <= o <= 0xFE0F
        or 0xE0100 <= o <= 0xE01EF
        or 0x1F3FB <= o <= 0x1F3FF
        or 0xE0020 <= o <= 0xE007F
    )


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _safe_cut(text: str, i: int) -> int:
    """Move a cut before ``text[i]`` back until it splits no emoji, flag or accented letter."""
    while i > 0 and (_joins_previous(text[i]) or text[i - 1] == ZWJ):
        i -= 1
    if i > 0 and _is_regional(text[i]):
        run = 0
        while run < i and _is_regional(text[i - 1 - run]):
            run += 1
        i -= run % 2
    return i


def _prefix(text: str, limit: int, escape: bool) -> str:
    """``text`` itself if it costs at most ``limit``, else its longest safe start that does."""
    used = 0
    for i, ch in enumerate(text):
        used += _cost(ch, escape)
        if used > limit:
            return text[: _safe_cut(text, i)].rstrip()
    return text


def _shorten(text: str, limit: int, escape: bool = True) -> str:
    """Raw ``text``, cut with '…' so that it fits ``limit`` units (once escaped, if ``escape``)."""
    if len(_prefix(text, limit, escape)) == len(text):
        return text
    return _prefix(text, limit - 1, escape) + ELLIPSIS


def _fit(text: str, limit: int) -> str:
    """``text`` escaped for mrkdwn in at most ``limit`` units."""
    return _escape(_shorten(text, limit))


# --- Slack building blocks -------------------------------------------------------------------


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _context(texts: Sequence[str]) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(t) for t in texts[:CONTEXT_ELEMENTS_MAX]]}


def _header(text: str) -> dict[str, Any]:
    plain = _shorten(_clean(text), HEADER_MAX, escape=False) or "Alert"
    return {"type": "header", "text": {"type": "plain_text", "text": plain, "emoji": True}}


def _link_target(url: str | None) -> str | None:
    """An http(s) URL made safe inside ``<url|text>``, or None when it should not be linked."""
    scheme, _, rest = (url or "").strip().partition(":")
    if scheme.lower() not in ("http", "https") or not rest.startswith("//"):
        return None
    target = scheme.lower() + ":" + _escape(quote(rest, safe=_URL_SAFE, errors="replace"))
    return target if _units(target) <= URL_MAX else None


def _link(alert: Alert, title_max: int) -> str:
    """The alert's title as a link to its story (just the title when there is no usable URL)."""
    title = _fit(_clean(alert.title), title_max) or "(untitled)"
    target = _link_target(alert.url)
    return f"<{target}|{title}>" if target else title


def _message(text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


# --- one alert -------------------------------------------------------------------------------


def slack_message(alert: Alert) -> dict[str, Any]:
    """The full message for one alert: linked title, rule, feed, matches, snippet in bold."""
    if alert.health is not None:
        return _health_message(alert, alert.health)
    blocks = [_section(_link(alert, TITLE_MAX)), _context(_facts(alert))]
    snippet = _snippet_mrkdwn(alert.snippet, alert.highlights, SECTION_MAX)
    if snippet:
        blocks.append(_section(snippet))
    return _message(_fallback(alert), blocks)


def _fallback(alert: Alert) -> str:
    """Plain notification text: ``title — url (rule: name)``, escaped and bounded."""
    parts = [_shorten(_clean(alert.title), TITLE_MAX) or "(untitled)"]
    if alert.url and _clean(alert.url):
        parts.append("\u2014 " + _shorten(_clean(alert.url), URL_MAX))
    parts.append(f"(rule: {_shorten(_clean(alert.rule), NAME_MAX)})")
    return _fit(" ".join(parts), FALLBACK_MAX)


def _facts(alert: Alert) -> list[str]:
    """The context line: rule, feed, matched phrases and publication time."""
    facts = [
        "*Rule:* " + (_fit(_clean(alert.rule), NAME_MAX) or "-"),
        "*Feed:* " + (_fit(_clean(alert.feed_name), NAME_MAX) or "-"),
    ]
    phrases = [p for p in (_clean(m) for m in alert.matched) if p]
    if phrases:
        facts.append("*Matched:* " + _fit(", ".join(f'"{p}"' for p in phrases), MATCHED_MAX))
    if alert.published:
        facts.append("*Published:* " + rfc3339(alert.published))
    if others := other_sources(alert):
        facts.append("*Also reported by:* " + _outlets(others))
    return facts


def _outlets(sources: Sequence[Source]) -> str:
    """Other outlets as links to their story, as many as fit in one context element."""
    shown: list[str] = []
    for source in sources:
        name = _fit(_clean(source.feed_name), NAME_MAX) or "-"
        target = _link_target(source.url)
        item = f"<{target}|{name}>" if target else name
        if _units(", ".join([*shown, item])) > ALSO_MAX:
            shown.append(f"and {len(sources) - len(shown)} more")
            break
        shown.append(item)
    return ", ".join(shown)


def _spans(length: int, highlights: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Highlights clipped to the text, sorted, with overlapping or touching ones merged."""
    spans: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(length, e)) for s, e in highlights):
        if start >= end:
            continue
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def _pieces(text: str, highlights: Sequence[tuple[int, int]]) -> list[tuple[str, bool]]:
    """``text`` split into (piece, highlighted) at the highlight offsets, before any escaping."""
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for start, end in _spans(len(text), highlights):
        pieces += [(text[pos:start], False), (text[start:end], True)]
        pos = end
    pieces.append((text[pos:], False))
    return [(_collapse(piece), bold) for piece, bold in pieces if piece]


def _render(piece: str, bold: bool, limit: int = sys.maxsize) -> str:
    """One piece escaped, bold as `` *core* `` (spaces outside the stars), cut to ``limit``."""
    core = piece.strip()
    if not bold or not core:
        return _escape(_prefix(piece, limit, True))
    lead = " " if piece[0] == " " else ""
    trail = " " if piece[-1] == " " else ""
    cut = _prefix(core, limit - len(lead) - len(trail) - 2, True)
    if not cut:
        return ""
    return f"{lead}*{_escape(cut)}*{trail if len(cut) == len(core) else ''}"


def _snippet_mrkdwn(snippet: str, highlights: Sequence[tuple[int, int]], limit: int) -> str:
    """The snippet with each highlighted span in bold, escaped; a cut is marked with '…'."""
    if not _clean(snippet):
        return ""
    pieces = _pieces(snippet, highlights)
    full = "".join(_render(piece, bold) for piece, bold in pieces).strip()
    if _units(full) <= limit:
        return full
    out = ""
    for piece, bold in pieces:
        part = _render(piece, bold, limit - 1 - _units(out))
        out += part
        if part != _render(piece, bold):
            break
    return out.strip() + ELLIPSIS


# --- digests ---------------------------------------------------------------------------------


def _digest_line(alert: Alert) -> str:
    """``• <url|title> · rule · feed``, at most about 2,500 units."""
    if alert.health is not None:
        return "\u2022 " + health_sentence(alert, alert.health, DIGEST_NAME_MAX, mrkdwn=True)
    rule = _fit(_clean(alert.rule), DIGEST_NAME_MAX) or "-"
    feed = _fit(_clean(alert.feed_name), DIGEST_NAME_MAX) or "-"
    return f"\u2022 {_link(alert, DIGEST_TITLE_MAX)} \u00b7 {rule} \u00b7 {feed}"


@dataclass
class _Digest:
    """Lines packed into section blocks, each at most SECTION_MAX units, in as few as fit."""

    sections: list[list[str]] = field(default_factory=list)
    section_units: list[int] = field(default_factory=list)
    total: int = 0

    def add(self, line: str) -> bool:
        """Take ``line`` if the message stays within limits; False (and unchanged) if not."""
        units = _units(line)
        if self.total + units + 1 > DIGEST_LINES_BUDGET:
            return False
        if self.sections and self.section_units[-1] + 1 + units <= SECTION_MAX:
            self.sections[-1].append(line)
            self.section_units[-1] += 1 + units
        elif len(self.sections) < BLOCKS_MAX - 2:  # room for the header and a footer
            self.sections.append([line])
            self.section_units.append(units)
        else:
            return False
        self.total += units + 1
        return True


def slack_digest(alerts: Sequence[Alert]) -> dict[str, Any]:
    """One message listing ``alerts``: a header, then one line per alert.

    A batch from ``slack_digest_batches`` always fits whole; given more than fits, the message
    ends with a line saying how many were left out rather than breaking Slack's limits.
    """
    digest, shown = _Digest(), 0
    for alert in alerts:
        if not digest.add(_digest_line(alert)):
            break
        shown += 1
    count = f"{len(alerts)} new alert{'' if len(alerts) == 1 else 's'}"
    blocks = [_header(count)] + [_section("\n".join(lines)) for lines in digest.sections]
    if shown < len(alerts):
        blocks.append(_context([f"{ELLIPSIS} and {len(alerts) - shown} more not shown here"]))
    return _message(_digest_fallback(count, alerts), blocks)


def _digest_fallback(count: str, alerts: Sequence[Alert]) -> str:
    titles = (_shorten(_clean(a.title), DIGEST_TITLE_MAX) or "(untitled)" for a in alerts[:20])
    return _fit(f"{count}: " + "; ".join(titles), DIGEST_FALLBACK_MAX)


def slack_digest_batches(alerts: Sequence[Alert]) -> list[list[Alert]]:
    """``alerts`` in order, split into as few digests as fit within Slack's limits."""
    batches: list[list[Alert]] = []
    digest = _Digest()
    for alert in alerts:
        line = _digest_line(alert)
        if not batches or not digest.add(line):
            digest = _Digest()
            digest.add(line)
            batches.append([])
        batches[-1].append(alert)
    return batches


# --- console ---------------------------------------------------------------------------------


def console_line(alert: Alert) -> str:
    """``time | rule | feed | title | url`` on one line, whatever the fields hold
    (for a feed health alert, what happened to the feed instead of the title)."""
    title = alert.title
    if alert.health is not None:
        title = health_sentence(alert, alert.health, NAME_MAX, mrkdwn=False)
    fields = (rfc3339(alert.detected_at), alert.rule, alert.feed_name, title, alert.url)
    line = " | ".join(_clean(f or "") or "-" for f in fields)
    if others := other_sources(alert):
        line += " | also: " + ", ".join(_clean(s.feed_name) or "-" for s in others)
    return line


# --- feed health -----------------------------------------------------------------------------

_HEALTH_ICONS = {"failing": ":warning:", "silent": ":zzz:", "recovered": ":white_check_mark:"}


def health_body(alert: Alert, note: FeedHealthNote) -> dict[str, Any]:
    """The webhook body of a feed health alert (``type: feed_health``)."""
    return {
        "type": "feed_health",
        "id": alert.id,
        "state": note.state,
        "feed": {"name": alert.feed_name, "url": alert.feed_url},
        "error": note.error,
        "failures": note.failures,
        "last_success": rfc3339(note.last_success) if note.last_success else None,
        "detected_at": rfc3339(alert.detected_at),
    }


def health_sentence(alert: Alert, note: FeedHealthNote, name_max: int, mrkdwn: bool) -> str:
    """``Feed X is failing: <error> (5 polls in a row)``, ``… has published nothing new for 3d
    (usually every 2h)`` or ``… has recovered``; escaped and with an icon for Slack."""
    name = _shorten(_clean(alert.feed_name), name_max) or "-"
    text = f"Feed {name} " + _health_state(alert, note)
    if not mrkdwn:
        return text
    return f"{_HEALTH_ICONS.get(note.state, ':grey_question:')} " + _fit(text, SECTION_MAX - 30)


def _health_state(alert: Alert, note: FeedHealthNote) -> str:
    if note.state == "failing":
        error = _shorten(_clean(note.error or ""), ERROR_MAX, escape=False)
        polls = f"{note.failures} poll{'' if note.failures == 1 else 's'} in a row"
        return f"is failing{': ' + error if error else ''} ({polls})"
    if note.state == "silent":
        quiet = "has published nothing new"
        if note.last_entry is not None:
            silent_for = (alert.detected_at - note.last_entry).total_seconds()
            quiet += f" for {format_duration(silent_for)}"
        usual = f" (usually every {format_duration(note.usual_gap)})" if note.usual_gap else ""
        return quiet + usual
    if note.state == "recovered":
        return f"has recovered{' (was ' + note.was + ')' if note.was else ''}"
    return f"is {_clean(note.state) or 'unknown'}"


def _health_message(alert: Alert, note: FeedHealthNote) -> dict[str, Any]:
    """The Slack message: one sentence, then the feed's link and its last good poll or entry."""
    facts = [f"*Feed:* {_feed_link(alert)}"]
    if note.state != "silent" or note.last_entry is None:
        when = rfc3339(note.last_success) if note.last_success else "never"
        facts.append(f"*Last successful poll:* {when}")
    if note.last_entry is not None and note.state != "failing":
        facts.append(f"*Newest entry:* {rfc3339(note.last_entry)}")
    fallback = _fit(health_sentence(alert, note, NAME_MAX, mrkdwn=False), FALLBACK_MAX)
    section = _section(health_sentence(alert, note, NAME_MAX, mrkdwn=True))
    return _message(fallback, [section, _context(facts)])


def _feed_link(alert: Alert) -> str:
    target = _link_target(alert.feed_url)
    shown = _fit(_clean(alert.feed_url), URL_MAX) or "-"
    return f"<{target}|{shown}>" if target else shown
