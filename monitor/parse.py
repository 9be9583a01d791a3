"""Feed bodies to ParsedFeed: RSS 0.9x/1.0/2.0 and Atom, as feedparser reads them.

Malformed XML that feedparser can still read is kept, with the problem noted
(``bozo``); a body with no feed in it raises ParseError. Each entry gets a
stable key: its guid/id as written, else its link, else a hash of its content;
an entry with nothing in it at all is dropped.

Well-formed feeds of the usual shape are read by fastfeedparser instead, with
the same result in a sixth of the time (``monitor.fastparse``); feedparser reads
everything else. Both see the body as feedparser's strict parser does:
decoded by feedparser's encoding step, and without its DTD.

Bodies are hostile until parsed: they reach feedparser as a stream (never as a
string it could take for a file name), and without any DTD, so no entity is
ever expanded, by expat or by feedparser's own loose parser.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import feedparser.api
from feedparser.encodings import convert_to_utf8

from monitor.errors import ParseError
from monitor.fastparse import read_fast
from monitor.models import ParsedEntry, ParsedFeed

# Far-future dates are taken as no date: they would sort first and never age out.
MAX_FUTURE_YEARS = 1
# Entries read from one body, in document order: 10 MiB of tiny items is 330,000 of
# them, over a minute and 1.5 GB to store. Beyond this the feed is noted as malformed.
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Read:
    """What either reader found: feedparser's version name, the feed's title, its
    entries as feedparser's dicts, and the bozo exception."""

    version: str | None
    title: Any
    entries: Sequence[Mapping[str, Any]]
    bozo_exception: Exception | None


def parse_feed(body: bytes, content_type: str | None = None, url: str | None = None) -> ParsedFeed:
    """Parse ``body``; raises ParseError when it holds no feed at all."""
    # No content-location: feedparser would resolve guids against it, so an entry's
    # key would change with the URL the feed is fetched from. Links are resolved below.
    headers = {"content-type": content_type} if content_type else {}
    result = _read_fast(body, headers) or _read_feedparser(body, headers)
    bozo = _bozo_reason(result.bozo_exception)
    if not result.version and not result.entries:
        raise ParseError(f"not a feed{': ' + bozo if bozo else ''}")
    entries, cut = _unique(e for e in (_entry(raw, url) for raw in result.entries) if not _empty(e))
    if cut:
        note = f"{len(result.entries)} entries, only the first {MAX_ENTRIES} read"
        bozo = f"{bozo}; {note}" if bozo else note
    title = result.title
    return ParsedFeed(
        title=title.strip() if isinstance(title, str) and title.strip() else None,
        version=result.version or "unknown",
        entries=tuple(entries),
        bozo=bozo,
    )


def _read_fast(body: bytes, headers: dict[str, str]) -> _Read | None:
    """fastfeedparser's reading, where it gives what feedparser would; else None.

    feedparser's own steps first, so both readers see the same text: its encoding step
    (a header's charset, the XML declaration, a BOM, its fallbacks), then the DTD check:
    a body with a DTD is feedparser's (it names RSS 0.91 Netscape by it).
    """
    step: dict[str, Any] = {}
    try:
        data = convert_to_utf8(headers, body, step)
    except Exception:  # feedparser will say what is wrong with it
        return None
    if not step.get("encoding"):  # feedparser's loose parser would read it
        return None
    data, dtd = _split_dtd(data)
    if dtd:
        return None
    fast = read_fast(data, step, MAX_ENTRIES)
    if fast is None:
        return None
    return _Read(fast.version, fast.title, fast.entries, fast.bozo_exception)


