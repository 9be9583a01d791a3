"""The article text of a fetched page, for feeds whose entries carry only a headline.

Pure: bytes in, an ``Article`` or None out, no I/O. The extractor is trafilatura, chosen by
measurement (``python -m bench.extraction``: best word-level F1 on a corpus of news pages
and every key phrase found). Pages are hostile until read:

    body[:10 MiB] | is it HTML? | decode | lxml, scripts and styles dropped | first 1 MiB
        | trafilatura | paragraphs, blank lines between | first 200,000 characters

Decoding follows the browser's order: byte-order mark, the HTTP charset, ``<meta charset>``
or the XML declaration, else UTF-8 if the bytes are valid UTF-8, else detection
(charset-normalizer); labels are read as browsers read them (ISO-8859-1 is windows-1252).
lxml's parser stops at 256 levels of nesting, and trafilatura's time grows faster than
the markup it is given, so only the first ``MAX_MARKUP_CHARS`` of markup left after
scripts and styles are dropped reach it. Any failure is None, never an exception.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import charset_normalizer
import lxml.html
import trafilatura
from lxml import etree
from trafilatura.settings import Document

MAX_PAGE_BYTES = 10 * 1024 * 1024
MAX_MARKUP_CHARS = 1024 * 1024
MAX_TEXT_CHARS = 200_000
# Element types whose content is never article text; dropping them first keeps inline
# scripts and JSON state (often most of a page) from using up the markup cap.
NOT_TEXT = ("script", "style", "noscript", "template", "svg", "math", "iframe", "object")
# Publication dates from the page's metadata (JSON-LD, meta tags, <time>), not a scan of
# every element: the extensive search costs seconds on large pages.
DATE_OPTIONS = {
    "original_date": True,
    "extensive_search": False,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
SNIFFED_TYPES = frozenset(
    {
        "",
        "text/plain",
        "text/xml",
        "application/xml",
        "application/octet-stream",
        "application/unknown",
    }
)
BINARY_MAGIC = (b"%PDF-", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04", b"\x1f\x8b", b"RIFF")
HTML_STARTS = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|title|meta|script|style|iframe|h1|div|font|table|a|"
    rb"b|br|p|article|main|section|header|nav|link|!--)[\s/>]",
    re.IGNORECASE,
)
META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([\w.:+-]{1,40})", re.I)
XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]{0,100}?encoding\s*=\s*[\"']([\w.:+-]{1,40})", re.I)
BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels read as browsers read them (WHATWG Encoding): the superset each really means.
SUPERSETS = {
    "ascii": "cp1252", "iso8859-1": "cp1252", "iso8859-9": "cp1254", "iso8859-11": "cp874",
    "tis-620": "cp874", "windows-874": "cp874", "gb2312": "gb18030", "gbk": "gb18030",
    "euc_kr": "cp949", "shift_jis": "cp932", "x-sjis": "cp932", "big5": "big5hkscs",
    "x-mac-cyrillic": "mac-cyrillic",
}  # fmt: skip
# Legacy encodings by how many pages use them, for breaking near-ties in detection.
COMMON = ("cp1252", "cp1251", "gb18030", "cp932", "euc_jp", "cp1250", "cp949", "big5hkscs")
# Only the encodings of the web: a page naming ``punycode`` or ``unicode_escape`` is not
# decoded with it (some such codecs take quadratic time or interpret escapes).
WEB_CODECS = frozenset(
    "utf-8 utf-16-le utf-16-be cp866 koi8-r koi8-u mac-roman mac-cyrillic cp874 gb18030 "
    "big5hkscs euc_jp iso2022_jp cp932 cp949".split()
    + [f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)]
    + [f"cp125{n}" for n in range(9)]
)

# "discarding data" is trafilatura's warning for every page without an article, which here
# is an ordinary answer (None), not something for the daemon's log.
for _name in ("trafilatura", "htmldate", "courlan"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Article:
    """What a page says: its title, its text (paragraphs between blank lines), its date."""

    title: str | None
    text: str
    published: datetime | None


def extract_article(body: bytes, url: str, content_type: str | None) -> Article | None:
    """The article in ``body`` fetched from ``url``; None for non-HTML or no article text."""
    body = body[:MAX_PAGE_BYTES]
    if not is_html(body, content_type):
        return None
    try:
        doc = _extract(clean_markup(decode_html(body, content_type)), url)
        text = cap_text("\n\n".join(paragraphs(doc.body))) if doc is not None else ""
    except Exception:  # hostile markup can trip any parser; a page without text is None
        return None
    if doc is None or not text:
        return None
    return Article(title=_clean(doc.title) or None, text=text, published=_published(doc.date))


def _extract(markup: str, url: str) -> Document | None:
    """trafilatura as bench.extraction chose it: default balance, no comments, no tables."""
    doc = trafilatura.bare_extraction(
        markup,
        url=url,
        include_comments=False,
        include_tables=False,
        with_metadata=True,
        date_extraction_params=DATE_OPTIONS,
    )
    return doc if isinstance(doc, Document) else None


def is_html(body: bytes, content_type: str | None) -> bool:
    """Whether ``body`` is an HTML page: by its declared type, sniffed when that is vague."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    start = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n\x0c")
    if start.startswith(BINARY_MAGIC):
        return False
    if mime in HTML_TYPES:
        return not start.startswith((b"{", b"["))  # JSON from a server that calls it HTML
    if mime in SNIFFED_TYPES:
        return bool(HTML_STARTS.match(start)) or (start[:5] == b"<?xml" and b"<html" in start)
    return False


