"""The rule language: ``any`` phrase lists and ``query`` boolean expressions, parsed to a tree.

Grammar, loosest first (operators are upper-case; ``and``/``or``/``not`` are words)::

    query    := or_expr
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := not_expr (["AND"] not_expr)*          # AND is implied between terms
    not_expr := "NOT" not_expr | near
    near     := primary ("NEAR/n" primary)*           # within n words, either order
    primary  := [field ":"] ("(" or_expr ")" | "phrase" | word | prefix*)

Every error is a :class:`QueryError` with a reason and a 1-based column. Terms
are normalized here exactly as entry text is (``text.normalize``), so the
matcher compares like with like. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from monitor.errors import QueryError
from monitor.matching.text import FIELDS, has_word_char, normalize, to_display

MIN_PREFIX = 2
MAX_NEAR = 1000
MAX_QUERY_CHARS = 10_000
OPERATORS = {"AND", "OR", "NOT"}
NEAR_RE = re.compile(r"NEAR(?:/(\d+))?$")
SCOPE_RE = re.compile(r"([A-Za-z]+):(.*)$", re.S)


@dataclass(frozen=True)
class Term:
    """A phrase, word or prefix, with the fields it may match in."""

    text: str  # as the user wrote it, for reports
    norm: str  # normalized like entry text
    prefix: bool
    fields: frozenset[str]


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int


Node = Union[Term, And, Or, Not, Near]  # noqa: UP007 - a runtime alias used in isinstance checks


@dataclass(frozen=True)
class Token:
    kind: str  # "(", ")", "phrase", "word", "AND", "OR", "NOT", "NEAR", "scope"
    value: str
    column: int
    distance: int = 0


def parse_query(query: str) -> Node:
    """The tree of ``query``; raises QueryError naming the reason and the column."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"query longer than {MAX_QUERY_CHARS} characters", 1)
    parser = _Parser(tokenize(query))
    if parser.peek() is None:
        raise QueryError("empty query", 1)
    tree = parser.parse_or(None)
    extra = parser.peek()
    if extra is not None:
        reason = "unbalanced parenthesis" if extra.kind == ")" else f"unexpected {extra.value!r}"
        raise QueryError(reason, extra.column)
    _require_positive(tree)
    return tree


def any_of(phrases: list[str]) -> Node:
    """The tree of an ``any:`` list: one of the phrases, each taken literally."""
    if not phrases:
        raise QueryError("the list of phrases is empty", 1)
    return Or(tuple(phrase_term(p, _unquote(p), False, frozenset(FIELDS), 1) for p in phrases))


def _unquote(phrase: str) -> str:
    """``'"state of emergency"'`` in an ``any`` list means the phrase, not its quote marks."""
    stripped = phrase.strip()
    if len(stripped) > 1 and stripped[0] == stripped[-1] == '"':
        return stripped[1:-1]
    return phrase


def phrase_term(text: str, raw: str, prefix: bool, fields: frozenset[str], column: int) -> Term:
    norm = normalize(to_display(raw))
    if not has_word_char(norm):
        what = "phrase" if not text.strip() else f"{text!r}"
        raise QueryError(f"{what} has no letters or digits", column)
    if prefix and len(norm) < MIN_PREFIX:
        raise QueryError(f"prefix {text!r} is too short (at least {MIN_PREFIX} characters)", column)
    return Term(text=text, norm=norm, prefix=prefix, fields=fields)


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(Token(c, c, i + 1))
            i += 1
        elif c == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QueryError("unterminated quote", i + 1)
            tokens.append(Token("phrase", query[i + 1 : end], i + 1))
            i = end + 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in '()"':
                j += 1
            tokens.extend(_word_tokens(query[i:j], i + 1))
            i = j
    return tokens


def _word_tokens(word: str, column: int) -> list[Token]:
    if word in OPERATORS:
        return [Token(word, word, column)]
    near = NEAR_RE.match(word)
    if near:
        if near.group(1) is None:
            raise QueryError("NEAR needs a distance in words, as in NEAR/5", column)
        distance = int(near.group(1))
        if distance > MAX_NEAR:
            raise QueryError(f"NEAR distance above {MAX_NEAR}", column)
        return [Token("NEAR", word, column, distance)]
    scope = SCOPE_RE.match(word)
    if scope:
        name = scope.group(1).lower()
        if name not in FIELDS:
            fields = ", ".join(FIELDS)
            raise QueryError(f"unknown field {scope.group(1)!r} (use {fields})", column)
        rest = scope.group(2)
        scope_token = Token("scope", name, column)
        return [scope_token, *_word_tokens(rest, column + len(name) + 1)] if rest else [scope_token]
    return [Token("word", word, column)]


