"""Article extractors compared on local news pages: which one finds the words that matter.

    python -m bench.extraction [--pages] [--quick] [--corpus DIR]

The corpus is ``tests/data/articles`` (built by ``python -m bench.article_pages``): 14
pages across 14 layouts, each with the text a reader would call the article (``.txt``)
and a key phrase from deep in it. Every candidate gets the same decoded page and is scored
on words (case-folded ``\\w+`` tokens, counted with multiplicity) against that text:
precision (how much of what it returned is article), recall (how much of the article it
returned), F1, summed over all pages; "keys" counts pages whose key phrase is in the output.
pages/s is single-threaded throughput over the corpus. The last row is ``monitor.article``
itself, bytes in (so decoding and its markup cap are included). Then the worst cases: 10
MiB hostile pages through ``monitor.article.extract_article``.

Candidates: trafilatura (defaults, favor_precision, favor_recall; always
include_comments=False, include_tables=False), readability-lxml (``Document.summary``),
resiliparse (``extract_plain_text(main_content=True)``) and a selectolax dump of the body
without scripts and styles as the baseline. Install them with ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from monitor.article import decode_html, extract_article

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "articles"
MIB = 1024 * 1024

Extractor = Callable[[str, str], str]


@dataclass(frozen=True)
class Page:
    slug: str
    raw: bytes
    html: str
    expected: str
    key: str

    @property
    def url(self) -> str:
        return f"https://news.test/{self.slug}"


@dataclass
class Score:
    """Running totals for one extractor over the corpus."""

    overlap: int = 0
    returned: int = 0
    expected: int = 0
    keys: int = 0
    missed: tuple[str, ...] = ()

    def add(self, page: Page, text: str) -> float:
        got, want = words(text), words(page.expected)
        common = sum((got & want).values())
        self.overlap += common
        self.returned += sum(got.values())
        self.expected += sum(want.values())
        if has_phrase(text, page.key):
            self.keys += 1
        else:
            self.missed += (page.slug,)
        return f1(common, sum(got.values()), sum(want.values()))

    def row(self) -> tuple[float, float, float]:
        p = self.overlap / self.returned if self.returned else 0.0
        r = self.overlap / self.expected if self.expected else 0.0
        return p, r, f1(self.overlap, self.returned, self.expected)


def words(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.casefold()))


def has_phrase(text: str, phrase: str) -> bool:
    return " ".join(phrase.casefold().split()) in " ".join(text.casefold().split())


def f1(common: int, returned: int, expected: int) -> float:
    return 2 * common / (returned + expected) if returned + expected else 0.0


def load(directory: Path) -> list[Page]:
    index = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    pages = []
    for slug, meta in index.items():
        raw = (directory / f"{slug}.html").read_bytes()
        expected = (directory / f"{slug}.txt").read_text(encoding="utf-8")
        pages.append(Page(slug, raw, decode_html(raw, None), expected, meta["key"]))
    return pages


# -- the candidates ------------------------------------------------------------------------


def trafilatura_with(**options: bool) -> Extractor:
    import trafilatura

    def run(html: str, url: str) -> str:
        text = trafilatura.extract(
            html, url=url, include_comments=False, include_tables=False, **options
        )
        return text or ""

    return run


def readability(html: str, url: str) -> str:
    from readability import Document

    return dump(Document(html, url=url).summary(html_partial=True))


def resiliparse(html: str, url: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return str(extract_plain_text(html, main_content=True))


def dump(html: str) -> str:
    """The baseline: every text node of the body, scripts and styles removed."""
    tree = LexborHTMLParser(html)
    tree.strip_tags(["script", "style", "noscript", "template", "svg"])
    root = tree.body or tree.root
    return root.text(separator="\n") if root is not None else ""


def shipped(page: Page) -> str:
    article = extract_article(page.raw, page.url, "text/html")
    return article.text if article else ""


def candidates() -> dict[str, Extractor]:
    return {
        "trafilatura (defaults)": trafilatura_with(),
        "trafilatura favor_precision": trafilatura_with(favor_precision=True),
        "trafilatura favor_recall": trafilatura_with(favor_recall=True),
        "readability-lxml": readability,
        "resiliparse main_content": resiliparse,
        "selectolax body dump": lambda html, url: dump(html),
    }


# -- measuring -----------------------------------------------------------------------------


def measure(
    run: Callable[[Page], str], pages: list[Page], seconds: float
) -> tuple[Score, dict[str, float], float]:
    """Scores, per-page F1, and pages/s over at least ``seconds`` of repeated runs."""
    score, per_page = Score(), {}
    start = time.perf_counter()
    for page in pages:
        per_page[page.slug] = score.add(page, run(page))
    done, elapsed = len(pages), time.perf_counter() - start
    while elapsed < seconds:
        for page in pages:
            run(page)
        done, elapsed = done + len(pages), time.perf_counter() - start
    return score, per_page, done / elapsed


def hostile_pages(size: int) -> dict[str, bytes]:
    """Pages built to be slow or empty: each about ``size`` bytes."""
    para = "<p>" + "Officials said the curfew would stay while talks went on. " * 4 + "</p>"
    pages = {
        "many paragraphs": "<html><body><article>" + para * (size // len(para)),
        "tiny tags": "<html><body>" + "<span>a</span>" * (size // 14),
        "link list": "<html><body><ul>"
        + "<li><a href='/x'>Related headline</a></li>" * (size // 44),
        "table rows": "<html><body><table>" + "<tr><td>cell</td><td>x</td></tr>" * (size // 33),
        "nested divs": "<html><body>" + "<div>" * (size // 11) + "deep" + "</div>" * (size // 11),
        "one paragraph": "<html><body><p>" + "word " * (size // 5),
        "script only": "<html><head><script>" + "var x=1;" * (size // 8) + "</script></head>",
    }
    return {name: html.encode() for name, html in pages.items()}


def hostile(size: int) -> list[tuple[str, float, int]]:
    """(page, seconds, characters returned) through monitor.article.extract_article."""
    rows = []
    for name, body in hostile_pages(size).items():
        start = time.perf_counter()
        article = extract_article(body, "https://news.test/hostile", "text/html")
        rows.append((name, time.perf_counter() - start, len(article.text) if article else 0))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--pages", action="store_true", help="print F1 per page too")
    parser.add_argument("--quick", action="store_true", help="short timing, 1 MiB hostile pages")
    args = parser.parse_args()
    pages = load(args.corpus)
    seconds = 0.5 if args.quick else 3.0
    results = {}
    for name, run in candidates().items():
        results[name] = measure(lambda p, run=run: run(p.html, p.url), pages, seconds)
    results["monitor.article (shipped)"] = measure(shipped, pages, seconds)
    print(f"{len(pages)} pages, {sum(len(p.raw) for p in pages) / len(pages) / 1e3:.1f} KB each")
    _table(results, len(pages))
    if args.pages:
        _per_page(results, pages)
    size = MIB if args.quick else 10 * MIB
    _hostile_table(hostile(size), size)


def _table(results: dict[str, tuple[Score, dict[str, float], float]], count: int) -> None:
    print(f"\n{'extractor':<30}{'precision':>10}{'recall':>8}{'F1':>7}{'keys':>7}{'pages/s':>9}")
    for name, (score, _, rate) in results.items():
        p, r, f = score.row()
        print(f"{name:<30}{p:>10.3f}{r:>8.3f}{f:>7.3f}{score.keys:>4}/{count:<2}{rate:>9.1f}")
        if score.missed:
            print(f"{'':<4}key phrase missed: {', '.join(score.missed)}")


def _per_page(results: dict[str, tuple[Score, dict[str, float], float]], pages: list[Page]) -> None:
    names = list(results)
    print("\nF1 per page: " + "  ".join(f"[{k}] {n}" for k, n in enumerate(names)))
    print(f"{'page':<24}" + "".join(f"{f'[{k}]':>7}" for k in range(len(names))))
    for page in pages:
        cells = "".join(f"{results[n][1][page.slug]:>7.2f}" for n in names)
        print(f"{page.slug:<24}{cells}")


def _hostile_table(rows: list[tuple[str, float, int]], size: int) -> None:
    print(f"\nhostile pages of {size / MIB:.0f} MiB through monitor.article.extract_article:")
    for name, seconds, chars in rows:
        print(f"  {name:<18}{seconds:>7.2f} s   {chars:>8,} characters of text")
    worst = max(rows, key=lambda row: row[1])
    print(f"  worst case: {worst[0]}, {worst[1]:.2f} s")


if __name__ == "__main__":
    main()
