"""The outbox: messages for people other than the sender, delivered later by a dispatcher."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
