"""UTC datetimes on SQLite: the text written is SQLAlchemy's own ``DATETIME`` text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite.base import DATETIME

from monitor.storage.types import UTCDateTime

DIALECT = sqlite.dialect()
OURS = UTCDateTime().bind_processor(DIALECT)
THEIRS = DATETIME().bind_processor(DIALECT)
zones = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
)


@given(moments)
def test_the_text_is_sqlalchemys_for_the_same_moment_in_utc(moment: datetime) -> None:
    assert OURS is not None and THEIRS is not None
    expected = THEIRS(moment.astimezone(UTC).replace(tzinfo=None))
    assert OURS(moment) == expected


def test_whole_seconds_keep_their_microseconds_so_texts_sort_as_moments() -> None:
    assert OURS is not None
    whole = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert OURS(whole) == "2026-11-26 08:00:00.000000"
    assert OURS(whole) < OURS(whole + timedelta(microseconds=1))
    assert OURS(None) is None
    with pytest.raises(ValueError, match="naive"):
        OURS(datetime(2026, 11, 26, 8, 0))


def test_values_written_before_compare_and_read_back_as_aware_utc(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime)
    )
    table.metadata.create_all(engine)
    berlin = timezone(timedelta(hours=1))
    with engine.begin() as conn:
        # a row as SQLAlchemy's own DATETIME wrote it, then one through UTCDateTime
        conn.execute(text("INSERT INTO t (id, at) VALUES (1, '2026-11-26 07:59:59.999999')"))
        conn.execute(table.insert(), [{"id": 2, "at": datetime(2026, 11, 26, 9, 0, tzinfo=berlin)}])
        later = conn.scalars(
            select(table.c.id).where(table.c.at >= datetime(2026, 11, 26, 8, tzinfo=UTC))
        ).all()
        rows = {i: at for i, at in conn.execute(select(table.c.id, table.c.at))}
    engine.dispose()
    assert later == [2]
    assert rows == {
        1: datetime(2026, 11, 26, 7, 59, 59, 999999, tzinfo=UTC),
        2: datetime(2026, 11, 26, 8, 0, tzinfo=UTC),
    }
