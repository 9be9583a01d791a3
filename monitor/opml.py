"""OPML 1.0 and 2.0 subscription lists: read them (as hostile XML) and write them.

Reading: an ``<outline>`` with an ``xmlUrl`` is a feed, named by its ``title``, else
its ``text``; one without that holds other outlines is a category; any other is
skipped with a reason. The file is parsed with defusedxml: a document that
declares entities (the "billion laughs") or refers to external ones is refused
before anything is expanded, and outlines are walked without recursion.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException, EntitiesForbidden

from monitor.discover import is_http_url

MAX_OPML_BYTES = 10 * 1024 * 1024  # a list of 50,000 feeds is about 10 MB
NOT_HTTP = "not an http:// or https:// URL"
NO_URL = "no xmlUrl"
# Characters XML 1.0 cannot hold, even escaped; a name or URL keeps the rest.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class OpmlError(ValueError):
    """Not an OPML document that can be read; the message says why."""


@dataclass(frozen=True)
class OpmlFeed:
    """A feed of a subscription list: its URL, name, categories (outermost first), site."""

    url: str
    name: str | None = None
    category: tuple[str, ...] = ()
    html_url: str | None = None


@dataclass(frozen=True)
class Skipped:
    """An outline that is not a feed the monitor can poll: ``what`` names it."""

    what: str
    reason: str


@dataclass(frozen=True)
class Subscriptions:
    """What an OPML file lists, in document order."""

    feeds: tuple[OpmlFeed, ...]
    skipped: tuple[Skipped, ...]


def parse_opml(data: bytes) -> Subscriptions:
    """The feeds of an OPML document; raises OpmlError when it cannot be read."""
    root = _parse_xml(data)
    if _local(root.tag) != "opml":
        raise OpmlError(f"the document is <{_local(root.tag)}>, not <opml>")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise OpmlError("it has no <body>")
    feeds: list[OpmlFeed] = []
    skipped: list[Skipped] = []
    stack: list[tuple[ET.Element, tuple[str, ...]]] = [(c, ()) for c in reversed(body)]
    while stack:
        node, category = stack.pop()
        if _local(node.tag) == "outline":
            children = _outline(node, category, feeds, skipped)
            stack.extend(reversed(children))
    return Subscriptions(feeds=tuple(feeds), skipped=tuple(skipped))


def _parse_xml(data: bytes) -> ET.Element:
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"larger than {MAX_OPML_BYTES // (1024 * 1024)} MiB")
    try:
        root: ET.Element = SafeET.fromstring(data, forbid_entities=True, forbid_external=True)
    except EntitiesForbidden as exc:
        raise OpmlError(f"it declares the XML entity {exc.name!r} (refused)") from exc
    except DefusedXmlException as exc:
        raise OpmlError(f"it refers to external XML resources (refused): {exc}") from exc
    except ET.ParseError as exc:
        raise OpmlError(f"not well-formed XML: {exc}") from exc
    return root


def _outline(
    node: ET.Element,
    category: tuple[str, ...],
    feeds: list[OpmlFeed],
    skipped: list[Skipped],
) -> list[tuple[ET.Element, tuple[str, ...]]]:
    """Record one outline; returns the outlines inside a category, to be read next."""
    attrs = {key.lower(): value for key, value in node.attrib.items()}
    name = _clean(attrs.get("title")) or _clean(attrs.get("text"))
    if "xmlurl" in attrs:
        url = attrs["xmlurl"].strip()
        if is_http_url(url):
            name = None if name == url else name  # what an export writes for an unnamed feed
            html_url = attrs.get("htmlurl", "").strip()
            feeds.append(OpmlFeed(url, name, category, html_url if is_http_url(html_url) else None))
        else:
            skipped.append(Skipped(_clean(url) or name or "(an outline)", NOT_HTTP))
        return []
    children = [c for c in node if _local(c.tag) == "outline"]
    if not children:
        skipped.append(Skipped(name or "(an outline without text)", NO_URL))
        return []
    inner = (*category, name) if name else category
    return [(child, inner) for child in children]


def _local(tag: object) -> str:
    """An element's name without its namespace; comments and PIs have no string tag."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _clean(text: str | None) -> str | None:
    """One line of text: runs of whitespace (newlines included) become one space."""
    cleaned = " ".join(_NOT_XML.sub("", text or "").split())
    return cleaned or None


def build_opml(feeds: Iterable[OpmlFeed], title: str, created: datetime) -> bytes:
    """An OPML 2.0 document listing ``feeds``, UTF-8 encoded."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _clean(title) or "feeds"
    ET.SubElement(head, "dateCreated").text = format_datetime(created, usegmt=True)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        text = _clean(feed.name) or _NOT_XML.sub("", feed.url)
        attrs = {"type": "rss", "text": text, "title": text, "xmlUrl": _NOT_XML.sub("", feed.url)}
        if feed.html_url:
            attrs["htmlUrl"] = _NOT_XML.sub("", feed.html_url)
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{ET.tostring(root, "unicode")}\n'.encode()
