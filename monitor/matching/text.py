"""Text preparation: an entry's fields as plain, normalized text, prepared once per entry.

Two forms per field:

- *display* text: HTML removed with a real parser (selectolax/lexbor), entities
  decoded, NFKC, soft hyphens and zero-width characters dropped, whitespace
  runs (no-break spaces included) as one space. Snippets are cut from it.
- *normalized* text: the display text case-folded, and every run of spaces and
  hyphens between two words as one space. Rules are matched against it.

``FieldText.display_offset`` gives, for a character of the normalized text, the
display offset it came from; it is only needed to place a snippet, so it runs for
matches, not for every entry. It maps through the stretches between folded runs
(``norm_segments``), or, where case folding changed lengths (ß to ss), through
``normalize_with_offsets``' offset per character. Pure: no I/O.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from html import unescape

from selectolax.lexbor import LexborHTMLParser

FIELDS = ("title", "summary", "content", "article")  # article: the linked page, when fetched

BLOCK_TAGS = (
    "address|article|aside|blockquote|br|dd|div|dl|dt|figcaption|figure|footer|h[1-6]|header|hr"
    "|li|main|nav|ol|p|pre|section|table|tbody|td|tfoot|th|thead|tr|ul|img|iframe|option"
)
# The "<" of each block tag, which gets a space before it (BLOCK_RE.sub(BLOCK_SPACE, html)):
# starting on a literal, the pattern is searched for rather than tried at every offset.
BLOCK_RE = re.compile(rf"<(?=/?(?:{BLOCK_TAGS})\b)", re.I)
BLOCK_SPACE = " <"
DROPPED_TAGS = ["script", "style", "noscript", "template", "head"]
INVISIBLE_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f\u00ad\u200b\u200c\u200d\u2060\ufeff]")
HYPHENS = "\\-\u2010\u2011"
FOLD_RE = re.compile(rf"(?<=\w)[\s{HYPHENS}]+(?=\w)")
# FOLD_RE as it applies to display text, whose only space is " " (to_display): there a run
# is changed only if it holds a hyphen, which is its first character or its second, after
# a space. Each such run is found from its first hyphen, a rare character (several times
# faster than trying FOLD_RE's lookbehind at every offset; tests/test_matching.py holds
# the two equal), and a space before it stays as the run's one space (_folded_run). Only
# these runs shift normalized text against display text (norm_segments).
HYPHEN_RUN_RE = re.compile(
    rf"[{HYPHENS}](?:(?<=\w [{HYPHENS}])|(?<=\w[{HYPHENS}]))[ {HYPHENS}]*(?=\w)"
)
WORD_CHAR_RE = re.compile(r"\w")
WORDS_RE = re.compile(r"(\w+)")  # split with the words kept
MARK = "\x01"
MAX_PARSED_TAGS = 20_000  # more than any real entry; past it tags are stripped by pattern
TAG_RE = re.compile(r"<[^<>]*>")


def html_to_text(html: str) -> str:
    """The text of an HTML fragment or document; plain text passes through unchanged.

    Block-level tags separate words (``a</p><p>b`` is two words) while inline
    tags do not (``emer<b>gency</b>`` is one).
    """
    if not html or ("<" not in html and "&" not in html):
        return html
    if html.count("<") > MAX_PARSED_TAGS:
        return _strip_tags(html)
    tree = LexborHTMLParser(BLOCK_RE.sub(BLOCK_SPACE, html))
    tree.strip_tags(DROPPED_TAGS)
    root = tree.body if tree.body is not None else tree.root
    if root is None:
        return ""
    return root.text(deep=True, separator="", strip=False)


def _strip_tags(html: str) -> str:
    """The text of markup with too many tags to parse: tags removed by pattern, block tags
    as spaces, entities decoded (what a script or style holds stays in). lexbor's time
    grows with the square of nesting depth (32k nested tags: 1.6 s; the 200k a 1 MB field
    can hold: about a minute), and matching runs while this process's writes wait."""
    return unescape(TAG_RE.sub("", BLOCK_RE.sub(BLOCK_SPACE, html)))


def page_title(html: str) -> str:
    """The ``<title>`` of an HTML document, as text ("" when it has none)."""
    node = LexborHTMLParser(html).css_first("title")
    return node.text(deep=True) if node is not None else ""


def to_display(text: str) -> str:
    """Plain text as snippets show it: NFKC, invisible characters dropped, spaces folded."""
    # A no-break space (``&nbsp;``, in most HTML) is NFKC's space, and the one character of
    # most news text that NFKC changes: with it, NFKC rewrites the whole text (49 us for a
    # 3 KB article), without it, NFKC only checks it (4 us). The result is the same.
    text = unicodedata.normalize("NFKC", text.replace("\xa0", " "))
    return " ".join(INVISIBLE_RE.sub("", text).split())  # split(): runs of \s, ends dropped


def normalize(display: str) -> str:
    """Display text (``to_display``'s) as rules see it: case-folded, hyphen and space runs
    between words folded."""
    return HYPHEN_RUN_RE.sub(_folded_run, display.casefold())


def _folded_run(run: re.Match[str]) -> str:
    """What HYPHEN_RUN_RE's ``run`` folds to: nothing after the space it started with, else
    one space."""
    return "" if run.string[run.start() - 1] == " " else " "


