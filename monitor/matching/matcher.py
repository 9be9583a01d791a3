"""Every rule compiled into one matcher: an Aho-Corasick automaton over all their terms.

``prepared entry | one automaton pass per field | hits per term | rules with a hit | evaluate``.

Terms are searched in the *marked* text (a MARK at both ends of every word, see
``text.mark_words``), so every automaton hit is already a whole-word (or word
prefix) hit and no boundary check is needed. A rule is only evaluated when one
of its terms occurs: queries that could match without any term (``NOT x``) are
refused by the parser. So the cost per entry is one pass over its text, however
many rules there are. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick

from monitor.matching.query import And, Near, Node, Not, Or, Term, terms
from monitor.matching.snippet import WIDTH, make_snippet
from monitor.matching.text import FIELDS, MARK, FieldText, PreparedEntry, mark_words

# Where a snippet is cut from, by preference: the feed's own text first; the article (the
# linked page) when the match is only there; the title, shown anyway, last.
SNIPPET_FIELDS = ("summary", "content", "article", "title")


@dataclass(frozen=True)
class RuleSpec:
    name: str
    query: Node


@dataclass(frozen=True)
class Match:
    """Why a rule matched an entry: the terms, the field of the snippet, and where."""

    rule: str
    matched: tuple[str, ...]
    field: str
    snippet: str
    highlights: tuple[tuple[int, int], ...]


class Hit:
    """One occurrence in one field: offsets in the marked text of ``text``, and the words it
    spans, counted when first asked (by NEAR, or to place it in a snippet): most hits of a
    long article are neither."""

    __slots__ = ("label", "field", "start", "end", "text", "_marks_to_start", "_marks_to_end")

    def __init__(self, label: str, field: str, start: int, end: int, text: FieldText) -> None:
        self.label, self.field, self.start, self.end, self.text = label, field, start, end, text
        self._marks_to_start = self._marks_to_end = -1

    @property
    def marks_to_start(self) -> int:
        """MARKs before the hit: its first word is ``marks_to_start // 2``."""
        if self._marks_to_start < 0:
            self._marks_to_start = self.text.marks_before(self.start)
        return self._marks_to_start

    @property
    def marks_to_end(self) -> int:
        if self._marks_to_end < 0:
            self._marks_to_end = self.text.marks_before(self.end)
        return self._marks_to_end

    @property
    def first_word(self) -> int:
        return self.marks_to_start // 2

    @property
    def last_word(self) -> int:
        return max(self.first_word, (self.marks_to_end - 1) // 2)


class _Occurrences:
    """Where each automaton key occurs in one entry, with lazy word positions."""

    def __init__(self, entry: PreparedEntry, keys: dict[int, list[tuple[str, int, int]]]):
        self.entry = entry
        self.keys = keys

    def hits(self, key: int, term: Term) -> list[Hit]:
        found = []
        for field, start, end in self.keys.get(key, ()):
            if field not in term.fields:
                continue
            text = self.entry.fields[field]
            if term.prefix:
                end = text.marked.find(MARK, end)
                end = len(text.marked) if end < 0 else end + 1
            found.append(Hit(term.text, field, start, end, text))
        return found


class Matcher:
    """All rules at once; ``match`` tells which of them an entry satisfies, and where."""

    def __init__(self, rules: Sequence[RuleSpec]) -> None:
        self.rules = list(rules)
        self._keys: dict[str, int] = {}
        self._term_key: dict[Term, int] = {}
        self._rules_by_key: dict[int, set[int]] = {}
        for index, rule in enumerate(self.rules):
            for term in terms(rule.query):
                key = self._key(term)
                self._rules_by_key.setdefault(key, set()).add(index)
        self._automaton = ahocorasick.Automaton()
        for pattern, key in self._keys.items():
            self._automaton.add_word(pattern, (key, len(pattern)))
        if self._keys:
            self._automaton.make_automaton()

    def _key(self, term: Term) -> int:
        marked = mark_words(term.norm)
        if term.prefix:
            marked = marked.removesuffix(MARK)
        key = self._keys.setdefault(marked, len(self._keys))
        self._term_key[term] = key
        return key

    def match(self, entry: PreparedEntry, only: Iterable[str] | None = None) -> list[Match]:
        """The rules (all, or those named in ``only``) that ``entry`` satisfies, in rule order."""
        if not self._keys:
            return []
        found = self._scan(entry)
        candidates = sorted({r for key in found for r in self._rules_by_key[key]})
        allowed = set(only) if only is not None else None
        occurrences = _Occurrences(entry, found)
        matches = []
        for index in candidates:
            rule = self.rules[index]
            if allowed is not None and rule.name not in allowed:
                continue
            hits = self._evaluate(rule.query, occurrences)
            if hits is not None:
                matches.append(_describe(rule.name, hits, entry))
        return matches

    def _scan(self, entry: PreparedEntry) -> dict[int, list[tuple[str, int, int]]]:
        found: dict[int, list[tuple[str, int, int]]] = {}
        for field in FIELDS:
            text = entry.fields[field].marked
            if not text:
                continue
            for end, (key, length) in self._automaton.iter(text):
                found.setdefault(key, []).append((field, end + 1 - length, end + 1))
        return found

    def _evaluate(self, node: Node, occ: _Occurrences) -> list[Hit] | None:
        """The hits that make ``node`` true, or ``None`` when it is false."""
        if isinstance(node, Term):
            return occ.hits(self._term_key[node], node) or None
        if isinstance(node, Not):
            return [] if self._evaluate(node.child, occ) is None else None
        if isinstance(node, And):
            hits: list[Hit] = []
            for child in node.children:
                part = self._evaluate(child, occ)
                if part is None:
                    return None
                hits += part
            return hits
        if isinstance(node, Or):
            parts = [self._evaluate(child, occ) for child in node.children]
            true = [p for p in parts if p is not None]
            return [h for p in true for h in p] if true else None
        return self._near(node, occ)

    def _near(self, node: Near, occ: _Occurrences) -> list[Hit] | None:
        left = self._evaluate(node.left, occ)
        right = self._evaluate(node.right, occ) if left else None
        if not left or not right:
            return None
        within = range(node.distance + 1)
        rights = [(b, b.field, b.first_word, b.last_word) for b in right]
        pairs = [
            (a, b)
            for a, field, first, last in [(a, a.field, a.first_word, a.last_word) for a in left]
            for b, b_field, b_first, b_last in rights
            if field == b_field and _words_between(first, last, b_first, b_last) in within
        ]
        return [h for pair in pairs for h in pair] or None


def _words_between(a_first: int, a_last: int, b_first: int, b_last: int) -> int:
    """How many words lie between two hits (first and last words of each) in either order;
    negative when they overlap."""
    if a_first <= b_first:
        return b_first - a_last - 1
    return a_first - b_last - 1


def _describe(rule: str, hits: list[Hit], entry: PreparedEntry) -> Match:
    labels = tuple(dict.fromkeys(h.label for h in hits))
    field = next((f for f in SNIPPET_FIELDS if any(h.field == f for h in hits)), "title")
    text = entry.fields[field]
    # Display offsets grow with marked ones, and the snippet shows WIDTH characters from
    # about its first hit: the hits after it are placed only until one starts past that.
    spans: list[tuple[int, int]] = []
    for hit in sorted((h for h in hits if h.field == field), key=_marked_span):
        span = _display_span(text, hit)
        if spans and span[0] > max(spans[0][0] + WIDTH, spans[0][1]):  # past the snippet
            break
        spans.append(span)
    snippet, highlights = make_snippet(text.display, spans)
    return Match(rule, labels, field, snippet, highlights)


def _marked_span(hit: Hit) -> tuple[int, int]:
    return hit.start, hit.end


def _display_span(text: FieldText, hit: Hit) -> tuple[int, int]:
    """A hit's offsets in the marked text, as offsets in the display text."""
    start = hit.start - hit.marks_to_start
    end = hit.end - hit.marks_to_end
    start = max(0, min(start, len(text.norm) - 1))
    end = max(start + 1, min(end, len(text.norm)))
    return text.display_offset(start), text.display_offset(end - 1) + 1
