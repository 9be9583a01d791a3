"""Adding feeds to config.yaml without disturbing anything else in it.

A full YAML round trip re-indents every list, drops the spaces that align
values, moves comment columns and may hang a new item after a comment. So the file
is edited as text instead: ruamel.yaml composes the document to find where the
``feeds:`` list ends (and how it is indented), renders each new item (so quoting is
YAML's, not ours), and the new lines are spliced in there. Every other byte is
kept. The result is then checked twice before it is written: read back, it must be
the old document with exactly these feeds appended, and it must be a valid
configuration. Values are written literally: a ``$`` is written ``$$`` so that
nothing from a page or an OPML file can pull an environment variable into the
configuration.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monitor.config import Config, parse_config
from monitor.errors import ConfigError, MonitorError
from monitor.yamlsource import YamlSyntaxError, load_yaml

DEFAULT_INDENT = 2  # where a new list's dashes go, right of its key, when the file shows none
_NULL_TAG = "tag:yaml.org,2002:null"


class EditError(MonitorError):
    """The feeds list cannot be extended in place, or the file cannot be written."""


@dataclass(frozen=True)
class NewFeed:
    """A feed to add, as its config entry says it; ``comment`` goes on a line above it."""

    url: str
    name: str | None = None
    interval: str | None = None
    rules: tuple[str, ...] | None = None
    comment: str | None = None

    def entry(self) -> dict[str, Any]:
        """The entry as YAML will hold it, every string literal (``$`` doubled)."""
        out: dict[str, Any] = {"url": _literal(self.url)}
        if self.name is not None:
            out["name"] = _literal(self.name)
        if self.interval is not None:
            out["interval"] = _literal(self.interval)
        if self.rules is not None:
            out["rules"] = [_literal(rule) for rule in self.rules]
        return out


def _literal(text: str) -> str:
    return text.replace("$", "$$")


def read_text(path: Path) -> str:
    """The file's text exactly, line endings included; raises EditError."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise EditError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc


def add_feeds(
    path: Path, text: str, feeds: Sequence[NewFeed], env: Mapping[str, str], write: bool = True
) -> tuple[str, Config]:
    """Append ``feeds`` to the configuration ``text`` of ``path`` and write it atomically
    (``write=False``: only check that it can be done). Returns the new text and config.

    Raises ConfigError (nothing written) when the result would not be valid, and
    EditError when the file changed since ``text`` was read or cannot be written.
    """
    new_text = with_feeds(text, feeds)
    try:
        config = parse_config(new_text, str(path), env)
    except ConfigError as exc:
        header = f"{path}: not changed: with the new feeds the configuration would not be valid:"
        raise ConfigError([header, *exc.problems]) from exc
    if not write:
        return new_text, config
    if read_text(path) != text:
        raise EditError(f"{path} changed while the feeds were being added: nothing written")
    write_atomic(path, new_text.encode("utf-8"))
    return new_text, config


def with_feeds(text: str, feeds: Sequence[NewFeed]) -> str:
    """``text`` with ``feeds`` appended to its ``feeds:`` list, every other byte kept."""
    if not feeds:
        return text
    try:
        root = YAML(typ="rt").compose(text)
    except YAMLError as exc:
        raise EditError(f"cannot read the configuration as YAML: {exc}") from exc
    new_text = _splice(text, root, feeds, "\r\n" if "\r\n" in text else "\n")
    _check(text, new_text, feeds)
    return new_text


def _splice(text: str, root: Node | None, feeds: Sequence[NewFeed], nl: str) -> str:
    if root is None:  # an empty file, or only comments
        return _new_key(text, 0, DEFAULT_INDENT, feeds, nl)
    if not isinstance(root, MappingNode) or root.flow_style:
        raise EditError("the configuration is not a block mapping of keys: add the feed by hand")
    key, value = next(((k, v) for k, v in root.value if k.value == "feeds"), (None, None))
    indent = _list_indent(root)
    if key is None or value is None:
        return _new_key(text, root.start_mark.column, indent, feeds, nl)
    if isinstance(value, SequenceNode) and value.value and not value.flow_style:
        return _append_block(text, value, feeds, nl)
    if isinstance(value, SequenceNode) and value.value:
        return _append_flow(text, value, feeds)
    if isinstance(value, SequenceNode) or _is_null(value):
        return _fill_empty(text, key, value, key.start_mark.column + indent, feeds, nl)
    raise EditError("feeds: is neither a list nor empty: add the feed by hand")


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and str(node.tag) == _NULL_TAG


def _list_indent(root: MappingNode) -> int:
    """How far right of its key this file puts a block list's dashes (``rules:``, say)."""
    for key, value in root.value:
        if isinstance(value, SequenceNode) and not value.flow_style and value.value:
            return max(0, value.start_mark.column - key.start_mark.column)
    return DEFAULT_INDENT


def _new_key(text: str, column: int, indent: int, feeds: Sequence[NewFeed], nl: str) -> str:
    """``feeds:`` and its items added at the end of the file."""
    lead = nl if text and not text.endswith("\n") else ""
    items = _block_items(feeds, column + indent, 2, nl)
    return f"{text}{lead}{' ' * column}feeds:{nl}{items}"


