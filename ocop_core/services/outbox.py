"""The outbox: messages for people other than the sender, delivered later by a dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.models import Account, AccountStatus, Outbox, OutboxStatus

PRIORITY_NOTICE = 3  # a change to the person's own dossier
PRIORITY_REMINDER = 5
PRIORITY_BULK = 7


async def enqueue(
    s: AsyncSession,
    recipient: Account,
    payload: dict[str, Any],
    *,
    key: str,
    now: datetime,
    priority: int = PRIORITY_NOTICE,
) -> Outbox | None:
    """Queue one message; a second call with the same ``key`` changes nothing (None)."""
    existing = (await s.exec(select(Outbox).where(Outbox.idempotency_key == key))).first()
    if existing is not None:
        return None
    row = Outbox(
        account_id=recipient.id or 0,
        channel=recipient.channel,
        chat_id=recipient.chat_id,
        payload=payload,
        priority=priority,
        next_attempt_at=now,
        status=(
            OutboxStatus.STOPPED
            if recipient.status == AccountStatus.STOPPED
            else OutboxStatus.QUEUED
        ),
        idempotency_key=key[:200],
        created_at=now,
    )
    try:
        async with s.begin_nested():
            s.add(row)
            await s.flush()
    except IntegrityError:
        return None  # a concurrent writer queued the same message first
    return row


async def enqueue_many(
    s: AsyncSession,
    items: Sequence[tuple[Account, dict[str, Any], str, int]],
    *,
    now: datetime,
) -> int:
    """Queue (recipient, payload, key, priority) messages in one statement per 500; a key that
    is already queued is skipped (the unique index decides, so concurrent writers cannot double).
    Returns how many rows were new."""
    added = 0
    conn = await s.connection()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for i in range(0, len(items), 500):
        rows = [
            {
                "account_id": recipient.id or 0,
                "channel": recipient.channel,
                "chat_id": recipient.chat_id,
                "payload": payload,
                "priority": priority,
                "attempts": 0,
                "next_attempt_at": now,
                "status": (
                    OutboxStatus.STOPPED
                    if recipient.status == AccountStatus.STOPPED
                    else OutboxStatus.QUEUED
                ),
                "idempotency_key": key[:200],
                "last_error": "",
                "created_at": now,
            }
            for recipient, payload, key, priority in items[i : i + 500]
        ]
        stmt = (
            insert(Outbox).values(rows).on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
        result = await conn.execute(stmt)
        added += int(result.rowcount or 0)
    return added
