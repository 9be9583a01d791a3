"""Snippets: about 200 characters of display text around the first match, cut at spaces.

Highlights are ``(start, end)`` offsets into the snippet, so each notifier marks
them its own way (bold in Slack, ``[...]`` at a terminal). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

WIDTH = 200
LEAD = 60
ELLIPSIS = "…"


def make_snippet(
    text: str, spans: Sequence[tuple[int, int]], width: int = WIDTH
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of ``text`` around the first span, and the spans inside it, re-based."""
    if not spans:
        return _cut(text, 0, width), ()
    first_start, first_end = min(spans)
    start = _word_start(text, max(0, first_start - LEAD)) if first_start > LEAD else 0
    end = min(len(text), max(start + width, first_end))
    end = _word_end(text, end, first_end)
    body = text[start:end]
    prefix = ELLIPSIS if start > 0 else ""
    suffix = ELLIPSIS if end < len(text) else ""
    shift = len(prefix) - start
    inside = sorted({(s + shift, e + shift) for s, e in spans if s >= start and e <= end})
    return prefix + body + suffix, tuple(_disjoint(inside))


def _cut(text: str, start: int, width: int) -> str:
    if len(text) <= width:
        return text
    end = _word_end(text, start + width, start)
    return text[start:end] + ELLIPSIS


def _word_start(text: str, pos: int) -> int:
    """``pos`` moved forward past the word it falls in (a window never opens mid-word)."""
    space = text.find(" ", pos, pos + 30)
    return space + 1 if space >= 0 else pos


def _word_end(text: str, pos: int, floor: int) -> int:
    """``pos`` moved back to the space before the word it falls in, never before ``floor``."""
    if pos >= len(text):
        return len(text)
    space = text.rfind(" ", max(floor, pos - 30), pos + 1)
    return space if space > floor else pos


def _disjoint(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans merged, so markers never nest."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(
    snippet: str, spans: Sequence[tuple[int, int]], open_mark: str, close_mark: str
) -> str:
    """``snippet`` with every span wrapped in ``open_mark``/``close_mark``."""
    out, pos = [], 0
    for start, end in _disjoint(sorted(spans)):
        out += [snippet[pos:start], open_mark, snippet[start:end], close_mark]
        pos = end
    out.append(snippet[pos:])
    return "".join(out)
