"""YAML loading that remembers where every value stood, for ``file:line: field`` errors.

PyYAML's composer gives each node its start mark; we walk the node tree once to
build plain Python data and, beside it, a map from field path to line number.
Duplicate keys, which PyYAML would silently overwrite, are reported. Whatever the text,
loading ends in data or a YamlSyntaxError with a line: deep nesting, recursive or
exploding aliases, unknown tags and values PyYAML cannot construct included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class YamlSource:
    """Loaded data, the line of every path in it, and problems found while loading."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[tuple[Path, str]] = field(default_factory=list)

    def line_of(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


class YamlSyntaxError(Exception):
    """The text is not YAML; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


MAX_DEPTH = 100  # collections inside collections; a real config needs five
MAX_ALIASED_VALUES = 100_000  # values copied by aliases: stops "billion laughs" documents

_MERGE_TAG = "tag:yaml.org,2002:merge"
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # what PyYAML counts as a new line


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing documents nested deeper than MAX_DEPTH.

    The composer recurses once per level, so ``[[[[...]]]]`` would otherwise exhaust
    Python's stack before any error could name its line.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_yaml(text: str) -> YamlSource:
    """Parse ``text``; raises YamlSyntaxError with the line of the first syntax error."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # NUL, most control characters
        line = len(_LINE_BREAK.findall(text, 0, exc.position)) + 1
        raise YamlSyntaxError(str(exc).splitlines()[0], line) from exc
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(_marked_message(exc), line) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError((str(exc).strip().splitlines() or ["invalid YAML"])[0], 1) from exc
    finally:
        loader.dispose()
    source = YamlSource(data=None)
    source.data = _Builder(loader, text, source).build(root, ()) if root is not None else {}
    return source


def _marked_message(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem, with its context where the problem alone does not say what is wrong."""
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    if exc.context and problem.startswith("but "):  # "but found another document"
        return f"{exc.context}, {problem}"
    if exc.context and problem == "second occurrence":  # a duplicate anchor
        first = f" (first on line {exc.context_mark.line + 1})" if exc.context_mark else ""
        return exc.context.removesuffix("; first occurrence") + first
    return problem


class _Builder:
    """Walks the node tree, building plain data and recording lines and problems.

    Aliases make the node tree a graph: a value reached again through an alias is copied,
    a collection that contains an alias to itself is refused, and so is a document whose
    aliases copy more than MAX_ALIASED_VALUES values.
    """

    def __init__(self, loader: _Loader, text: str, source: YamlSource) -> None:
        self.loader = loader
        self.text = text
        self.source = source
        self.built: set[int] = set()  # ids of the nodes built so far
        self.open: set[int] = set()  # ids of the collections being built
        self.aliased = 0

    def build(self, node: yaml.Node, path: Path) -> Any:
        line = node.start_mark.line + 1
        self.source.lines.setdefault(path, line)  # a mapping has set its key's line already
        if id(node) in self.built:
            self.aliased += 1
            if self.aliased > MAX_ALIASED_VALUES:
                raise YamlSyntaxError(
                    f"aliases expand to more than {MAX_ALIASED_VALUES} values",
                    self.source.line_of(path[:1]),
                )
        self.built.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, line)
        if id(node) in self.open:
            raise YamlSyntaxError("an alias refers to a collection that contains it", line)
        if len(path) >= MAX_DEPTH:
            raise YamlSyntaxError(f"nested more than {MAX_DEPTH} levels deep", line)
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, line: int) -> Any:
        """The value of a scalar; tags and values PyYAML cannot construct are syntax errors."""
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:  # an unknown tag such as !!python/object, bad base64
            raise YamlSyntaxError(_marked_message(exc), line) from exc
        except (yaml.YAMLError, ValueError, LookupError, AttributeError, TypeError) as exc:
            # PyYAML's constructors trust the resolver and explicit tags: 2026-13-45, 0x_,
            # !!bool maybe, an empty !!int, an int of more than 4300 digits.
            kind = node.tag.rsplit(":", 1)[-1]
            message = f"cannot read this value as {kind} (quote it if it is text)"
            raise YamlSyntaxError(message, line) from exc
        if isinstance(value, str) and _SURROGATE.search(value):
            raise YamlSyntaxError("a \\u escape gives a lone surrogate, not a character", line)
        return value

    def _colon_missing(self, key_node: yaml.Node, value_node: yaml.Node) -> bool:
        """Whether a flow mapping entry (or a ``? key``) was written without ``: value``."""
        if not isinstance(value_node, yaml.ScalarNode) or value_node.value or value_node.style:
            return False
        start, end = key_node.end_mark.index, value_node.start_mark.index
        return start <= end and ":" not in self.text[start:end]

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        source = self.source
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                source.problems.append((path, "merge keys ('<<') are not supported"))
                continue
            if self._colon_missing(key_node, value_node):
                # {type: slack, url "https://..."}: the key holds the value, maybe a secret
                source.problems.append((path, "an entry has no ':' (write key: value)"))
                continue
            key = self.build(key_node, path)
            if not isinstance(key, str | int):
                source.problems.append((path, "mapping keys must be plain strings"))
                continue
            key_path = (*path, key)
            source.lines[key_path] = key_node.start_mark.line + 1
            if key in out:
                source.problems.append((key_path, f"duplicate key {key!r}"))
                continue
            out[key] = self.build(value_node, key_path)
        return out


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute_env(source: YamlSource, env: Mapping[str, str]) -> None:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in every string value; ``$$`` is a ``$``."""
    source.data = _substitute(source.data, (), env, source.problems)


def _substitute(value: Any, path: Path, env: Any, problems: list[tuple[Path, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, (*path, k), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*path, i), env, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        if name in env:
            found = str(env[name])
            if _SURROGATE.search(found):  # bytes that are not UTF-8, decoded by os.environ
                problems.append((path, f"environment variable {name} is not valid UTF-8"))
                return ""
            return found
        if default is not None:
            return default
        problems.append((path, f"environment variable {name} is not set"))
        return ""

    return _VAR.sub(replace, value)


def format_path(path: Path) -> str:
    """``("rules", 1, "query")`` -> ``rules[1].query``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.isprintable() or part != part.strip() or not part:
            out += f"[{part!r}]"  # a key that would not show: "", " ", a line break
        else:
            out += f".{part}" if out else str(part)
    return out
