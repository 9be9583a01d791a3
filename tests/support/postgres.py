"""The PostgreSQL server at 127.0.0.1:5432 (trust auth, database ``test``, user ``postgres``).

Each test gets a schema of its own, named in the URL's ``search_path``, so runs
never collide and nothing is left behind. Without a server the tests skip with
the reason, except under CI (``CI=true``), where they fail: CI must run them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.support.ci import skip_unless_ci

HOST, PORT, DATABASE, USER = "127.0.0.1", 5432, "test", "postgres"
BASE_URL = f"postgresql+psycopg://{USER}@{HOST}:{PORT}/{DATABASE}"
START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _connect() -> psycopg.Connection:
    return psycopg.connect(
        host=HOST, port=PORT, dbname=DATABASE, user=USER, connect_timeout=3, autocommit=True
    )


def require_server() -> None:
    """Skip (or, under CI, fail) when no PostgreSQL answers."""
    try:
        _connect().close()
    except psycopg.OperationalError as exc:
        reason = f"no PostgreSQL at {HOST}:{PORT} ({exc}); start it with: {START_HINT}"
        skip_unless_ci(reason, "CI runs the PostgreSQL tests")


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new empty schema; yields the database URL that uses it. Dropped afterwards."""
    require_server()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with _connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{BASE_URL}?options=-csearch_path%3D{schema}"
    finally:
        with _connect() as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