def decode_html(body: bytes, content_type: str | None) -> str:
    """``body`` as text: BOM, then the HTTP charset, then the page's own, then detection."""
    for bom, codec in BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    declared = web_codec(_http_charset(content_type)) or web_codec(_page_charset(body[:4096]))
    codec = declared or ("utf-8" if _is_utf8(body) else _detected(body[:65536]))
    return body.decode(codec, errors="replace")


def web_codec(label: str | None) -> str | None:
    """Python's codec for an encoding label as a browser reads it; None if not a web one."""
    if not label:
        return None
    label = label.strip().lower()
    try:
        name = SUPERSETS.get(label) or codecs.lookup(label).name
    except LookupError:
        return None
    name = SUPERSETS.get(name, name)
    return name if name in WEB_CODECS else None


def _http_charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return None


def _page_charset(head: bytes) -> str | None:
    found = XML_ENCODING.match(head) or META_CHARSET.search(head)
    if found is None:
        return None
    label = found.group(1).decode("ascii", errors="replace").lower()
    # A page read as ASCII bytes cannot be UTF-16, whatever it says (WHATWG).
    return "utf-8" if label.startswith("utf-16") else label


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(body) - 3  # a character cut by the size cap still counts
    return True


def _detected(sample: bytes) -> str:
    """The detector's pick among encodings pages still use; ties (cp1250 and cp1252 read
    French alike) go to the commoner. Mac encodings are never guessed: no page uses them."""
    found = [(m, web_codec(m.encoding)) for m in charset_normalizer.from_bytes(sample)]
    usable = [(m, codec) for m, codec in found if codec and not codec.startswith("mac-")]
    if not usable:
        return "cp1252"
    best = usable[0][0]
    tied = [c for m, c in usable if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    return min(tied, key=lambda codec: COMMON.index(codec) if codec in COMMON else len(COMMON))


def clean_markup(html: str) -> str:
    """``html`` without scripts, styles and the like, cut to ``MAX_MARKUP_CHARS``."""
    html = re.sub(r"^\s*<\?xml[^>]*>", "", html)  # lxml refuses a declaration in a str
    tree = lxml.html.document_fromstring(html)
    etree.strip_elements(tree, *NOT_TEXT, with_tail=False)
    etree.strip_elements(tree, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    return lxml.html.tostring(tree, encoding="unicode")[:MAX_MARKUP_CHARS]


def paragraphs(body: etree._Element | None) -> list[str]:
    """The text of each block of trafilatura's output: paragraphs, headings, list items;
    a single line break stays one."""
    if body is None:
        return []
    for br in body.iter("lb"):
        br.tail = "\n" + (br.tail or "")
    blocks = [item for child in body for item in (child if child.tag == "list" else [child])]
    # Old pages write paragraphs as text between <br><br>: a blank line inside a block.
    chunks = (c for b in blocks for c in re.split(r"\n\s*\n", "".join(b.itertext())))
    return [text for text in map(_clean, chunks) if text]


def _clean(text: str | None) -> str:
    """Runs of spaces as one, line breaks kept, blank lines dropped."""
    lines = (" ".join(line.split()) for line in (text or "").splitlines())
    return "\n".join(line for line in lines if line)


def cap_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters at a paragraph break, else at a space."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n\n", limit // 2, limit)
    if cut < 0:
        cut = text.rfind(" ", limit // 2, limit)
    return text[: cut if cut > 0 else limit].rstrip()


def _published(value: str | None) -> datetime | None:
    """The page's date as aware UTC; a date without a zone is read as UTC."""
    try:
        when = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
