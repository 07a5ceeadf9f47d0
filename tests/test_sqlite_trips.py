"""The one-trip SQLite cursor behaves as SQLAlchemy's own: rows, row counts, new ids, many rows
at once, and errors translated to SQLAlchemy's exceptions (the transaction rolled back)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from ocop_core.db import make_engine
from ocop_core.sqlite_trips import OneTripCursor


async def test_results_counts_ids_and_errors(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.sqlite3'}")
    try:
        async with engine.begin() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)  # type: ignore[union-attr]
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
            inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
            assert inserted.lastrowid == 1 and inserted.rowcount == 1
            many = await conn.execute(
                text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
            )
            assert many.rowcount == 2
            updated = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
            assert updated.rowcount == 2
            rows = (await conn.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
            assert [tuple(r) for r in rows] == [(1, "a"), (2, "b!"), (3, "c!")]
            assert (await conn.execute(text("SELECT 1 WHERE 0"))).first() is None
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (name) VALUES ('z')"))
                await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        with pytest.raises(OperationalError):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT * FROM no_such_table"))
        async with engine.connect() as conn:  # the failed transaction left nothing behind
            names = (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
            assert names == ["a", "b!", "c!"]
    finally:
        await engine.dispose()
