"""Who computes: on PostgreSQL one process at a time (a transaction-scoped advisory lock); on
SQLite the single writer lock (BEGIN IMMEDIATE) already serialises the computation."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

# Arbitrary but fixed: every process of this bot must use the same number.
COMPUTE_LOCK_KEY = 0x6F636F70  # "ocop"


async def compute_lock(s: AsyncSession, *, wait: bool) -> bool:
    """Take the compute lock for the rest of this transaction.

    ``wait=False`` (the scheduler) returns False at once when another process holds it: that
    process is computing the same fires. ``wait=True`` (the CLI) queues behind it instead.
    """
    conn = await s.connection()
    if conn.dialect.name != "postgresql":
        return True
    if wait:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": COMPUTE_LOCK_KEY})
        return True
    got = await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": COMPUTE_LOCK_KEY})
    return bool(got.scalar())
