"""Outbox delivery: drain due rows by priority through each channel, within its limits.

The channel interface (the senders implement it: ``bot/handlers/telegram_send.py``,
``bot/handlers/zalo_send.py``)::

    class DeliveryChannel(Protocol):
        name: str            # the Outbox.channel value it serves: "telegram", "zalo"
        pacer: ChatPacer     # the SAME pacer its interactive replies use (bot/outbox/pacing.py)
        async def deliver(self, chat_id: str, payload: dict) -> DeliveryResult: ...

``deliver`` sends ``payload["text"]`` to the chat once — no pacing for the first message (the
outbox took a slot from ``pacer.acquire_bulk`` already), no retries, no database — and says how
it went:

* ``sent``        the platform accepted it (only then does the row become ``sent``);
* ``retry_after`` flood control (429): ``retry_after`` seconds for THIS chat only;
* ``blocked``     the person blocked the bot (403): row ``stopped``, account ``stopped``;
* ``gone``        the chat does not exist (400 chat not found): same as blocked;
* ``transient``   network error, timeout, 5xx: retried with exponential backoff, then ``failed``;
* ``rejected``    the platform refuses this message for good (e.g. 400 bad request): ``failed``.

Crash safety: a batch of rows is *claimed* (leased: ``next_attempt_at`` = now + lease, attempts+1)
and committed before anything is sent; a row becomes ``sent`` only after the platform accepted it.
After a crash the unsent leased rows become due again when their lease ends, so at most the
messages in flight at the crash can arrive twice; nothing is lost. On PostgreSQL several processes
may deliver at once: claims use ``FOR UPDATE SKIP LOCKED`` and a lease, so no row is taken twice.

Reminder rows (priority ≥ reminders) wait during the quiet hours; replies and notices do not.
A run of transient failures pauses the channel (a circuit breaker), so an hour-long outage costs a
few probes instead of the retry budget of every queued message.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import metrics
from bot.outbox.pacing import ChatPacer
from ocop_core.clock import Clock
from ocop_core.db import transaction
from ocop_core.models import Outbox, OutboxStatus
from ocop_core.reminders import QuietHours
from ocop_core.services import accounts
from ocop_core.services.outbox import PRIORITY_REMINDER

__all__ = [
    "DeliveryChannel",
    "DeliveryConfig",
    "DeliveryResult",
    "DeliveryStats",
    "OutboxDelivery",
    "Outcome",
]

log = logging.getLogger("ocop.delivery")


class Outcome(StrEnum):
    SENT = "sent"
    RETRY_AFTER = "retry_after"
    BLOCKED = "blocked"
    GONE = "gone"
    TRANSIENT = "transient"
    REJECTED = "rejected"


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    retry_after: float | None = None
    error: str = ""


@runtime_checkable
class DeliveryChannel(Protocol):
    name: str
    pacer: ChatPacer

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> DeliveryResult: ...


@dataclass(frozen=True)
class DeliveryConfig:
    lease: float = 60.0  # seconds a claimed row is ours; longer than any single send can take
    max_attempts: int = 15  # transient failures before a row is failed (≈ 3 h with the backoff)
    backoff_base: float = 5.0
    backoff_cap: float = 900.0
    concurrency: int = 1000  # rows claimed and not yet sent per channel (≤ 2 s of its pace)
    idle_poll: float = 1.0  # seconds between looks at an empty outbox
    quiet: QuietHours = field(default_factory=QuietHours)
    breaker_after: int = 5  # consecutive transient failures that pause a channel
    breaker_max: float = 30.0
    drain_horizon: float = 30.0  # ``drain`` waits for rows due within this many seconds

    def backoff(self, attempts: int) -> float:
        """Exponential with jitter: 5 s, 10 s, 20 s … capped at 15 min."""
        delay = min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempts - 1))
        return delay * random.uniform(0.8, 1.2)


@dataclass
class DeliveryStats:
    sent: int = 0
    deferred: int = 0  # chat busy or 429: rescheduled, not counted as an attempt
    retried: int = 0
    failed: int = 0
    stopped: int = 0

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, deferred {self.deferred}, retried {self.retried}, "
            f"failed {self.failed}, stopped {self.stopped}"
        )


@dataclass(frozen=True)
class _Row:
    id: int
    account_id: int
    chat_id: str
    payload: dict[str, Any]
    attempts: int


@dataclass
class _ChannelState:
    channel: DeliveryChannel
    inflight: set[asyncio.Task[None]] = field(default_factory=set)
    failures: int = 0  # consecutive transient failures
    paused_until: float = 0.0
    pause: float = 0.0


class OutboxDelivery:
    """Drains the outbox through the given channels until stopped (or until idle: ``drain``)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        channels: Mapping[str, DeliveryChannel],
        config: DeliveryConfig | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.config = config or DeliveryConfig()
        self.states = {name: _ChannelState(ch) for name, ch in channels.items()}
        self.stats = DeliveryStats()
        self._results: asyncio.Queue[tuple[str, _Row, DeliveryResult | float]] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def wake(self) -> None:
        """New rows were queued: look now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._tasks = [asyncio.create_task(self._writer(), name="outbox-writer")]
        self._tasks += [
            asyncio.create_task(self._loop(name, until_idle=False), name=f"outbox-{name}")
            for name in self.states
        ]

    async def stop(self) -> None:
        """Stop claiming, let the sends in flight finish and record them."""
        self._stopping = True
        self._wake.set()
        loops, writer = self._tasks[1:], self._tasks[:1]
        await asyncio.gather(*loops, return_exceptions=True)
        await self._results.join()
        for task in writer:
            task.cancel()
        await asyncio.gather(*writer, return_exceptions=True)
        self._tasks = []

    async def drain(self, timeout: float = 600.0) -> DeliveryStats:  # noqa: ASYNC109
        """Deliver until no row is due on any channel (the CLI and tests)."""
        writer = asyncio.create_task(self._writer())
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(self._loop(n, until_idle=True) for n in self.states))
                await self._results.join()
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        return self.stats

    # -- claiming and sending -----------------------------------------------------------------

    def _max_inflight(self, state: _ChannelState) -> int:
        # About two seconds of sending at the channel's pace: enough queued behind the pacer to
        # ride out another transaction holding SQLite's write lock for a second (the reminders
        # pass moving thousands of dossiers), and claimed rows never outlive the lease.
        return max(2, min(self.config.concurrency, int(state.channel.pacer.rate * 2)))

    def _room(self, state: _ChannelState) -> int:
        """How many rows to claim now (0: wait for sends to finish first)."""
        room = self._max_inflight(state) - len(state.inflight)
        if state.failures >= self.config.breaker_after:
            return min(room, 1 - len(state.inflight))  # probing: one message at a time
        return room

    async def _loop(self, name: str, *, until_idle: bool) -> None:
        state = self.states[name]
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if state.paused_until > loop.time():
                await asyncio.sleep(state.paused_until - loop.time())
                continue
            room = self._room(state)
            if room <= 0:
                await asyncio.wait(state.inflight, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                rows = await self._claim(name, room)
            except Exception:  # the database went away, say: keep the loop, try again shortly
                log.exception("claiming %s outbox rows failed; retrying", name)
                await asyncio.sleep(self.config.idle_poll)
                continue
            for row in rows:
                task = asyncio.create_task(self._send(name, state, row))
                state.inflight.add(task)
                task.add_done_callback(state.inflight.discard)
            if rows:
                continue
            if state.inflight:
                await asyncio.wait(state.inflight, return_when=asyncio.FIRST_COMPLETED)
                continue
            if until_idle:
                await self._results.join()  # deferred rows are rescheduled by now
                wait = await self._next_due_in(name)
                if wait is None or wait > self.config.drain_horizon:
                    return
                await asyncio.sleep(max(0.0, wait))
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.idle_poll)
            except TimeoutError:
                pass
        if state.inflight:
            await asyncio.gather(*state.inflight, return_exceptions=True)

    def _due_filter(self, name: str, now: datetime) -> list[Any]:
        where = [
            Outbox.status == OutboxStatus.QUEUED,
            Outbox.channel == name,
            col(Outbox.next_attempt_at) <= now,
        ]
        if self.config.quiet.contains(now):
            where.append(col(Outbox.priority) < PRIORITY_REMINDER)  # reminders wait till morning
        return where

    async def _next_due_in(self, name: str) -> float | None:
        """Seconds until the next queued row of this channel is due (None: nothing queued)."""
        now = self.clock.now()
        where = self._due_filter(name, now)[:2]
        if self.config.quiet.contains(now):
            where.append(col(Outbox.priority) < PRIORITY_REMINDER)
        async with self.sessions() as s:
            earliest = (await s.exec(select(func.min(Outbox.next_attempt_at)).where(*where))).one()
        if earliest is None:
            return None
        return (earliest - now).total_seconds()

    async def _claim(self, name: str, limit: int) -> list[_Row]:
        now = self.clock.now()
        async with transaction(self.sessions) as s:
            ids = (
                await s.exec(
                    select(Outbox.id)
                    .where(*self._due_filter(name, now))
                    .order_by(col(Outbox.priority), col(Outbox.next_attempt_at), col(Outbox.id))
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not ids:
                return []
            lease = now + timedelta(seconds=self.config.lease)
            result = await s.exec(
                update(Outbox)
                .where(col(Outbox.id).in_(ids))
                .values(next_attempt_at=lease, attempts=col(Outbox.attempts) + 1)
                .returning(
                    col(Outbox.id),
                    col(Outbox.account_id),
                    col(Outbox.chat_id),
                    col(Outbox.payload),
                    col(Outbox.attempts),
                )
            )
            rows = [_Row(*r) for r in result.all()]
        order = {row_id: i for i, row_id in enumerate(ids)}
        rows.sort(key=lambda r: order[r.id])
        return rows

    async def _send(self, name: str, state: _ChannelState, row: _Row) -> None:
        channel = state.channel
        outcome: DeliveryResult | float
        try:
            wait = await channel.pacer.acquire_bulk(
                row.chat_id, give_up=lambda: self._held_back(state) is not None
            )
            if wait is None:  # claimed, but stopping or paused meanwhile: back to the queue
                outcome = self._held_back(state) or 0.0
            elif wait > 0:
                outcome = wait  # the chat is busy: reschedule, it is not a failed attempt
            else:
                outcome = await channel.deliver(row.chat_id, row.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a channel must not kill delivery
            log.exception("delivery through %s raised", name)
            outcome = DeliveryResult(Outcome.TRANSIENT, error=repr(exc))
        if isinstance(outcome, DeliveryResult):
            metrics.OUTBOX.labels(name, str(outcome.outcome)).inc()
            self._breaker(state, outcome)
            if outcome.outcome == Outcome.RETRY_AFTER:
                channel.pacer.backoff(row.chat_id, outcome.retry_after or 1.0)
        await self._results.put((name, row, outcome))

    def _held_back(self, state: _ChannelState) -> float | None:
        """Seconds to put a claimed row back for when it must not go now, else None.

        Rows wait behind the pacer for up to two seconds after their claim. If meanwhile the
        process began stopping or the breaker tripped, they are not sent after all: a failing
        platform then gets one probe at a time (the loop claims it alone), not the whole buffer.
        """
        if self._stopping:
            return 0.0
        left = state.paused_until - asyncio.get_running_loop().time()
        if left > 0:
            return left
        if state.failures >= self.config.breaker_after and len(state.inflight) > 1:
            return 0.0
        return None

    def _breaker(self, state: _ChannelState, result: DeliveryResult) -> None:
        if result.outcome != Outcome.TRANSIENT:
            state.failures, state.pause = 0, 0.0
            return
        state.failures += 1
        if state.failures >= self.config.breaker_after:
            state.pause = min(self.config.breaker_max, max(1.0, state.pause * 2))
            state.paused_until = asyncio.get_running_loop().time() + state.pause
            log.warning(
                "%s failing (%s); pausing %.0f s", state.channel.name, result.error, state.pause
            )

    # -- recording ----------------------------------------------------------------------------

    async def _writer(self) -> None:
        """Record outcomes in small batches: one transaction for many sends."""
        while True:
            batch = [await self._results.get()]
            await asyncio.sleep(0.02)  # let a few more arrive
            while not self._results.empty() and len(batch) < 500:
                batch.append(self._results.get_nowait())
            try:
                for attempt in range(5):
                    try:
                        await self._record(batch)
                        break
                    except Exception:
                        if attempt == 4:
                            raise
                        log.warning("recording outbox results failed; retrying", exc_info=True)
                        await asyncio.sleep(0.2 * (attempt + 1))
            except Exception:
                # The rows stay leased and go again after the lease: a duplicate, never a loss.
                log.exception("could not record %d outbox results", len(batch))
            finally:
                for _ in batch:
                    self._results.task_done()

    async def _record(self, batch: list[tuple[str, _Row, DeliveryResult | float]]) -> None:
        now = self.clock.now()
        stats = DeliveryStats()
        async with transaction(self.sessions) as s:
            sent = [row.id for _, row, r in batch if _is(r, Outcome.SENT)]
            if sent:
                await s.exec(
                    update(Outbox)
                    .where(col(Outbox.id).in_(sent))
                    .values(status=OutboxStatus.SENT, sent_at=now, last_error="")
                    .execution_options(synchronize_session=False)
                )
                stats.sent += len(sent)
            for name, row, result in batch:
                if _is(result, Outcome.SENT):
                    continue
                await self._record_one(s, name, row, result, now, stats)
        for attr in ("sent", "deferred", "retried", "failed", "stopped"):
            setattr(self.stats, attr, getattr(self.stats, attr) + getattr(stats, attr))

    async def _record_one(
        self,
        s: AsyncSession,
        name: str,
        row: _Row,
        result: DeliveryResult | float,
        now: datetime,
        stats: DeliveryStats,
    ) -> None:
        values: dict[str, Any]
        if not isinstance(result, DeliveryResult) or result.outcome == Outcome.RETRY_AFTER:
            wait = result if isinstance(result, float) else (result.retry_after or 1.0)
            values = {
                "next_attempt_at": now + timedelta(seconds=wait),
                "attempts": max(0, row.attempts - 1),  # waiting our turn is not a failure
            }
            stats.deferred += 1
        elif result.outcome in (Outcome.BLOCKED, Outcome.GONE):
            values = {"status": OutboxStatus.STOPPED, "last_error": result.outcome.value}
            stats.stopped += 1
            await accounts.mark_stopped(s, channel=name, chat_id=row.chat_id)
            # Nothing else queued for that chat can arrive either.
            await s.exec(
                update(Outbox)
                .where(
                    Outbox.channel == name,
                    Outbox.chat_id == row.chat_id,
                    Outbox.status == OutboxStatus.QUEUED,
                )
                .values(status=OutboxStatus.STOPPED, last_error=result.outcome.value)
                .execution_options(synchronize_session=False)
            )
        elif result.outcome == Outcome.TRANSIENT and row.attempts < self.config.max_attempts:
            values = {
                "next_attempt_at": now + timedelta(seconds=self.config.backoff(row.attempts)),
                "last_error": result.error[:300],
            }
            stats.retried += 1
        else:  # rejected, or transient too many times
            values = {"status": OutboxStatus.FAILED, "last_error": result.error[:300]}
            stats.failed += 1
        await s.exec(
            update(Outbox)
            .where(col(Outbox.id) == row.id, Outbox.status == OutboxStatus.QUEUED)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _is(result: DeliveryResult | float, outcome: Outcome) -> bool:
    return isinstance(result, DeliveryResult) and result.outcome == outcome
