"""One trip to aiosqlite's thread per SQL statement instead of four.

SQLAlchemy's aiosqlite adapter makes a cursor, executes, fetches and closes it, each a separate
hand-over to the connection's thread and back to the event loop. Under load every hand-back
waits for the busy loop's turn, and since SQLite has one writer (one connection per process
here, see ``db.py``), a transaction holds the connection for all of those waits: measured with
``bench/telegram_throughput.py``, the waits, not SQLite, limited the bot. This cursor does the
four steps in one function run in the thread. Same results and errors: the function is what
the adapter would do, only not interrupted; server-side cursors are left as they are.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.util import EMPTY_DICT

__all__ = ["use_one_trip_cursor"]


class _Ran:
    """What a statement's sqlite3 cursor reported, read in the thread before it closed."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(
        self, description: Any = None, rowcount: int = -1, lastrowid: int | None = None
    ) -> None:
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1

    def close(self) -> None:
        """Nothing left to close (the adapter calls this when it is done with a result)."""


def _run(
    conn: sqlite3.Connection, operation: Any, parameters: Any, many: bool
) -> tuple[_Ran, Sequence[Any]]:
    """In aiosqlite's thread: execute, fetch what there is, close."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else ()
        return _Ran(cursor.description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False  # the thread closed the sqlite3 cursor already

    def __init__(self, adapt_connection: Any) -> None:  # no trip to make a cursor
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Ran()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            aio = self._connection
            ran, rows = await aio._execute(_run, aio._conn, operation, parameters, many)  # type: ignore[attr-defined]
            self._cursor = ran  # type: ignore[assignment]
            self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._trip(operation, seq_of_parameters, many=True)


def use_one_trip_cursor() -> None:
    """Make every aiosqlite connection of this process use ``OneTripCursor``."""
    AsyncAdapt_aiosqlite_connection._cursor_cls = OneTripCursor