def _read_feedparser(body: bytes, headers: dict[str, str]) -> _Read:
    try:
        result = feedparser.parse(
            io.BytesIO(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser raises assorted errors on hostile bytes
        raise ParseError(f"unreadable feed: {type(exc).__name__}: {exc}") from exc
    exception = result.get("bozo_exception") if result.get("bozo") else None
    return _Read(result.get("version"), result.feed.get("title"), result.entries, exception)


def _bozo_reason(exc: Exception | None) -> str | None:
    if exc is None or type(exc).__name__ == "CharacterEncodingOverride":
        return None
    return f"{type(exc).__name__}: {exc}"[:300]


def _unique(entries: Iterable[ParsedEntry]) -> tuple[list[ParsedEntry], bool]:
    """First entry wins when a feed repeats a key; at most MAX_ENTRIES, and whether any
    new key was left out."""
    out: dict[str, ParsedEntry] = {}
    for entry in entries:
        if entry.key not in out:
            if len(out) == MAX_ENTRIES:
                return list(out.values()), True
            out[entry.key] = entry
    return list(out.values()), False


def _empty(entry: ParsedEntry) -> bool:
    """Nothing to show, link to or match: not an entry."""
    return not (
        entry.guid
        or entry.link
        or entry.title.strip()
        or entry.summary.strip()
        or entry.content.strip()
    )


def _entry(raw: Any, url: str | None = None) -> ParsedEntry:
    title = _text(raw.get("title"))
    summary = _text(raw.get("summary"))
    content = "\n".join(_text(c.get("value")) for c in raw.get("content") or [])
    link = _link(_text(raw.get("link")).strip(), url)
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


def _link(link: str, base: str | None) -> str | None:
    """``link`` made absolute against the URL the feed came from."""
    if link and base:
        try:
            return urljoin(base, link)
        except ValueError:  # a malformed [IPv6] host in the link
            return link
    return link or None


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


# feedparser's DOCTYPE step keeps the entity declarations it deems safe (plain
# text, however long) and expands them itself when expat gives up: 1,000
# references to a 100 kB entity make a 100 MB title from a 100 kB body. It also
# misses declarations that are not on a line of their own, which expat then
# expands (up to 100 times the body). So every DTD goes, and no entity with it.
# Unterminated quotes, comments and PIs run to the end: a failed match retried at
# each of 2 million ``<!--`` would take hours.
_PROLOG_SKIP = re.compile(rb"\s+|<\?.*?(?:\?>|\Z)|<!--.*?(?:-->|\Z)", re.DOTALL)
_DTD_TOKEN = re.compile(rb"\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z)|<!--.*?(?:-->|\Z)|\[+|\]+|>", re.DOTALL)


def _split_dtd(data: bytes) -> tuple[bytes, bytes]:
    """``data`` without the DOCTYPE declarations of its prolog, and the declarations."""
    kept, dropped = [], []
    start, pos = 0, 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while pos < len(data):
        skipped = _PROLOG_SKIP.match(data, pos)
        if skipped and skipped.end() > pos:
            pos = skipped.end()
        elif data.startswith(b"<!DOCTYPE", pos):
            end = _dtd_end(data, pos)
            kept.append(data[start:pos])
            dropped.append(data[pos:end])
            pos = start = end
        else:
            break
    kept.append(data[start:])
    return b"".join(kept), b"".join(dropped)


def _dtd_end(data: bytes, start: int) -> int:
    """Where the DOCTYPE declaration at ``start`` ends (quotes, comments, subset skipped)."""
    depth = 0
    for token in _DTD_TOKEN.finditer(data, start + len(b"<!DOCTYPE")):
        mark = token.group()
        if mark.startswith(b"["):
            depth += len(mark)
        elif mark.startswith(b"]"):
            depth -= len(mark)
        elif mark == b">" and depth <= 0:
            return token.end()
    return len(data)


def _replace_doctype(data: bytes) -> tuple[str | None, bytes, dict[str, str]]:
    """feedparser's ``replace_doctype`` (runs on the body once re-encoded as UTF-8): the
    RSS 0.91 Netscape version, the body without its DTD, and no entities to expand."""
    stripped, dtd = _split_dtd(data)
    return ("rss091n" if b"netscape" in dtd.lower() else None), stripped, {}


feedparser.api.replace_doctype = _replace_doctype
