"""Canonical links: one spelling per story."""

from __future__ import annotations

import pytest

from monitor.canonical import canonical_link


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://example.org/a/b", "https://example.org/a/b"),
        ("HTTPS://Example.ORG/a/b", "https://example.org/a/b"),
        ("https://example.org/a/b/", "https://example.org/a/b"),
        ("https://example.org/", "https://example.org/"),
        ("https://example.org", "https://example.org/"),
        ("https://example.org/a#comments", "https://example.org/a"),
        ("https://example.org:443/a", "https://example.org/a"),
        ("http://example.org:80/a", "http://example.org/a"),
        ("http://example.org:8080/a", "http://example.org:8080/a"),
        ("https://example.org/a?utm_source=rss&utm_medium=feed", "https://example.org/a"),
        ("https://example.org/a?id=7&utm_campaign=x&fbclid=abc", "https://example.org/a?id=7"),
        ("https://example.org/a?gclid=1&page=2&id=7", "https://example.org/a?page=2&id=7"),
        ("https://example.org/a?UTM_Source=x", "https://example.org/a"),
        ("https://example.org/a?q=", "https://example.org/a?q="),
        ("https://user:pw@example.org/a", "https://example.org/a"),
        ("https://example.org./a", "https://example.org/a"),
        ("https://[2001:db8::1]:8443/a", "https://[2001:db8::1]:8443/a"),
        ("  https://example.org/a  ", "https://example.org/a"),
        ("https://example.org/Path/Case", "https://example.org/Path/Case"),
        ("ftp://example.org/a", None),
        ("mailto:news@example.org", None),
        ("/relative/path", None),
        ("https://example.org:99999/a", None),
        ("", None),
    ],
)
def test_canonical_link(link: str, expected: str | None) -> None:
    assert canonical_link(link) == expected


def test_tracking_variants_share_one_key() -> None:
    variants = [
        "https://news.example.org/world/story-1?utm_source=twitter",
        "HTTPS://NEWS.EXAMPLE.ORG/world/story-1/",
        "https://news.example.org/world/story-1#top",
        "https://news.example.org/world/story-1?fbclid=IwAR0&utm_medium=social",
    ]
    assert len({canonical_link(v) for v in variants}) == 1
