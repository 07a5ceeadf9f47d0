"""Durable ingress: every platform update is stored before it is acknowledged, then processed
in order per chat by any live process, and marked done in the transaction of its effects.

Life of a row: ``pending`` → (the conversation step commits together with the row turning
``answering`` and the rendered replies) → replies sent → ``done``. A crash before that commit
replays the update; a crash after it resends only the stored replies not yet sent. Which were
sent is appended to a small per-process journal file right after each send (one write call
that survives ``kill -9``), far quicker than a database write that may wait for a lock: the
journals of dead processes are adopted at start-up. Rows of one chat are taken
strictly one batch at a time (the oldest open row is the only candidate), so a person's messages
run in order even across processes; a lease (renewed while the work runs) lets several processes
on PostgreSQL share the table with ``FOR UPDATE SKIP LOCKED``. Album parts are one batch, taken
when the album has been quiet for a moment, or at once when the process stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, exists, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import metrics
from ocop_core.db import transaction
from ocop_core.models import InboxItem, InboxStatus, OnceMarker

log = logging.getLogger("ocop.inbox")

# host:pid:nonce — the nonce tells a restarted process from a dead one that had the same pid.
WORKER_ID = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 3  # a row whose processing keeps failing is given up (the person is told)
KEEP_DONE = timedelta(days=2)  # finished rows (with people's texts) are then deleted
OPEN = (InboxStatus.PENDING, InboxStatus.ANSWERING)


@dataclass(frozen=True)
class Item:
    """A detached copy of one inbox row."""

    id: int
    channel: str
    update_key: str
    chat_key: str
    group_key: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    replies: list[Any] | None
    received_at: datetime

    @classmethod
    def of(cls, row: InboxItem) -> Item:
        return cls(
            row.id or 0,
            row.channel,
            row.update_key,
            row.chat_key,
            row.group_key,
            dict(row.payload),
            row.status,
            row.attempts,
            list(row.replies) if row.replies is not None else None,
            _aware(row.received_at),
        )


class Handler(Protocol):
    async def process(self, batch: list[Item]) -> None:
        """Handle a batch (one update, or the parts of an album); call ``Inbox.finish`` in the
        transaction of the effects, then send what it stored."""

    async def resend(self, batch: list[Item]) -> None:
        """Send the replies stored with an ``answering`` batch (after a crash)."""

    async def give_up(self, batch: list[Item]) -> None:
        """Processing failed MAX_ATTEMPTS times: tell the person."""

    async def flood_notice(self, batch: list[Item], skipped: int) -> None:
        """``skipped`` messages of this chat were not answered one by one (a flood)."""


@dataclass(frozen=True)
class NewItem:
    update_key: str
    chat_key: str
    payload: dict[str, Any]
    group_key: str | None = None


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class SentJournal:
    """ "row:index" lines for replies already sent, one file per process in ``root``."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.sent: set[tuple[int, int]] = set()
        self._fd: int | None = None

    def _path(self, worker: str) -> Path:
        assert self.root is not None
        return self.root / f"sent-{worker.replace(':', '-').replace('/', '_')}.log"

    def mark(self, row: int, index: int) -> None:
        self.sent.add((row, index))
        if self.root is None:
            return
        if self._fd is None:
            self.root.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            self._fd = os.open(self._path(WORKER_ID), flags, 0o600)
        os.write(self._fd, f"{row}:{index}\n".encode())

    def adopt(self, dead: Sequence[str]) -> None:
        """Read the journals of dead workers into this one."""
        if self.root is None:
            return
        for worker in dead:
            path = self._path(worker)
            try:
                lines = path.read_text().split()
            except OSError:
                continue
            for line in lines:
                row, _, index = line.partition(":")
                if row.isdigit() and index.isdigit():
                    self.mark(int(row), int(index))
            path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Inbox:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channel: str,
        *,
        journal_dir: Path | None = None,
        concurrency: int = 16,
        album_wait: float = 1.2,
        flood_limit: int | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.channel = channel
        self.concurrency = concurrency
        self.album_wait = album_wait
        self.flood_limit = flood_limit
        self.poll_interval = poll_interval
        self.journal = SentJournal(journal_dir)
        self._handler: Handler | None = None
        self._wake = asyncio.Event()
        self._busy: dict[str, list[int]] = {}  # chat → ids in flight here
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._flushing = False
        self._stopping = False
        self._pruned_at = 0.0
        bind = sessions.kw.get("bind")
        self._dialect = bind.dialect.name if bind is not None else "sqlite"

    # -- storing -------------------------------------------------------------------------

    async def put(self, item: NewItem) -> bool:
        """Store one update (committed when this returns); False when it was already there."""
        return await self.put_many([item]) > 0

    async def put_many(self, items: Sequence[NewItem]) -> int:
        """Store updates in one transaction; returns how many were new. A platform's
        redelivery of a stored update changes nothing (the unique key decides)."""
        if not items:
            return 0
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        added = 0
        now = _now()
        async with transaction(self.sessions) as s:
            for item in items:
                status = InboxStatus.PENDING
                if self.flood_limit is not None and await self._open_count(s, item) >= (
                    self.flood_limit
                ):
                    status = InboxStatus.SKIPPED  # kept (nothing lost), answered with one notice
                stmt = (
                    insert(InboxItem)
                    .values(
                        channel=self.channel,
                        update_key=item.update_key[:128],
                        chat_key=item.chat_key[:64],
                        group_key=item.group_key[:64] if item.group_key else None,
                        payload=item.payload,
                        status=status,
                        attempts=0,
                        received_at=now,
                        worker="",
                    )
                    .on_conflict_do_nothing(index_elements=["channel", "update_key"])
                )
                result = await s.exec(stmt)  # type: ignore[call-overload]
                added += int(result.rowcount or 0)
        metrics.UPDATES_RECEIVED.labels(self.channel).inc(added)
        if len(items) > added:
            log.info(
                "%s: %d update(s) delivered again; handled once", self.channel, len(items) - added
            )
        self._wake.set()
        return added

    async def _open_count(self, s: AsyncSession, item: NewItem) -> int:
        q = select(func.count()).where(
            col(InboxItem.channel) == self.channel,
            col(InboxItem.chat_key) == item.chat_key,
            col(InboxItem.status) == InboxStatus.PENDING,
        )
        return int((await s.exec(q)).one())

    # -- finishing (called by the handler) ----------------------------------------------

    async def finish(self, s: AsyncSession, batch: list[Item], replies: list[Any]) -> None:
        """In the transaction of the batch's effects: the rows leave ``pending`` (with the
        replies still to send), or the whole transaction fails if another process took them."""
        ids = [i.id for i in batch]
        status = InboxStatus.ANSWERING if replies else InboxStatus.DONE
        result = await s.exec(
            update(InboxItem)
            .where(
                col(InboxItem.id).in_(ids),
                col(InboxItem.status) == InboxStatus.PENDING,
                col(InboxItem.worker) == WORKER_ID,
            )
            .values(
                status=status,
                replies=None,
                payload={},
                chat_key="" if status == InboxStatus.DONE else col(InboxItem.chat_key),
                done_at=_now(),
            )
        )
        if int(result.rowcount or 0) != len(ids):  # type: ignore[attr-defined]
            raise LostLease(f"inbox rows {ids} were taken by another process")
        if replies:
            await s.exec(
                update(InboxItem).where(col(InboxItem.id) == ids[0]).values(replies=replies)
            )

    async def _close(self, batch: list[Item]) -> int:
        """Mark the batch done; returns how many flood-skipped rows of the chat to mention
        (once nothing else of the chat is waiting, so the person is told once, last)."""
        async with transaction(self.sessions) as s:
            await s.exec(
                update(InboxItem)
                .where(
                    col(InboxItem.id).in_([i.id for i in batch]),
                    col(InboxItem.status).in_(OPEN),
                    col(InboxItem.worker) == WORKER_ID,
                )
                .values(
                    status=InboxStatus.DONE,
                    replies=None,
                    payload={},  # what the person wrote, and who, is not kept once handled
                    chat_key="",
                    done_at=_now(),
                    lease_until=None,
                )
            )
            if self.flood_limit is None:
                return 0
            return await self._take_skipped(s, batch[0].chat_key)

    async def _take_skipped(self, s: AsyncSession, chat_key: str) -> int:
        of_chat = (col(InboxItem.channel) == self.channel, col(InboxItem.chat_key) == chat_key)
        waiting = (
            await s.exec(select(func.count()).where(*of_chat, col(InboxItem.status).in_(OPEN)))
        ).one()
        if waiting:
            return 0
        result = await s.exec(
            update(InboxItem)
            .where(*of_chat, col(InboxItem.status) == InboxStatus.SKIPPED)
            .values(status=InboxStatus.DONE, payload={}, chat_key="", done_at=_now())
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- the worker ----------------------------------------------------------------------

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        await self._recover()
        self._loop_task = asyncio.create_task(self._loop())

    async def stop(self, timeout: float = 25.0) -> None:  # noqa: ASYNC109
        """Finish what is in hand and any album still being collected, then stop."""
        self._flushing = True
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # One more round takes the albums that were waiting for their last part.
        while loop.time() < deadline and await self._claim_and_start(flush=True):
            pass
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=max(1.0, deadline - loop.time()))
        self.journal.close()

    def mark_sent(self, batch: list[Item], index: int) -> None:
        """The ``index``-th stored reply of this batch has been sent."""
        self.journal.mark(batch[0].id, index)

    def was_sent(self, batch: list[Item], index: int) -> bool:
        return (batch[0].id, index) in self.journal.sent

    async def _recover(self) -> None:
        """Leases of a process that is gone (a crash, on this host) are void at once; rows
        leased elsewhere wait for their lease to run out."""
        host = WORKER_ID.split(":", 1)[0]
        async with transaction(self.sessions) as s:
            workers = (
                await s.exec(
                    select(InboxItem.worker)
                    .where(col(InboxItem.status).in_(OPEN), col(InboxItem.worker) != "")
                    .distinct()
                )
            ).all()
            dead = [w for w in workers if _dead_here(w, host) or self._dialect == "sqlite"]
            self.journal.adopt([w for w in dead if w != WORKER_ID])
            if dead:
                await s.exec(
                    update(InboxItem)
                    .where(col(InboxItem.worker).in_(dead), col(InboxItem.status).in_(OPEN))
                    .values(lease_until=None, worker="")
                )
            backlog = (
                await s.exec(
                    select(func.count()).where(
                        col(InboxItem.channel) == self.channel, col(InboxItem.status).in_(OPEN)
                    )
                )
            ).one()
        if backlog:
            log.info("%s: %d stored update(s) to finish from before", self.channel, backlog)

    async def _loop(self) -> None:
        renew_at = time.monotonic() + LEASE.total_seconds() / 3
        while not self._stopping:
            self._wake.clear()
            try:
                started = await self._claim_and_start(flush=self._flushing)
                if time.monotonic() > renew_at:
                    await self._renew()
                    renew_at = time.monotonic() + LEASE.total_seconds() / 3
                await self._prune()
            except Exception:
                log.exception("%s inbox: a round failed (the database?); retrying", self.channel)
                started = 0
            if not started:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _claim_and_start(self, *, flush: bool) -> int:
        free = self.concurrency - len(self._tasks)
        if free <= 0 or self._handler is None:
            return 0
        batches = await self._claim(free, flush=flush)
        for batch in batches:
            self._busy[batch[0].chat_key] = [i.id for i in batch]
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(batches)

    async def _claim(self, limit: int, *, flush: bool) -> list[list[Item]]:
        now = _now()
        me, earlier = InboxItem, aliased(InboxItem)
        older_open = exists().where(
            earlier.channel == me.channel,
            earlier.chat_key == me.chat_key,
            col(earlier.status).in_(OPEN),
            earlier.id < me.id,  # type: ignore[operator]
        )
        async with transaction(self.sessions) as s:
            query = (
                select(InboxItem)
                .where(
                    col(InboxItem.channel) == self.channel,
                    col(InboxItem.status).in_(OPEN),
                    or_(col(InboxItem.lease_until).is_(None), col(InboxItem.lease_until) < now),
                    ~older_open,
                    col(InboxItem.chat_key).not_in(list(self._busy)),
                )
                .order_by(col(InboxItem.id))
                .limit(limit)
                .with_for_update(skip_locked=True, of=InboxItem)  # type: ignore[arg-type]
            )
            heads = [Item.of(r) for r in (await s.exec(query)).all()]
            batches: list[list[Item]] = []
            for head in heads:
                batch = await self._batch_of(s, head, now, flush=flush)
                if batch:
                    batches.append(batch)
            ids = [i.id for b in batches for i in b]
            if ids:
                await s.exec(
                    update(InboxItem)
                    .where(col(InboxItem.id).in_(ids))
                    .values(lease_until=now + LEASE, worker=WORKER_ID)
                )
        return batches

    async def _batch_of(
        self, s: AsyncSession, head: Item, now: datetime, *, flush: bool
    ) -> list[Item] | None:
        """The head alone, or all parts of its album once the album is complete."""
        if not head.group_key or head.status != InboxStatus.PENDING:
            return [head]
        rows = (
            await s.exec(
                select(InboxItem)
                .where(
                    col(InboxItem.channel) == self.channel,
                    col(InboxItem.chat_key) == head.chat_key,
                    col(InboxItem.group_key) == head.group_key,
                    col(InboxItem.status) == InboxStatus.PENDING,
                )
                .order_by(col(InboxItem.id))
            )
        ).all()
        parts = [Item.of(r) for r in rows]
        last = max(p.received_at for p in parts)
        if not flush and (now - last).total_seconds() < self.album_wait:
            return None  # more parts may come; the loop looks again within a second
        return parts

    async def _run(self, batch: list[Item]) -> None:
        assert self._handler is not None
        started = time.monotonic()
        try:
            if batch[0].status == InboxStatus.ANSWERING:
                await self._handler.resend(batch)
            else:
                await self._handler.process(batch)
            skipped = await self._close(batch)
            if skipped:
                try:
                    await self._handler.flood_notice(batch, skipped)
                except Exception:  # the batch is done; a lost courtesy notice is only logged
                    log.exception("%s: the flood notice failed", self.channel)
            metrics.UPDATES_PROCESSED.labels(self.channel).inc(len(batch))
            metrics.PROCESSING_SECONDS.labels(self.channel).observe(time.monotonic() - started)
        except Exception:
            log.exception("%s: processing a stored update failed", self.channel)
            await self._failed(batch)
        finally:
            self._busy.pop(batch[0].chat_key, None)
            self._wake.set()

    async def _failed(self, batch: list[Item]) -> None:
        """Try again later (the lease is released), or give up after MAX_ATTEMPTS."""
        assert self._handler is not None
        ids = [i.id for i in batch]
        give_up = batch[0].attempts + 1 >= MAX_ATTEMPTS
        with contextlib.suppress(Exception):
            async with transaction(self.sessions) as s:
                await s.exec(
                    update(InboxItem)
                    .where(col(InboxItem.id).in_(ids), col(InboxItem.worker) == WORKER_ID)
                    .values(
                        attempts=col(InboxItem.attempts) + 1,
                        lease_until=None,
                        worker="",
                        status=InboxStatus.FAILED if give_up else col(InboxItem.status),
                    )
                )
            if give_up:
                log.error("%s: gave up an update after %d attempts", self.channel, MAX_ATTEMPTS)
                await self._handler.give_up(batch)

    async def _renew(self) -> None:
        ids = [i for chat in self._busy.values() for i in chat]
        if not ids:
            return
        async with transaction(self.sessions) as s:
            await s.exec(
                update(InboxItem)
                .where(col(InboxItem.id).in_(ids), col(InboxItem.worker) == WORKER_ID)
                .values(lease_until=_now() + LEASE)
            )

    async def _prune(self) -> None:
        """Hourly: forget finished updates (they hold people's texts) and old link markers."""
        if time.monotonic() - self._pruned_at < 3600:
            return
        self._pruned_at = time.monotonic()
        now = _now()
        async with transaction(self.sessions) as s:
            await s.exec(
                delete(InboxItem).where(
                    col(InboxItem.channel) == self.channel,
                    col(InboxItem.status).in_([InboxStatus.DONE, InboxStatus.FAILED]),
                    col(InboxItem.received_at) < now - KEEP_DONE,
                )
            )
            await s.exec(
                delete(OnceMarker).where(col(OnceMarker.created_at) < now - timedelta(days=3))
            )

    async def backlog(self) -> int:
        async with self.sessions() as s:
            q = select(func.count()).where(
                col(InboxItem.channel) == self.channel, col(InboxItem.status).in_(OPEN)
            )
            return int((await s.exec(q)).one())


class LostLease(Exception):
    """Another process finished these rows first: this transaction must not commit."""


def _dead_here(worker: str, host: str) -> bool:
    """A worker id of this host whose process no longer exists."""
    name, _, rest = worker.partition(":")
    pid = rest.split(":", 1)[0]
    if name != host or not pid.isdigit() or worker == WORKER_ID:
        return False
    if int(pid) == os.getpid():
        return True  # our pid, another nonce: a previous process that had this pid
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def claim_once(s: AsyncSession, key: str) -> bool:
    """Claim a single-use key inside the caller's transaction; False if already claimed."""
    insert = postgresql.insert if s.bind.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(OnceMarker).values(key=key[:200], created_at=_now())
    result = await s.exec(stmt.on_conflict_do_nothing(index_elements=["key"]))  # type: ignore[call-overload]
    return bool(result.rowcount)


async def once_claimed(s: AsyncSession, key: str) -> bool:
    return (await s.get(OnceMarker, key[:200])) is not None


Send = Callable[[], Awaitable[Any]]
