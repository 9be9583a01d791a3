"""A changed feed parsed and matched in a parse worker, so the main process, which stores
polls one at a time, only stores the result.

Preparing an entry's text for the rules (``prepare_entry``) and running them cost the
main process more than anything else in a poll that brings new entries, and a parse
worker has the time: its core is otherwise idle whenever few feeds changed. Every entry
of the body is matched, not only those the database lacks (which those are is known
only once the poll is stored), except, on a feed's first poll, those older than its
backlog window, which never alert.

The rules reach the workers as a file: the main process writes each matcher's rules
once (``RulesFile``) and every task names the file; a worker builds its matcher from
the file the first time it sees the name and keeps it until the name changes (a
reload). The caller knows which matcher a task's matches came from, and uses them only
while that matcher is still the alerter's. The files' directory goes when the pool
closes; one left by a monitor that was killed goes when the next one writes its rules.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from monitor.grouping import signature
from monitor.matching.matcher import Matcher
from monitor.matching.text import prepare_entry
from monitor.models import ParsedEntry, ParsedFeed
from monitor.parse import parse_feed

_loaded: dict[str, Matcher] = {}  # in a worker: its matcher, by the rules file it came from
PREFIX = "feed-monitor-rules-"  # then the pid of the monitor that made the directory


def parse_matched(
    body: bytes, content_type: str | None, url: str | None, rules: str, since: datetime | None
) -> ParsedFeed:
    """``parse_feed``, each entry with the rules of file ``rules`` that it matches
    (``ParsedEntry.matches``) and, when it matches any, its story signature (storage
    groups the entries that alert): those published since ``since`` or undated, or
    every entry when ``since`` is None."""
    parsed = parse_feed(body, content_type, url)
    matcher = _matcher(rules)
    for entry in parsed.entries:
        if since is None or entry.published is None or entry.published >= since:
            match_entry(matcher, entry)
    return parsed


def match_entry(matcher: Matcher, entry: ParsedEntry) -> None:
    """Set ``entry``'s matches and, when it has any, the signature its story is told by; for
    an entry ``parse_feed`` has just made, which no one else holds yet (a copy of each cost
    2.5% of a changed feed's time in a worker)."""
    prepared = prepare_entry(entry.title, entry.summary, entry.content)
    matches = tuple(matcher.match(prepared))
    sig = signature(entry.title, entry.summary, entry.content, prepared) if matches else None
    object.__setattr__(entry, "matches", matches)
    object.__setattr__(entry, "signature", sig)


def _matcher(path: str) -> Matcher:
    matcher = _loaded.get(path)
    if matcher is None:
        matcher = Matcher(pickle.loads(Path(path).read_bytes()))
        _loaded.clear()  # the rules of an earlier configuration
        _loaded[path] = matcher
    return matcher


class RulesFile:
    """The main process's side: a file of the current matcher's rules, written once per
    matcher, in a directory of its own removed by ``close``."""

    def __init__(self) -> None:
        self._dir: str | None = None
        self._matcher: Matcher | None = None
        self._path = ""
        self._written = 0

    def path_for(self, matcher: Matcher) -> str:
        """The file holding ``matcher``'s rules; a new one when the matcher is new."""
        if matcher is not self._matcher:
            if self._dir is None:
                remove_orphans(Path(tempfile.gettempdir()))
                self._dir = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
            self._written += 1
            path = Path(self._dir, f"rules-{self._written}.pickle")
            path.write_bytes(pickle.dumps(matcher.rules))
            # An earlier file stays until close: a task naming it may still be on its way.
            self._matcher, self._path = matcher, str(path)
        return self._path

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir, self._matcher = None, None


def remove_orphans(parent: Path) -> None:
    """Remove the rules directories in ``parent`` whose monitor is gone (it was killed)."""
    for path in parent.glob(f"{PREFIX}*-*"):
        pid = path.name.removeprefix(PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
