"""YAML loading that remembers where every value stood, for ``file:line: field`` errors.

PyYAML's composer gives each node its start mark; we walk the node tree once to
build plain Python data and, beside it, a map from field path to line number.
Duplicate keys, which PyYAML would silently overwrite, are reported.
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


def load_yaml(text: str) -> YamlSource:
    """Parse ``text``; raises YamlSyntaxError with the line of the first syntax error."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(str(exc.problem or exc).strip(), line) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc).strip(), 1) from exc
    source = YamlSource(data=None)
    source.data = _build(root, (), source) if root is not None else {}
    return source


def _build(node: yaml.Node, path: Path, source: YamlSource) -> Any:
    source.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(node, path, source)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), source) for i, item in enumerate(node.value)]
    return yaml.SafeLoader(" ").construct_object(node, deep=True)


def _build_mapping(node: yaml.MappingNode, path: Path, source: YamlSource) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = _build(key_node, path, source)
        if not isinstance(key, str | int):
            source.problems.append((path, "mapping keys must be plain strings"))
            continue
        key_path = (*path, key)
        if key in out:
            source.lines[key_path] = key_node.start_mark.line + 1
            source.problems.append((key_path, f"duplicate key {key!r}"))
            continue
        out[key] = _build(value_node, key_path, source)
        source.lines[key_path] = key_node.start_mark.line + 1
    source.lines[path] = node.start_mark.line + 1
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
            return str(env[name])
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
        else:
            out += f".{part}" if out else str(part)
    return out
