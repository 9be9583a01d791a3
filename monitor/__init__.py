"""feed-monitor: watch RSS/Atom feeds and alert when a story matches a rule."""

from __future__ import annotations

__version__ = "0.1.0"
