"""Feed bodies to ParsedFeed with feedparser: RSS 0.9x/1.0/2.0 and Atom.

Malformed XML that feedparser can still read is kept, with the problem noted
(``bozo``); a body with no feed in it raises ParseError. Each entry gets a
stable key: its guid/id, else its link, else a hash of its content.
"""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.errors import ParseError
from monitor.models import ParsedEntry, ParsedFeed

# Far-future dates are taken as no date: they would sort first and never age out.
MAX_FUTURE_YEARS = 1


def parse_feed(body: bytes, content_type: str | None = None, url: str | None = None) -> ParsedFeed:
    """Parse ``body``; raises ParseError when it holds no feed at all."""
    headers = {"content-type": content_type} if content_type else {}
    if url:
        headers["content-location"] = url
    try:
        result = feedparser.parse(
            body,
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser raises assorted errors on hostile bytes
        raise ParseError(f"unreadable feed: {type(exc).__name__}: {exc}") from exc
    bozo = _bozo_reason(result)
    if not result.get("version") and not result.entries:
        raise ParseError(f"not a feed{': ' + bozo if bozo else ''}")
    entries = _unique(_entry(raw) for raw in result.entries)
    title = result.feed.get("title")
    return ParsedFeed(
        title=title.strip() if isinstance(title, str) and title.strip() else None,
        version=result.get("version") or "unknown",
        entries=tuple(entries),
        bozo=bozo,
    )


def _bozo_reason(result: Any) -> str | None:
    if not result.get("bozo"):
        return None
    exc = result.get("bozo_exception")
    if exc is None or type(exc).__name__ == "CharacterEncodingOverride":
        return None
    return f"{type(exc).__name__}: {exc}"[:300]


def _unique(entries: Any) -> list[ParsedEntry]:
    """First entry wins when a feed repeats a key."""
    out: dict[str, ParsedEntry] = {}
    for entry in entries:
        out.setdefault(entry.key, entry)
    return list(out.values())


def _entry(raw: Any) -> ParsedEntry:
    title = _text(raw.get("title"))
    summary = _text(raw.get("summary"))
    content = "\n".join(_text(c.get("value")) for c in raw.get("content") or [])
    link = _text(raw.get("link")).strip() or None
    guid = _text(raw.get("id")).strip() or None
    content_hash = _hash(title, summary, content, link or "")
    return ParsedEntry(
        key=_key(guid, link, content_hash),
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        content=content,
        published=_date(dict.get(raw, "published_parsed")),
        updated=_date(dict.get(raw, "updated_parsed")),
        content_hash=content_hash,
    )


def _key(guid: str | None, link: str | None, content_hash: str) -> str:
    if guid:
        return f"id:{guid}"
    if link:
        return f"link:{link}"
    return f"hash:{content_hash}"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _date(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        value = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None
    if value.year > datetime.now(UTC).year + MAX_FUTURE_YEARS:
        return None
    return value