def norm_segments(display: str, norm: str) -> list[tuple[int, int]] | None:
    """Where ``norm`` (``normalize(display)``) and ``display`` shift against each other:
    ``(norm offset, display offset)`` pairs, each starting a stretch where the two advance
    together; None when case folding changed the text's length (ß to ss), where only
    ``normalize_with_offsets`` maps them. Only folded runs shift the two, so a field costs
    a pair per hyphen run instead of a number per character."""
    folded = display.casefold()
    if len(folded) != len(display):
        return None
    segments = [(0, 0)]
    shift = 0
    for run in HYPHEN_RUN_RE.finditer(folded):  # only the runs normalize changes shift
        start, end = run.span()
        if folded[start - 1] == " ":  # the space the run started with
            start -= 1
        shift += end - start - 1  # the run became one space, at norm offset start - old shift
        segments.append((end - shift, end))
    return segments


def normalize_with_offsets(display: str) -> tuple[str, list[int]]:
    """``normalize(display)`` and, per character of it, the display offset it came from."""
    text = display.casefold()
    if len(text) == len(display):  # every character folded to one (no ß -> ss): 1:1 offsets
        return _fold_runs(text, range(len(text)))
    folded: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(display):
        lowered = char.casefold()
        folded.append(lowered)
        origin.extend([i] * len(lowered))
    return _fold_runs("".join(folded), origin)


def _fold_runs(text: str, origin: Sequence[int]) -> tuple[str, list[int]]:
    """Fold hyphen and space runs in case-folded ``text``, carrying each character's origin."""
    out: list[str] = []
    offsets: list[int] = []
    pos = 0
    for run in FOLD_RE.finditer(text):
        out.append(text[pos : run.start()])
        offsets.extend(origin[pos : run.start()])
        out.append(" ")
        offsets.append(origin[run.start()])
        pos = run.end()
    out.append(text[pos:])
    offsets.extend(origin[pos:])
    return "".join(out), offsets


def has_word_char(text: str) -> bool:
    return WORD_CHAR_RE.search(text) is not None


def mark_words(norm: str) -> str:
    """``norm`` with a MARK at both ends of every word, so plain substring search is whole-word.

    ``"state of emergency"`` becomes ``"|state| |of| |emergency|"`` (MARK shown as ``|``);
    a phrase marked the same way occurs in a marked text exactly where it occurs as whole
    words, and ``"|protest"`` (a prefix: no closing MARK) where a word starts with it.
    """
    # A MARK between the pieces split around each word: one at every word boundary. Display
    # text never holds MARK: to_display drops C0.
    return MARK.join(WORDS_RE.split(norm))


@dataclass(frozen=True)
class FieldText:
    """One field of an entry: display text, normalized text, and the normalized text marked."""

    display: str
    norm: str
    marked: str

    def display_offset(self, index: int) -> int:
        """The offset in ``display`` that character ``index`` of ``norm`` came from."""
        segments = self._segments
        if segments is None:
            return self._offsets[index]
        norm_at, display_at = segments[bisect_right(segments, (index, sys.maxsize)) - 1]
        return display_at + index - norm_at

    @cached_property
    def _segments(self) -> list[tuple[int, int]] | None:
        return norm_segments(self.display, self.norm)

    @cached_property
    def _offsets(self) -> list[int]:
        return normalize_with_offsets(self.display)[1]

    def marks_before(self, offset: int) -> int:
        """How many MARKs ``marked`` holds before ``offset``: word ``k`` is between marks ``2k``
        and ``2k+1``. Counted in place in a field of ordinary length (a few hits in a few
        KB), looked up in the offsets of every MARK, found once, in a long one."""
        if len(self.marked) <= COUNT_MARKS_UP_TO:
            return self.marked.count(MARK, 0, offset)
        return bisect_left(self._marks, offset)

    @cached_property
    def _marks(self) -> list[int]:
        """Offsets of every MARK in ``marked``."""
        return [m.start() for m in MARK_RE.finditer(self.marked)]


MARK_RE = re.compile(MARK)
# Up to this length a field's MARKs before a hit are counted, not listed and bisected.
COUNT_MARKS_UP_TO = 50_000
# A bound on the work one entry can cost: a 5 MB body is matched on its first million
# characters (a long article is a few tens of thousands).
MAX_FIELD_CHARS = 1_000_000


def prepare_field(raw: str) -> FieldText:
    if not raw:  # most entries have no content, and none has an article in a parse worker
        return EMPTY_FIELD
    display = to_display(html_to_text(raw))
    norm = normalize(display)
    return FieldText(display, norm, mark_words(norm))


EMPTY_FIELD = FieldText("", "", "")


@dataclass(frozen=True)
class PreparedEntry:
    """An entry's title, summary, content and article text, prepared once for every rule."""

    fields: dict[str, FieldText]


def prepare_entry(title: str, summary: str, content: str, article: str = "") -> PreparedEntry:
    """Each field as rules see it; only its first MAX_FIELD_CHARS characters are read.

    ``article`` is the text extracted from the entry's linked page (``fetch_articles``),
    empty until it has been fetched.
    """
    raw = {"title": title, "summary": summary, "content": content, "article": article}
    raw = {name: value[:MAX_FIELD_CHARS] for name, value in raw.items()}
    return PreparedEntry({name: prepare_field(raw[name]) for name in FIELDS})
