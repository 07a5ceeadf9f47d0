"""Temporary tables of the reminders pass: one helper defines them, one creates and empties them.

They live per connection: created by the first pass on a connection and kept with it (creating
and dropping nine tables with their indexes was a third of a pass), emptied at the start and at
the end of every pass. Their columns use the same types as the fire table, so values are copied
in the exact stored form on both databases.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    cast,
    func,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.sql.sqltypes import UTCDateTime

from ocop_core.clock import VN_TZ
from ocop_core.models import Account, AccountCommune, Document, Dossier, Fire, Producer

__all__ = [
    "ACCOUNT",
    "ACCOUNT_COMMUNE",
    "DOCUMENT",
    "DOSSIER",
    "FIRE",
    "PRODUCER",
    "WANTED",
    "as_date",
    "create_temp_tables",
    "empty_temp_tables",
    "insert_rows",
    "local_day",
    "slot_columns",
    "temp_table",
    "want",
]

FIRE = Fire.__table__  # type: ignore[attr-defined]
DOSSIER = Dossier.__table__  # type: ignore[attr-defined]
PRODUCER = Producer.__table__  # type: ignore[attr-defined]
ACCOUNT = Account.__table__  # type: ignore[attr-defined]
ACCOUNT_COMMUNE = AccountCommune.__table__  # type: ignore[attr-defined]
DOCUMENT = Document.__table__  # type: ignore[attr-defined]

_TMP = MetaData()


def temp_table(
    name: str, *columns: Column[Any], key: tuple[str, ...] = (), unique: bool = False
) -> Table:
    """A temporary table ``ocop_tmp_<name>`` with an index over ``key``."""
    table = Table(f"ocop_tmp_{name}", _TMP, *columns, prefixes=["TEMPORARY"])
    if key:
        Index(f"ocop_tmp_{name}_key", *(table.c[k] for k in key), unique=unique)
    return table


def slot_columns() -> list[Column[Any]]:
    """What every kind of reminder slot carries into the fire table."""
    return [
        Column("scope", String(160)),
        Column("fire_at", UTCDateTime()),
        Column("deadline", Date),
        Column("payload", JSON),
    ]


# Every fire that should exist now, whatever its kind; the pass upserts the fire table from it.
WANTED = temp_table(
    "wanted",
    Column("subject_type", String(16)),
    Column("subject_id", Integer),
    Column("kind", String(24)),
    Column("recipient_id", Integer),
    *slot_columns(),
    key=("subject_type", "subject_id", "kind", "scope"),
    unique=True,
)


async def want(conn: AsyncConnection, rows: Select[Any]) -> None:
    """Add the fires selected by ``rows`` (in WANTED's column order) to the wanted set."""
    columns = ["subject_type", "subject_id", "kind", "scope", "recipient_id", "fire_at", "deadline"]
    await conn.execute(WANTED.insert().from_select([*columns, "payload"], rows))


async def create_temp_tables(conn: AsyncConnection) -> None:
    """Empty temporary tables for a pass on this connection (created on its first pass)."""
    if await _exist(conn):
        await empty_temp_tables(conn)  # whatever an earlier pass on it left
        return
    for table in _TMP.sorted_tables:
        await conn.run_sync(lambda sync, t=table: t.create(sync))


async def empty_temp_tables(conn: AsyncConnection) -> None:
    """At the end of a pass: the pooled connection keeps no one's data."""
    for table in reversed(_TMP.sorted_tables):
        await conn.execute(table.delete())


async def _exist(conn: AsyncConnection) -> bool:
    """One catalog look-up for all of them: they are created (and rolled back) together."""
    name = WANTED.name
    if conn.dialect.name == "postgresql":
        found = await conn.execute(
            text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f"pg_temp.{name}"}
        )
    else:
        found = await conn.execute(
            text(
                "SELECT count(*) > 0 FROM sqlite_temp_master WHERE type = 'table' AND name = :name"
            ),
            {"name": name},
        )
    return bool(found.scalar())


async def insert_rows(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 2000):
        await conn.execute(table.insert(), rows[i : i + 2000])


def local_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The Vietnamese calendar day of a stored UTC instant, computed by the database."""
    if dialect == "postgresql":
        return cast(func.timezone(str(VN_TZ), column), Date)
    # Vietnam has kept UTC+7 without daylight saving since 1975.
    hours = int((VN_TZ.utcoffset(datetime(2000, 1, 1)) or timedelta()).total_seconds() // 3600)
    return func.date(column, f"{hours:+d} hours")


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
