"""The daemon's web endpoint: status page, ``/healthz`` and ``/metrics`` (off by default)."""

from __future__ import annotations

from monitor.web.server import WebServer

__all__ = ["WebServer"]
