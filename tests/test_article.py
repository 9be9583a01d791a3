"""monitor.article: the article text of a fetched page, on the corpus and on hostile bytes."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.article import (
    MAX_TEXT_CHARS,
    Article,
    cap_text,
    decode_html,
    extract_article,
    is_html,
    web_codec,
)

CORPUS = Path(__file__).parent / "data" / "articles"
INDEX = json.loads((CORPUS / "index.json").read_text(encoding="utf-8"))
URL = "https://news.test/story"
MIB = 1024 * 1024


def page(slug: str) -> bytes:
    return (CORPUS / f"{slug}.html").read_bytes()


def expected(slug: str) -> str:
    return (CORPUS / f"{slug}.txt").read_text(encoding="utf-8").strip()


def page_text(slug: str) -> str:
    """Every text node of the page, furniture included."""
    return str(lxml.html.document_fromstring(decode_html(page(slug), None)).text_content())


def extract(body: bytes, content_type: str | None = "text/html") -> Article:
    article = extract_article(body, URL, content_type)
    assert article is not None
    return article


def normal(text: str) -> str:
    return " ".join(text.casefold().split())


def html_page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head>{head}<title>T</title></head><body>{body}</body></html>"


STORY = "".join(
    f"<p>Paragraph {n}: the council said the water supply to the eastern districts would be "
    f"restored within {n + 2} days, and that tankers would serve the schools meanwhile.</p>"
    for n in range(6)
)


# -- the corpus ----------------------------------------------------------------------------


@pytest.mark.parametrize("slug", sorted(INDEX))
def test_every_corpus_page_yields_its_key_phrase(slug: str) -> None:
    article = extract(page(slug))
    assert normal(INDEX[slug]["key"]) in normal(article.text)


def test_the_key_phrase_in_the_tenth_paragraph_is_extracted_as_its_own_paragraph() -> None:
    tenth = expected("02-deep-feature").split("\n\n")[9]
    assert "martial law" in tenth
    article = extract(page("02-deep-feature"))
    assert tenth in article.text.split("\n\n")
    assert article.text.startswith("The wells in Harrow district began to fail in June")


def test_paragraphs_are_separated_by_blank_lines() -> None:
    article = extract(page("04-divsoup-hospital"))
    assert article.text.split("\n\n") == expected("04-divsoup-hospital").split("\n\n")


BOILERPLATE = {
    "01-wire-seed": [
        "Skip to content",  # navigation
        "We use cookies",  # cookie banner
        "Share on Facebook",  # share buttons
        "Central bank holds rates",  # related stories
        "Every government since 2005",  # comments
        "All rights reserved",  # footer
        "Advertisement",  # inline ad
        "a state of emergency was declared. AA",  # figure caption and credit
    ],
    "02-deep-feature": ["The morning briefing", "Read more", "Continue reading below"],
    "05-paywall-port": ["Subscribe to continue reading", "for the first 3 months"],
    "11-blog-comments": ["Leave a Reply", "Sending thoughts to everyone", "Recent Posts"],
    "13-spanish-inline": ["Utilizamos cookies", "Te puede interesar", "Todos los derechos"],
}


@pytest.mark.parametrize(
    ("slug", "phrase"), [(slug, p) for slug, ps in BOILERPLATE.items() for p in ps]
)
def test_boilerplate_is_not_in_the_text(slug: str, phrase: str) -> None:
    assert normal(phrase) in normal(page_text(slug)), "the page has it"
    assert normal(phrase) not in normal(extract(page(slug)).text)


def test_title_and_published_come_from_the_page_metadata() -> None:
    article = extract(page("01-wire-seed"))
    assert article.title == INDEX["01-wire-seed"]["title"]
    assert article.published == datetime(2022, 1, 6, 10, 15, tzinfo=UTC)


def test_a_page_without_a_date_has_none() -> None:
    article = extract(html_page(f"<article><h1>Water</h1>{STORY}</article>").encode())
    assert article.published is None
    assert "Paragraph 5" in article.text


# -- not HTML, or no article ----------------------------------------------------------------

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"0" * 500
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + zlib.compress(b"\x00" * 400)
JSON = json.dumps({"title": "Water", "body": "<p>" + "restored " * 80 + "</p>"}).encode()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (PDF, "application/pdf"),
        (PDF, "text/html"),  # a server that says HTML about a PDF
        (PDF, None),
        (PNG, "image/png"),
        (PNG, "application/octet-stream"),
        (JSON, "application/json"),
        (JSON, None),
        (JSON, "text/html; charset=utf-8"),
        (b"Just a line of plain text about the water supply.\n" * 20, "text/plain"),
        (b"", "text/html"),
    ],
)
def test_non_html_is_none(body: bytes, content_type: str | None) -> None:
    assert extract_article(body, URL, content_type) is None


@pytest.mark.parametrize(
    "html",
    [
        html_page("", head="<script>" + "var story = 'restored within days';" * 2000 + "</script>"),
        html_page("<script>document.write('<p>" + "restored " * 300 + "</p>')</script>"),
        html_page("<style>" + "p { color: red }\n" * 3000 + "</style>"),
        html_page("<noscript>Please enable JavaScript to read this story.</noscript>"),
        html_page(""),
    ],
    ids=["script-in-head", "script-in-body", "style-only", "noscript-only", "empty-body"],
)
def test_a_page_of_scripts_and_styles_only_is_none(html: str) -> None:
    assert extract_article(html.encode(), URL, "text/html") is None


@pytest.mark.parametrize("content_type", [None, "", "application/octet-stream", "text/plain"])
def test_html_with_a_vague_type_is_sniffed(content_type: str | None) -> None:
    article = extract(html_page(f"<article>{STORY}</article>").encode(), content_type)
    assert "Paragraph 3" in article.text


@pytest.mark.parametrize(
    ("body", "content_type", "result"),
    [
        (b"<!doctype html><p>x", None, True),
        (b"\xef\xbb\xbf  \n<html lang=en>", "application/octet-stream", True),
        (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">', None, True),
        (b"<?xml version='1.0'?><rss version='2.0'>", "application/xml", False),
        (b'{"a": 1}', None, False),
        (b"<html>", "image/svg+xml", False),
        (b"  [1, 2]", "text/html", False),
        (b"%PDF-1.4", "text/html", False),
        (b"<html>", "TEXT/HTML; Charset=UTF-8", True),
        (b"hello <b>world</b>", "text/plain", False),
    ],
)
def test_is_html(body: bytes, content_type: str | None, result: bool) -> None:
    assert is_html(body, content_type) is result


# -- encodings -----------------------------------------------------------------------------

FRENCH = "L’eau est montée d’un mètre : les écoles resteront fermées à Alès."
RUSSIAN = "В Якутии ввели режим чрезвычайной ситуации из-за лесных пожаров."


def story_in(sentence: str, encoding: str, head: str = "") -> bytes:
    paras = "".join(f"<p>{sentence} ({n})</p>" for n in range(8))
    return html_page(f"<article><h1>Titre</h1>{paras}</article>", head).encode(encoding)


@pytest.mark.parametrize(
    ("sentence", "encoding", "content_type", "head"),
    [
        (FRENCH, "cp1252", "text/html; charset=ISO-8859-1", ""),  # as browsers read latin-1
        (FRENCH, "cp1252", "text/html", '<meta charset="iso-8859-1">'),
        (FRENCH, "cp1252", "text/html", '<meta http-equiv="Content-Type" content="text/html; '
         'charset=iso-8859-1">'),
        (RUSSIAN, "cp1251", "text/html; charset=windows-1251", ""),
        (RUSSIAN, "cp1251", "text/html", "<meta charset=windows-1251>"),
        (RUSSIAN, "cp1251", "text/html; charset=windows-1251", '<meta charset="utf-8">'),
        (RUSSIAN, "cp1251", "text/html", ""),  # undeclared: detected
        (RUSSIAN, "koi8-r", "text/html; charset=koi8-r", ""),
        (FRENCH, "utf-8", "text/html", ""),  # undeclared UTF-8
        (FRENCH, "utf-8", "text/html; charset=bogus-charset", ""),  # unknown label: UTF-8 found
        (FRENCH, "utf-8", "text/html; charset=punycode", ""),  # not a web encoding: ignored
    ],
)  # fmt: skip
def test_pages_decode_right(sentence: str, encoding: str, content_type: str, head: str) -> None:
    article = extract(story_in(sentence, encoding, head), content_type)
    assert f"{sentence} (0)" in article.text.split("\n\n")


def test_the_corpus_pages_decode_from_their_meta_charset() -> None:
    assert "режим чрезвычайной ситуации" in extract(page("08-russian-cp1251")).text
    assert "écoles resteront fermées jusqu'à lundi" in extract(page("07-legacy-latin1")).text


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        (b"\xef\xbb\xbf<p>caf\xc3\xa9", "text/html; charset=windows-1251", "<p>café"),  # BOM wins
        ("<p>café".encode("utf-16-le"), "text/html; charset=utf-16le", "<p>café"),
        (b'<meta charset="utf-16"><p>caf\xc3\xa9', None, '<meta charset="utf-16"><p>café'),
        (b"<p>caf\xc3\xa9 \xe2\x80", None, "<p>café \ufffd"),  # a character cut off at the end
        (f"<p>{FRENCH}</p>".encode("cp1252"), "text/html; charset=undefined", f"<p>{FRENCH}</p>"),
    ],
)
def test_decode_html(body: bytes, content_type: str | None, text: str) -> None:
    assert decode_html(body, content_type) == text


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("ISO-8859-1", "cp1252"),
        ("latin1", "cp1252"),
        ("us-ascii", "cp1252"),
        ("windows-1251", "cp1251"),
        (" UTF8 ", "utf-8"),
        ("x-sjis", "cp932"),
        ("gb2312", "gb18030"),
        ("koi8-r", "koi8-r"),
        ("punycode", None),
        ("unicode_escape", None),
        ("rot13", None),
        ("no-such-charset", None),
        ("", None),
        (None, None),
    ],
)
def test_web_codec(label: str | None, codec: str | None) -> None:
    assert web_codec(label) == codec


# -- size and hostile input ----------------------------------------------------------------


def test_a_10_mib_page_returns_text_capped() -> None:
    para = "<p>Update {n}: crews restored power to another {n} homes in the eastern districts.</p>"
    body = "".join(para.format(n=n) for n in range(10 * MIB // len(para)))
    html = html_page(f"<article>{body}</article>").encode()
    assert len(html) > 10 * MIB
    article = extract(html)
    assert MAX_TEXT_CHARS // 2 < len(article.text) <= MAX_TEXT_CHARS
    assert article.text.startswith("Update 0: crews restored power")
    assert article.text.split("\n\n")[-1].endswith("eastern districts.")  # cut between paragraphs


@pytest.mark.parametrize(
    "html",
    [
        "<html><body>" + "<div>" * 200_000 + "deep" + "</div>" * 200_000,
        "<html><body>" + "<span>" * 50_000 + "<b><i>" * 50_000,
        "<html><body><table>" + "<tr><td>" * 100_000,
        "<html><body><p>" + "word " * (3 * MIB),
        "<html>" + "<!--" * 100_000,
        "<html><body>" + "&#" * MIB,
    ],
    ids=["nested-divs", "unclosed-inline", "unclosed-table", "one-huge-paragraph", "comments",
         "broken-entities"],
)  # fmt: skip
def test_hostile_pages_return_without_raising(html: str) -> None:
    article = extract_article(html.encode(), URL, "text/html")
    assert article is None or len(article.text) <= MAX_TEXT_CHARS


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=3000) | st.text(max_size=3000).map(lambda t: t.encode()),
    content_type=st.sampled_from([None, "text/html", "text/html; charset=x-junk", "text/plain"]),
)
def test_any_bytes_give_an_article_or_none(body: bytes, content_type: str | None) -> None:
    result = extract_article(b"<html><body><p>" + body, URL, content_type)
    assert result is None or (result.text and len(result.text) <= MAX_TEXT_CHARS)


@pytest.mark.parametrize(
    ("text", "limit", "result"),
    [
        ("short", 100, "short"),
        ("one two\n\nthree four\n\nfive six", 24, "one two\n\nthree four"),
        ("alpha beta gamma delta", 15, "alpha beta"),
        ("x" * 50, 20, "x" * 20),
    ],
)
def test_cap_text(text: str, limit: int, result: str) -> None:
    assert cap_text(text, limit) == result


# -- the corpus is what its generator writes ------------------------------------------------


def test_the_corpus_matches_its_generator(tmp_path: Path) -> None:
    from bench import article_texts

    if not article_texts.SEED.exists():  # outside the repository: a clone elsewhere lacks it
        pytest.skip(f"the corpus's seed report is not at {article_texts.SEED}")
    from bench.article_pages import write_corpus

    written = write_corpus(tmp_path)
    assert len(written) >= 12
    for path in sorted(tmp_path.iterdir()):
        assert path.read_bytes() == (CORPUS / path.name).read_bytes(), path.name
