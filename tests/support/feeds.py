"""Builders of realistic RSS and Atom feeds, from the seed news report in shared/data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

SEED_PATH = Path(__file__).resolve().parents[3] / "shared" / "data" / "seed-article.txt"
FALLBACK_SEED = (
    "Troops, protesters clash in Kazakhstan as US, UN call for 'restraint'\n\n"
    "Authorities cut internet and mobile phone access nationwide after a state of "
    "emergency was declared.\n\nState Department spokesman Ned Price criticised the "
    "internet blackout by the government."
)


def seed_article() -> str:
    """The seed report (title on the first line), or a short excerpt of it if shared/ is absent."""
    try:
        return SEED_PATH.read_text(encoding="utf-8")
    except OSError:
        return FALLBACK_SEED


def seed_paragraphs() -> list[str]:
    return [p.strip() for p in seed_article().split("\n\n") if p.strip()]


@dataclass(frozen=True)
class Item:
    title: str
    link: str | None = None
    guid: str | None = None
    summary: str = ""
    content: str | None = None
    published: datetime | None = None


def rss(items: list[Item], title: str = "Test World News", version: str = "2.0") -> bytes:
    """An RSS 2.0 feed; ``content`` goes into ``content:encoded`` as CDATA."""
    body = "".join(_rss_item(i) for i in items)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<rss version="{version}" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>{escape(title)}</title><link>http://example.test/</link>"
        f"<description>test</description>{body}</channel></rss>"
    ).encode()


def _rss_item(item: Item) -> str:
    parts = [f"<title>{escape(item.title)}</title>"]
    if item.link:
        parts.append(f"<link>{escape(item.link)}</link>")
    if item.guid:
        parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
    if item.summary:
        parts.append(f"<description>{escape(item.summary)}</description>")
    if item.content is not None:
        parts.append(f"<content:encoded><![CDATA[{item.content}]]></content:encoded>")
    if item.published:
        parts.append(f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate>")
    return "<item>" + "".join(parts) + "</item>"


def atom(items: list[Item], title: str = "Test Atom News") -> bytes:
    entries = "".join(_atom_entry(i) for i in items)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:test:feed</id>"
        f"<updated>2026-11-24T08:00:00Z</updated>{entries}</feed>"
    ).encode()


def _atom_entry(item: Item) -> str:
    when = (item.published or datetime(2026, 11, 24, 8, tzinfo=UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [
        f"<title>{escape(item.title)}</title>",
        f"<id>{escape(item.guid or item.link or item.title)}</id>",
    ]
    if item.link:
        parts.append(f'<link rel="alternate" href="{escape(item.link)}"/>')
    parts.append(f"<updated>{when}</updated><published>{when}</published>")
    if item.summary:
        parts.append(f'<summary type="html">{escape(item.summary)}</summary>')
    if item.content is not None:
        parts.append(f'<content type="html">{escape(item.content)}</content>')
    return "<entry>" + "".join(parts) + "</entry>"


def news_items(count: int, prefix: str = "story", base: str = "http://example.test") -> list[Item]:
    """``count`` items built from the seed report's paragraphs."""
    paragraphs = seed_paragraphs()
    return [
        Item(
            title=f"{paragraphs[0][:60]} ({prefix} {n})",
            link=f"{base}/{prefix}/{n}",
            guid=f"{prefix}-{n}",
            summary=paragraphs[1 + n % (len(paragraphs) - 1)],
            published=datetime(2026, 11, 24, 8, n % 60, tzinfo=UTC),
        )
        for n in range(count)
    ]


CONSONANTS, VOWELS = "bcdfghjklmnprstvz", "aeiou"


def distinct_words(story: int, count: int = 12) -> str:
    """Made-up words found in no other story's text: tests whose feeds carry look-alike
    items that must stay separate stories (story grouping would merge them) add these.
    Each word's first five letters differ (grouping compares words by those)."""

    def word(i: int) -> str:
        letters = []
        for alphabet in (CONSONANTS, VOWELS, CONSONANTS, VOWELS, CONSONANTS):
            i, digit = divmod(i, len(alphabet))
            letters.append(alphabet[digit])
        return "".join(letters) + "on"

    return " ".join(word(story * count + i) for i in range(count))
