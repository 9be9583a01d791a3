"""Feed autodiscovery: is a fetched body a feed, and if it is a page, which feeds does it name?

Pure: bytes and URLs in, answers out. A page names its feeds with
``<link rel="alternate" type="application/rss+xml" href="…">`` in its head
(also Atom and JSON Feed); hrefs are resolved against the page's ``<base>``, else
its URL. RSS and Atom come before JSON Feed, each kind in document order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from monitor.errors import ParseError
from monitor.models import ParsedFeed
from monitor.parse import parse_feed

FEED_TYPES = {
    "application/rss+xml": "RSS",
    "application/atom+xml": "Atom",
    "application/feed+json": "JSON Feed",
}
PREFERRED = ("RSS", "Atom")
_HTML_START = re.compile(rb"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.I | re.S)
_JSON_FEED = re.compile(rb'\s*\{.*"version"\s*:\s*"https?://jsonfeed\.org/version/', re.S)


@dataclass(frozen=True)
class FeedLink:
    """A feed a page links to: absolute ``url``, its kind, and the link's title if any."""

    url: str
    kind: str
    title: str | None = None


def is_http_url(url: str) -> bool:
    """Whether ``url`` is http(s) with a host (the only feeds the monitor polls), on one line
    and without spaces: urlsplit would quietly drop a tab or a line break."""
    if not url or any(c.isspace() or not c.isprintable() for c in url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a malformed [IPv6] host
        return False


def looks_like_html(body: bytes) -> bool:
    """Whether ``body`` starts as an HTML document does (a doctype or an ``<html>`` tag)."""
    return _HTML_START.match(body.removeprefix(b"\xef\xbb\xbf")[:4096]) is not None


def read_feed(body: bytes, content_type: str | None, url: str) -> ParsedFeed:
    """``body`` read as a feed, as polling reads it; raises ParseError with the reason."""
    if looks_like_html(body):
        raise ParseError("an HTML page, not a feed")
    try:
        return parse_feed(body, content_type, url)
    except ParseError as exc:
        if _JSON_FEED.match(body[:4096]):
            reason = "a JSON Feed, which the monitor cannot read (RSS and Atom only)"
            raise ParseError(reason) from exc
        raise


def feed_links(html: str, page_url: str) -> list[FeedLink]:
    """The feeds named in the page's head, RSS and Atom first, without repeats."""
    tree = LexborHTMLParser(html)
    base = _base(tree, page_url)
    found: dict[str, FeedLink] = {}
    for node in tree.css("head link[rel][href][type]"):
        kind = FEED_TYPES.get(_media_type(node.attributes.get("type")))
        rel = (node.attributes.get("rel") or "").lower().split()
        if kind is None or "alternate" not in rel:
            continue
        url = _resolve(base, node.attributes.get("href") or "")
        if url and url not in found:
            title = " ".join((node.attributes.get("title") or "").split()) or None
            found[url] = FeedLink(url=url, kind=kind, title=title)
    links = list(found.values())
    return [f for f in links if f.kind in PREFERRED] + [f for f in links if f.kind not in PREFERRED]


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _base(tree: LexborHTMLParser, page_url: str) -> str:
    """The page's ``<base href>`` when it has one, else its URL."""
    node = tree.css_first("head base[href]")
    href = node.attributes.get("href") if node is not None else None
    return (_resolve(page_url, href) if href else None) or page_url


def _resolve(base: str, href: str) -> str | None:
    """``href`` made absolute against ``base``; None when it is not an http(s) URL."""
    href = href.strip()
    if not href:
        return None
    try:
        url = urljoin(base, href)
    except ValueError:  # a malformed [IPv6] host
        return None
    return url if is_http_url(url) else None