MAX_DEPTH = 50  # nesting a person writes stays far below; a generated query gets an error


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0  # parentheses and NOTs open: each is a level of recursion here and later

    def deeper(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"nested more than {MAX_DEPTH} levels deep", token.column)

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse_or(self, scope: frozenset[str] | None) -> Node:
        children = [self.parse_and(scope)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            children.append(self.parse_and(scope, after=token))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self, scope: frozenset[str] | None, after: Token | None = None) -> Node:
        children = [self.parse_not(scope, after)]
        while (token := self.peek()) is not None and token.kind not in ("OR", ")"):
            if token.kind == "AND":
                self.take()
                children.append(self.parse_not(scope, after=token))
            else:
                children.append(self.parse_not(scope, None))
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_not(self, scope: frozenset[str] | None, after: Token | None) -> Node:
        token = self.peek()
        if token is not None and token.kind == "NOT":
            self.take()
            self.deeper(token)
            node = Not(self.parse_not(scope, after=token))
            self.depth -= 1
            return node
        return self.parse_near(scope, after)

    def parse_near(self, scope: frozenset[str] | None, after: Token | None) -> Node:
        node = self.parse_primary(scope, after)
        while (token := self.peek()) is not None and token.kind == "NEAR":
            self.take()
            right = self.parse_primary(scope, after=token)
            for side in (node, right):
                if not _near_operand(side):
                    raise QueryError("NEAR joins words, phrases or OR groups", token.column)
            node = Near(node, right, token.distance)
        return node

    def parse_primary(self, scope: frozenset[str] | None, after: Token | None) -> Node:
        token = self.peek()
        if token is None or token.kind in ("OR", "AND", "NEAR", ")"):
            raise self._missing(token, after)
        self.take()
        if token.kind == "scope":
            if scope is not None:
                raise QueryError("a field scope inside another field scope", token.column)
            return self.parse_primary(frozenset({token.value}), after=token)
        fields = scope if scope is not None else frozenset(FIELDS)
        if token.kind == "(":
            self.deeper(token)
            inner = self.parse_or(scope)
            close = self.peek()
            if close is None or close.kind != ")":
                raise QueryError("unbalanced parenthesis", token.column)
            self.take()
            self.depth -= 1
            return inner
        if token.kind == "phrase":
            if not token.value.strip():
                raise QueryError("empty phrase", token.column)
            return phrase_term(token.value, token.value, False, fields, token.column)
        if token.kind == "NOT":
            raise QueryError("NOT needs a term after it", token.column)
        return _word(token, fields)

    def _missing(self, token: Token | None, after: Token | None) -> QueryError:
        if after is not None:
            name = "NEAR" if after.kind == "NEAR" else after.value
            if after.kind == "scope":
                return QueryError(f"field {after.value}: needs a term after it", after.column)
            return QueryError(f"{name} needs a term after it", after.column)
        if token is None:
            return QueryError("query ends where a term was expected", 1)
        if token.kind == ")":
            return QueryError("unbalanced parenthesis", token.column)
        return QueryError(f"{token.value} needs a term before it", token.column)


def _word(token: Token, fields: frozenset[str]) -> Term:
    word = token.value
    prefix = word.endswith("*")
    body = word.rstrip("*") if prefix else word
    if "*" in body or word.count("*") > 1:
        raise QueryError("* is allowed only at the end of a word", token.column + word.index("*"))
    return phrase_term(word, body, prefix, fields, token.column)


def _near_operand(node: Node) -> bool:
    if isinstance(node, Term | Near):
        return True
    if isinstance(node, Or):
        return all(_near_operand(c) for c in node.children)
    return False


def _require_positive(tree: Node) -> None:
    """Reject queries that would match an entry containing none of their terms."""
    if can_match_nothing(tree):
        raise QueryError("a query needs at least one term that is not negated", 1)


def can_match_nothing(node: Node) -> bool:
    """Whether ``node`` is true of an entry in which no term occurs (``NOT x``, ``a OR NOT b``)."""
    if isinstance(node, Term | Near):
        return False
    if isinstance(node, Not):
        return not can_match_nothing(node.child)
    if isinstance(node, And):
        return all(can_match_nothing(c) for c in node.children)
    return any(can_match_nothing(c) for c in node.children)


def terms(node: Node) -> list[Term]:
    """Every term in ``node``, in query order."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return terms(node.child)
    if isinstance(node, Near):
        return terms(node.left) + terms(node.right)
    return [t for child in node.children for t in terms(child)]