def _append_block(text: str, seq: SequenceNode, feeds: Sequence[NewFeed], nl: str) -> str:
    """New items after the last one, in its indentation: after its last line of content
    and after the comment lines indented under it, before any blank line."""
    dash = seq.start_mark.column
    first = seq.value[0]
    offset = first.start_mark.column - dash if first.start_mark.line == seq.start_mark.line else 2
    at = _skip_inner_comments(text, _line_after(text, _content_end(seq)), dash)
    lead = nl if at == len(text) and text and not text.endswith("\n") else ""
    return text[:at] + lead + _block_items(feeds, dash, max(2, offset), nl) + text[at:]


def _append_flow(text: str, seq: SequenceNode, feeds: Sequence[NewFeed]) -> str:
    """New items after the last one of a ``[...]`` list, in flow style too."""
    at = seq.value[-1].end_mark.index
    return text[:at] + "".join(", " + _flow_item(feed) for feed in feeds) + text[at:]


def _fill_empty(
    text: str, key: Node, value: Node, dash: int, feeds: Sequence[NewFeed], nl: str
) -> str:
    """``feeds:``, ``feeds: ~`` or ``feeds: []`` made a block list of the new items."""
    start, end = value.start_mark.index, value.end_mark.index
    if start == end:  # nothing written after ``feeds:``: the list goes below its line
        start = end = key.end_mark.index
    at = _line_after(text, end)
    lead = nl if at == len(text) and not text.endswith("\n") else ""
    while start > 0 and text[start - 1] in " \t":  # ``feeds:`` keeps no trailing space
        start -= 1
    rest = text[end:at]
    if not rest.strip():
        end += len(rest) - len(rest.lstrip(" \t"))
    items = lead + _block_items(feeds, dash, 2, nl)
    return text[:start] + text[end:at] + items + text[at:]


def _content_end(node: Node) -> int:
    """Where the last character of a node's own content is (not the comments after it)."""
    if not isinstance(node, MappingNode | SequenceNode) or node.flow_style or not node.value:
        return int(node.end_mark.index)
    last = node.value[-1]
    if isinstance(node, MappingNode):
        key, value = last
        empty = isinstance(value, ScalarNode) and value.start_mark.index == value.end_mark.index
        return _content_end(key if empty else value)
    return _content_end(last)


def _line_after(text: str, index: int) -> int:
    """The start of the line after the one ``index`` is on (already a line start: itself)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _skip_inner_comments(text: str, at: int, dash: int) -> int:
    """Past the comment lines that are indented under an item, so belong to it."""
    while at < len(text):
        newline = text.find("\n", at)
        line = text[at:] if newline < 0 else text[at : newline + 1]
        body = line.lstrip(" ")
        if not body.startswith("#") or len(line) - len(body) <= dash:
            break
        at += len(line)
    return at


def _block_items(feeds: Sequence[NewFeed], dash: int, offset: int, nl: str) -> str:
    pad = " " * dash
    lines: list[str] = []
    for feed in feeds:
        if feed.comment:
            lines.append(f"{pad}# {' '.join(feed.comment.split())}")
        rendered = _dump(_mapping(feed, flow=False)).splitlines()
        lines.append(pad + "-".ljust(offset) + rendered[0])
        lines.extend(pad + " " * offset + line for line in rendered[1:])
    return nl.join(lines) + nl


def _flow_item(feed: NewFeed) -> str:
    return _dump(_mapping(feed, flow=True)).strip()


def _mapping(feed: NewFeed, flow: bool) -> CommentedMap:
    entry = CommentedMap()
    for key, value in feed.entry().items():
        if isinstance(value, list):
            value = CommentedSeq(value)
            value.fa.set_flow_style()
        entry[key] = value
    if flow:
        entry.fa.set_flow_style()
    return entry


def _dump(data: CommentedMap) -> str:
    """``data`` as YAML 1.1, the version PyYAML reads the configuration in: ``yes``, ``on``
    and ``1:20`` are quoted as text. The ``%YAML 1.1`` directive that this emits is cut."""
    yaml = YAML(typ="rt")
    yaml.version = (1, 1)
    yaml.width = 1 << 16  # never fold a long URL onto a second line
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue().partition("---")[2].lstrip(" \n")


def _check(old_text: str, new_text: str, feeds: Sequence[NewFeed]) -> None:
    """The new text, read back, must be the old document with these feeds appended."""
    try:
        before, after = load_yaml(old_text).data, load_yaml(new_text).data
    except YamlSyntaxError as exc:
        raise EditError(f"cannot add the feeds in place ({exc}): add them by hand") from exc
    expected = dict(before or {})
    expected["feeds"] = list(expected.get("feeds") or []) + [feed.entry() for feed in feeds]
    if after != expected:
        raise EditError("cannot add the feeds in place in this file's layout: add them by hand")


def write_atomic(path: Path, data: bytes, new_mode: int | None = None) -> None:
    """Replace ``path`` (the file a symlink points to) by ``data`` in one step, keeping its
    mode (and owner, where allowed); a new file gets ``new_mode``, else the umask's mode.
    Raises EditError."""
    target = path.resolve()
    try:
        old = target.stat()
    except FileNotFoundError:
        old = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise EditError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        _copy_owner_and_mode(tmp, old, new_mode)
        os.replace(tmp, target)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(tmp)
        raise EditError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _copy_owner_and_mode(tmp: str, old: os.stat_result | None, new_mode: int | None) -> None:
    if old is None and new_mode is not None:
        os.chmod(tmp, new_mode)
        return
    if old is None:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        return
    with suppress(PermissionError):  # only root may give a file away
        os.chown(tmp, old.st_uid, old.st_gid)
    os.chmod(tmp, stat.S_IMODE(old.st_mode))
