"""Generate realistic feed files for benchmarks and serve them from a local static server."""

from __future__ import annotations

import functools
import os
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SEED = Path(__file__).resolve().parents[2] / "shared" / "data" / "seed-article.txt"
# The contract's two example rules, as config.yaml text.
RULES = (
    "rules:\n"
    "  - name: emergency\n    any: [state of emergency, martial law]\n"
    "  - name: shutdown\n"
    "    query: '\"internet blackout\" OR (internet NEAR/3 (shutdown OR cut OR blocked))'\n"
)
# The environment for monitor processes: no proxy between them and the local servers.
ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
WORDS = (
    "government protest minister police election capital border talks crisis economy "
    "parliament troops ceasefire refugees court president strike prices energy council"
).split()


def paragraphs() -> list[str]:
    try:
        text = SEED.read_text(encoding="utf-8")
    except OSError:
        text = "Authorities declared a state of emergency.\n\nProtests resumed in the capital."
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def make_feed(n: int, entries: int = 40, rng: random.Random | None = None) -> bytes:
    """Feed ``n``: RSS or Atom, some entries with full bodies, some with the rule phrases."""
    rng = rng or random.Random(n)
    paras = paragraphs()
    now = datetime(2026, 11, 24, 8, tzinfo=UTC)
    items = []
    for i in range(entries):
        words = " ".join(rng.choice(WORDS) for _ in range(8))
        summary = rng.choice(paras) if i % 3 == 0 else f"{words.capitalize()}."
        body = "".join(f"<p>{escape(p)}</p>" for p in paras) if i % 4 == 0 else None
        items.append(
            (
                f"{words.title()} ({n}-{i})",
                f"https://news{n % 50}.test/{n}/{i}",
                summary,
                body,
                now - timedelta(minutes=i * 7),
            )
        )
    return _atom(n, items) if n % 4 == 0 else _rss(n, items)


def _rss(n: int, items: list[tuple[str, str, str, str | None, datetime]]) -> bytes:
    out = [
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        f'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Bench feed {n}</title><link>https://news.test/{n}</link><description>b</description>"
    ]
    for title, link, summary, body, when in items:
        out.append(
            f"<item><title>{escape(title)}</title><link>{link}</link><guid>{link}</guid>"
            f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
            f"<description>{escape(summary)}</description>"
        )
        if body:
            out.append(f"<content:encoded><![CDATA[{body}]]></content:encoded>")
        out.append("</item>")
    out.append("</channel></rss>")
    return "".join(out).encode()


def _atom(n: int, items: list[tuple[str, str, str, str | None, datetime]]) -> bytes:
    out = [
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Bench feed {n}</title><id>urn:bench:{n}</id>"
        "<updated>2026-11-24T08:00:00Z</updated>"
    ]
    for title, link, summary, body, when in items:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(
            f"<entry><title>{escape(title)}</title><id>{link}</id>"
            f'<link rel="alternate" href="{link}"/><updated>{stamp}</updated>'
            f'<summary type="html">{escape(summary)}</summary>'
        )
        if body:
            out.append(f'<content type="html">{escape(body)}</content>')
        out.append("</entry>")
    out.append("</feed>")
    return "".join(out).encode()


def write_feeds(directory: Path, count: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for n in range(count):
        name = f"feed-{n}.xml"
        (directory / name).write_bytes(make_feed(n))
        names.append(name)
    return names


def change_feeds(directory: Path, count: int, round_: int = 1) -> None:
    """Rewrite the same 10% of ``count`` feeds (row 3's) with new entries for ``round_``,
    then wait for a new second: Last-Modified and ETag change with the file's mtime."""
    for n in random.Random(1).sample(range(count), max(1, count // 10)):
        (directory / f"feed-{n}.xml").write_bytes(make_feed(n + 1_000_000 * round_))
    time.sleep(1.1)


class _Quiet(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    """A static server (Last-Modified and 304 as a real one) on 127.0.0.1 in a thread."""
    handler = functools.partial(_Quiet, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    host, port = httpd.server_address[:2]
    return httpd, f"http://{host!s}:{port}"


def own_words(story: int, count: int = 20) -> str:
    """Made-up words no other story has: the latency stories stay separate stories (story
    grouping would merge look-alike alerts from different feeds into one)."""
    words = []
    for i in range(story * count, story * count + count):
        letters = []
        for alphabet in ("bcdfghjklmnprstvz", "aeiou", "bcdfghjklmnprstvz", "aeiou", "bdgkmnt"):
            i, digit = divmod(i, len(alphabet))
            letters.append(alphabet[digit])
        words.append("".join(letters) + "an")
    return " ".join(words)
