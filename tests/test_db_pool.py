"""Pooled PostgreSQL connections: one that the server dropped while it sat in the pool (a
restart, an idle timeout) is found and replaced before a transaction would fail on it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ocop_core.db import make_engine
from tests.conftest import _admin_engine


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(pid: int) -> None:
    admin = await _admin_engine()
    try:
        async with admin.connect() as conn:
            # The timeout (ms) waits until the backend is gone, so the next use meets a dead end.
            gone = await conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            assert gone.scalar_one() is True
    finally:
        await admin.dispose()


async def test_a_connection_dropped_while_idle_is_replaced_before_use(pg_url: str) -> None:
    checked = make_engine(pg_url, ping_after_idle=0.0, pool_size=1, max_overflow=0)
    unchecked = make_engine(pg_url, ping_after_idle=3600.0, pool_size=1, max_overflow=0)
    try:
        first = await _backend_pid(checked)
        await _terminate(first)
        assert await _backend_pid(checked) != first  # pinged, found dead, a new connection
        # Used within the idle time, a connection is not pinged: the drop surfaces as an error
        # (the inbox and the outbox then retry), which is why the idle time is short.
        await _terminate(await _backend_pid(unchecked))
        with pytest.raises(DBAPIError):
            await _backend_pid(unchecked)
        assert await _backend_pid(unchecked) > 0  # the pool replaced it after the error
    finally:
        await checked.dispose()
        await unchecked.dispose()
