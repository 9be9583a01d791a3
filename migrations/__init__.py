"""Alembic revisions, installed as ``monitor.migrations``."""
