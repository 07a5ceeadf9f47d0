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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import bindparam, case, delete, exists, func, null, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
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
    def of(cls, row: Mapping[str, Any]) -> Item:
        """From a row of the inbox table (a Core result mapping)."""
        return cls(
            row["id"] or 0,
            row["channel"],
            row["update_key"],
            row["chat_key"],
            row["group_key"],
            dict(row["payload"]),
            row["status"],
            row["attempts"],
            list(row["replies"]) if row["replies"] is not None else None,
            _aware(row["received_at"]),
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


# Statements built once (the inbox runs them several times per update; building an expression
# costs more than SQLAlchemy's cached compilation of it). Core, not ORM: no session sync work.
_INBOX = InboxItem.__table__  # type: ignore[attr-defined]
_EARLIER = _INBOX.alias("earlier")
_OPEN = tuple(str(s) for s in OPEN)
_OPEN_OF_SAME_CHAT = (  # another row of the row's chat that is still open
    _EARLIER.c.channel == _INBOX.c.channel,
    _EARLIER.c.chat_key == _INBOX.c.chat_key,
    _EARLIER.c.status.in_(_OPEN),
)
_OLDER_OPEN = exists().where(*_OPEN_OF_SAME_CHAT, _EARLIER.c.id < _INBOX.c.id)
_HEADS = (
    core_select(_INBOX)
    .where(
        _INBOX.c.channel == bindparam("ch"),
        _INBOX.c.status.in_(_OPEN),
        or_(_INBOX.c.lease_until.is_(None), _INBOX.c.lease_until < bindparam("now")),
        ~_OLDER_OPEN,
        _INBOX.c.chat_key.not_in(bindparam("busy", expanding=True)),
    )
    .order_by(_INBOX.c.id)
    .limit(bindparam("limit"))
)
_LEASE = (
    update(_INBOX)
    .where(_INBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(lease_until=bindparam("until"), worker=bindparam("me"))
)
_CLOSE = (
    update(_INBOX)
    .where(
        _INBOX.c.id.in_(bindparam("ids", expanding=True)),
        _INBOX.c.status.in_(_OPEN),
        _INBOX.c.worker == bindparam("me"),
    )
    .values(
        status=str(InboxStatus.DONE),
        replies=None,
        payload={},  # what the person wrote, and who, is not kept once handled
        chat_key="",
        done_at=bindparam("now"),
        lease_until=None,
    )
)
# One statement, many rows (SQLAlchemy batches them into multi-row VALUES): compiled once,
# whatever the number of updates in a round. A stored key is a redelivery: no row back.
_STORE_PG, _STORE_SQLITE = (
    insert(_INBOX)
    .on_conflict_do_nothing(index_elements=["channel", "update_key"])
    .returning(_INBOX.c.update_key)
    for insert in (postgresql.insert, sqlite.insert)
)
_REPLIES = bindparam("replies", type_=_INBOX.c.replies.type)
_FINISHED = (  # leaving ``pending``; the replies are kept on the batch's first row only
    _INBOX.c.id.in_(bindparam("ids", expanding=True)),
    _INBOX.c.status == str(InboxStatus.PENDING),
    _INBOX.c.worker == bindparam("me"),
)
_FINISH_ANSWERING = (
    update(_INBOX)
    .where(*_FINISHED)
    .values(
        status=str(InboxStatus.ANSWERING),
        replies=case((_INBOX.c.id == bindparam("first"), _REPLIES), else_=null()),
        payload={},
        done_at=bindparam("now"),
    )
)
_FINISH_DONE = (
    update(_INBOX)
    .where(*_FINISHED)
    .values(
        status=str(InboxStatus.DONE),
        replies=None,
        payload={},
        chat_key="",
        done_at=bindparam("now"),
    )
)
_NOTHING_OPEN = ~exists().where(*_OPEN_OF_SAME_CHAT)


def _of_chats(status: InboxStatus) -> tuple[Any, ...]:
    """Rows of this channel (``ch``) with this status in the chats ``chats``."""
    return (
        _INBOX.c.channel == bindparam("ch"),
        _INBOX.c.status == str(status),
        _INBOX.c.chat_key.in_(bindparam("chats", expanding=True)),
    )


_SKIPPED_DUE = (
    core_select(_INBOX.c.chat_key, func.count())
    .where(*_of_chats(InboxStatus.SKIPPED), _NOTHING_OPEN)
    .group_by(_INBOX.c.chat_key)
)
_TAKE_SKIPPED = (
    update(_INBOX)
    .where(*_of_chats(InboxStatus.SKIPPED))
    .values(status=str(InboxStatus.DONE), payload={}, chat_key="", done_at=bindparam("now"))
)
_PENDING_PER_CHAT = (
    core_select(_INBOX.c.chat_key, func.count())
    .where(*_of_chats(InboxStatus.PENDING))
    .group_by(_INBOX.c.chat_key)
)


class Inbox:
    """The table's worker for one channel in this process.

    Its loop does the inbox's own writing in rounds, one transaction each: it stores the
    updates handed to ``put`` meanwhile (their callers wait for the commit), closes the batches
    finished since the last round and claims new ones. Under load a round serves many updates,
    so the inbox adds about one short transaction per round rather than three per update.
    """

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
        self._busy: dict[str, list[int]] = {}  # chat → ids in flight here (until closed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._queued: list[tuple[NewItem, asyncio.Future[bool]]] = []  # for the next round
        self._finished: list[tuple[list[Item], float]] = []  # (batch, seconds it took)
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._pruned_at = 0.0
        bind = sessions.kw.get("bind")
        self._dialect = bind.dialect.name if bind is not None else "sqlite"

    # -- storing -------------------------------------------------------------------------

    async def put(self, item: NewItem) -> bool:
        """Store one update (committed when this returns); False when it was already there.
        While the loop runs, the update is stored by its next round, with the others that
        arrived meanwhile (one commit for many webhook calls)."""
        if self._loop_task is None or self._loop_task.done() or self._stopping:
            return await self.put_many([item]) > 0
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queued.append((item, future))
        self._wake.set()
        return await future

    async def put_many(self, items: Sequence[NewItem]) -> int:
        """Store updates in one transaction; returns how many were new. A platform's
        redelivery of a stored update changes nothing (the unique key decides)."""
        if not items:
            return 0
        async with transaction(self.sessions) as s:
            new = await self._insert(s, items)
        self._wake.set()
        return sum(new)

    async def _insert(self, s: AsyncSession, items: Sequence[NewItem]) -> list[bool]:
        """Insert in the caller's transaction; for each item, whether it was new."""
        now = _now()
        pending: dict[str, int] = {}
        if self.flood_limit is not None:
            chats = sorted({i.chat_key[:64] for i in items})
            counted = await s.exec(_PENDING_PER_CHAT, params={"ch": self.channel, "chats": chats})  # type: ignore[call-overload]
            pending = {chat: int(n) for chat, n in counted.all()}
        rows = []
        for item in items:
            chat = item.chat_key[:64]
            status = InboxStatus.PENDING
            if self.flood_limit is not None:
                if pending.get(chat, 0) >= self.flood_limit:
                    status = InboxStatus.SKIPPED  # kept (nothing lost), answered with one notice
                else:
                    pending[chat] = pending.get(chat, 0) + 1
            rows.append(
                {
                    "channel": self.channel,
                    "update_key": item.update_key[:128],
                    "chat_key": chat,
                    "group_key": item.group_key[:64] if item.group_key else None,
                    "payload": item.payload,
                    "status": str(status),
                    "attempts": 0,
                    "received_at": now,
                    "worker": "",
                }
            )
        stmt = _STORE_PG if self._dialect == "postgresql" else _STORE_SQLITE
        stored = set((await s.exec(stmt, params=rows)).scalars().all())  # type: ignore[call-overload]
        new = []
        for row in rows:  # a key twice in one call is new once
            new.append(row["update_key"] in stored)
            stored.discard(row["update_key"])
        added = sum(new)
        metrics.UPDATES_RECEIVED.labels(self.channel).inc(added)
        if len(items) > added:
            log.info(
                "%s: %d update(s) delivered again; handled once", self.channel, len(items) - added
            )
        return new

    # -- finishing (called by the handler) ----------------------------------------------

    async def finish(self, s: AsyncSession, batch: list[Item], replies: list[Any]) -> None:
        """In the transaction of the batch's effects: the rows leave ``pending`` (with the
        replies still to send), or the whole transaction fails if another process took them."""
        ids = [i.id for i in batch]
        params: dict[str, Any] = {"ids": ids, "me": WORKER_ID, "now": _now()}
        if replies:
            params |= {"first": ids[0], "replies": replies}
        stmt = _FINISH_ANSWERING if replies else _FINISH_DONE
        result = await s.exec(stmt, params=params)  # type: ignore[call-overload]
        if int(result.rowcount or 0) != len(ids):
            raise LostLease(f"inbox rows {ids} were taken by another process")

    # -- the worker ----------------------------------------------------------------------

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        await self._recover()
        self._loop_task = asyncio.create_task(self._loop())

    async def stop(self, timeout: float = 25.0) -> None:  # noqa: ASYNC109
        """Finish what is in hand and any album still being collected, then stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # The loop ends its round rather than being cancelled inside one: a claim cut half-way
        # would leave rows leased but never started, handled only once the lease runs out.
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._loop_task), timeout)
            except TimeoutError:
                self._loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._loop_task
        # One more round takes the albums that were waiting for their last part (what comes
        # after them in the same chat stays stored for the next start), then a last one closes
        # what finished.
        await self._last_round(claim=True)
        while self._tasks and loop.time() < deadline:
            await asyncio.wait(list(self._tasks), timeout=max(0.1, deadline - loop.time()))
            await self._last_round(claim=False)  # and tell of floods, which adds tasks
        self.journal.close()

    async def _last_round(self, *, claim: bool) -> None:
        try:
            await self._round(flush=True, claim=claim)
        except Exception:  # rows not closed are finished again at the next start
            log.exception("%s inbox: the last round failed", self.channel)

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
                busy = await self._round(flush=False)
                if time.monotonic() > renew_at:
                    await self._renew()
                    renew_at = time.monotonic() + LEASE.total_seconds() / 3
                await self._prune()
            except Exception:
                log.exception("%s inbox: a round failed (the database?); retrying", self.channel)
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _round(self, *, flush: bool, claim: bool = True) -> bool:
        """One transaction: store what was put, close what finished, claim new batches.
        Returns whether it had anything to do."""
        queued, self._queued = self._queued, []
        finished, self._finished = self._finished, []
        closing = {batch[0].chat_key for batch, _ in finished}
        free = self.concurrency - len(self._tasks) if claim and self._handler else 0
        if not (queued or finished or free > 0):
            return False
        now = _now()
        try:
            async with transaction(self.sessions) as s:
                new = await self._insert(s, [item for item, _ in queued]) if queued else []
                floods = await self._close(s, finished, closing, now) if finished else {}
                busy = [chat for chat in self._busy if chat not in closing]
                batches = await self._claim(s, free, busy, now, flush=flush) if free > 0 else []
        except BaseException as exc:
            self._finished[:0] = finished  # closed by a later round
            for _item, future in queued:
                if not future.done():
                    future.set_exception(
                        exc if isinstance(exc, Exception) else RuntimeError("inbox stopped")
                    )
            raise
        for (_item, future), was_new in zip(queued, new, strict=True):
            if not future.done():
                future.set_result(was_new)
        for batch, took in finished:
            self._busy.pop(batch[0].chat_key, None)
            metrics.UPDATES_PROCESSED.labels(self.channel).inc(len(batch))
            metrics.PROCESSING_SECONDS.labels(self.channel).observe(took)
            skipped = floods.get(batch[0].chat_key)
            if skipped:
                self._spawn(self._flood_notice(batch, skipped))
        for batch in batches:
            self._busy[batch[0].chat_key] = [i.id for i in batch]
            self._spawn(self._run(batch))
        return bool(queued or finished or batches)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close(
        self,
        s: AsyncSession,
        finished: list[tuple[list[Item], float]],
        chats: set[str],
        now: datetime,
    ) -> dict[str, int]:
        """Mark the batches done; returns, per chat, how many flood-skipped rows to mention
        (once nothing else of the chat is waiting, so the person is told once, last)."""
        ids = [i.id for batch, _ in finished for i in batch]
        await s.exec(_CLOSE, params={"ids": ids, "me": WORKER_ID, "now": now})  # type: ignore[call-overload]
        if self.flood_limit is None:
            return {}
        params = {"ch": self.channel, "chats": sorted(chats)}
        due = {chat: int(n) for chat, n in (await s.exec(_SKIPPED_DUE, params=params)).all()}  # type: ignore[call-overload]
        if due:
            params = {"ch": self.channel, "chats": sorted(due), "now": now}
            await s.exec(_TAKE_SKIPPED, params=params)  # type: ignore[call-overload]
        return due

    async def _flood_notice(self, batch: list[Item], skipped: int) -> None:
        assert self._handler is not None
        try:
            await self._handler.flood_notice(batch, skipped)
        except Exception:  # the batch is done; a lost courtesy notice is only logged
            log.exception("%s: the flood notice failed", self.channel)

    async def _claim(
        self, s: AsyncSession, limit: int, busy: list[str], now: datetime, *, flush: bool
    ) -> list[list[Item]]:
        query = _HEADS
        if self._dialect == "postgresql":  # several processes share the table
            query = query.with_for_update(skip_locked=True, of=_INBOX)
        params = {"ch": self.channel, "now": now, "busy": busy, "limit": limit}
        rows = (await s.exec(query, params=params)).mappings().all()  # type: ignore[call-overload]
        batches: list[list[Item]] = []
        for row in rows:
            batch = await self._batch_of(s, Item.of(row), now, flush=flush)
            if batch:
                batches.append(batch)
        ids = [i.id for b in batches for i in b]
        if ids:
            params = {"ids": ids, "until": now + LEASE, "me": WORKER_ID}
            await s.exec(_LEASE, params=params)  # type: ignore[call-overload]
        return batches

    async def _batch_of(
        self, s: AsyncSession, head: Item, now: datetime, *, flush: bool
    ) -> list[Item] | None:
        """The head alone, or all parts of its album once the album is complete."""
        if not head.group_key or head.status != InboxStatus.PENDING:
            return [head]
        rows = (
            (
                await s.exec(  # type: ignore[call-overload]
                    core_select(_INBOX)
                    .where(
                        _INBOX.c.channel == self.channel,
                        _INBOX.c.chat_key == head.chat_key,
                        _INBOX.c.group_key == head.group_key,
                        _INBOX.c.status == str(InboxStatus.PENDING),
                    )
                    .order_by(_INBOX.c.id)
                )
            )
            .mappings()
            .all()
        )
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
        except Exception:
            log.exception("%s: processing a stored update failed", self.channel)
            try:
                await self._failed(batch)
            finally:
                self._busy.pop(batch[0].chat_key, None)
                self._wake.set()
            return
        # Closed (and the chat freed) by the loop's next round, with the others finished.
        self._finished.append((batch, time.monotonic() - started))
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
