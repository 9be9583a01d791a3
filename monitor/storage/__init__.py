"""Storage: the only package that talks SQL. ORM rows never leave it."""

from __future__ import annotations

from monitor.storage.db import open_database
from monitor.storage.repo import Storage

__all__ = ["Storage", "open_database"]
