"""The clock of ``ocop-bot run``: an APScheduler ``AsyncIOScheduler`` ticking two periodic jobs
over durable tables, plus the outbox delivery loop. No job per reminder; nothing only in memory.

* compute fires — at start and every 10 minutes (on PostgreSQL one process at a time: the others
  skip, see ``ocop_core.reminders.locks``);
* dispatch due fires into the outbox — every 30 seconds, in every process;
* deliver the outbox — continuously (``bot.outbox.delivery.OutboxDelivery``), woken after a
  dispatch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import metrics
from bot.outbox.delivery import DeliveryChannel, DeliveryConfig, OutboxDelivery
from bot.outbox.pacing import ChatPacer
from ocop_core.db import transaction
from ocop_core.reminders import QuietHours, compute_fires, dispatch_due, roll_over_in_steps
from ocop_core.services import personal_data

__all__ = ["ReminderScheduler", "delivery_channels"]

log = logging.getLogger("ocop.scheduler")


def delivery_channels(channels: Iterable[Any]) -> dict[str, DeliveryChannel]:
    """The senders that can deliver outbox rows (each channel's, or ``remind``'s own), by their
    Outbox.channel name."""
    found: dict[str, DeliveryChannel] = {}
    for ch in channels:
        if isinstance(ch, DeliveryChannel) and isinstance(ch.pacer, ChatPacer):
            found[ch.name] = ch
        else:
            log.warning("channel %r cannot deliver outbox rows yet", getattr(ch, "name", ch))
    return found


JOB_STOP_WAIT = 20.0  # seconds a running pass may take to finish when the bot stops


class ReminderScheduler:
    def __init__(
        self,
        app: Any,  # bot.app.App (not imported: app.py imports this module)
        channels: Iterable[Any],
        *,
        compute_every: timedelta = timedelta(minutes=10),
        dispatch_every: timedelta = timedelta(seconds=30),
    ) -> None:
        self.app = app
        self.quiet = QuietHours.parse(app.settings.quiet_hours, app.settings.tz)
        self.delivery = OutboxDelivery(
            app.sessions,
            app.ctx.clock,
            delivery_channels(channels),
            DeliveryConfig(lease=app.settings.outbox_lease_seconds, quiet=self.quiet),
        )
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: set[asyncio.Task[None]] = set()
        now = datetime.now(UTC)
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        self.scheduler.add_job(
            self._tracked(self.compute_job),
            "interval",
            seconds=compute_every.total_seconds(),
            next_run_time=now,
            id="compute-fires",
            **common,
        )
        self.scheduler.add_job(
            self._tracked(self.dispatch_job),
            "interval",
            seconds=dispatch_every.total_seconds(),
            next_run_time=now + dispatch_every,
            id="dispatch-fires",
            **common,
        )

        self.scheduler.add_job(
            self._tracked(self.retention_job),
            "interval",
            hours=6,
            next_run_time=now + timedelta(minutes=1),
            id="outbox-retention",
            **common,
        )

    async def retention_job(self) -> None:
        """Delivered messages hold people's texts: forget them after the retention time."""
        days = self.app.settings.outbox_retention_days
        try:
            async with transaction(self.app.sessions) as s:
                removed = await personal_data.purge_outbox(
                    s, before=self.app.ctx.clock.now() - timedelta(days=days)
                )
        except Exception:
            log.exception("outbox retention failed")
            return
        if removed:
            log.info("removed %d delivered outbox message(s) older than %d days", removed, days)

    async def start(self) -> None:
        await self.delivery.start()
        self.scheduler.start()

    async def stop(self) -> None:
        """Running passes finish first: APScheduler's shutdown cancels them mid-transaction, and
        a pass left running while the engine closed hung the process's exit."""
        self.scheduler.pause()  # no new runs
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=JOB_STOP_WAIT)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self.scheduler.shutdown(wait=False)
        await self.delivery.stop()

    def _tracked(self, job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)  # type: ignore[arg-type]
            try:
                await job()
            finally:
                self._running.discard(task)  # type: ignore[arg-type]

        return run

    async def compute_job(self) -> None:
        try:
            started = time.perf_counter()
            rolled = await roll_over_in_steps(self.app.sessions, self.app.ctx)
            async with transaction(self.app.sessions) as s:
                stats = await compute_fires(s, self.app.ctx)
            stats.rolled += rolled
            stats.seconds = time.perf_counter() - started
            metrics.FIRES_COMPUTED.inc(stats.written)
        except Exception:
            log.exception("computing reminder fires failed")
            return
        if stats.skipped:
            log.debug("another process is computing the fires")
        else:
            log.info(
                "fires computed in %.2f s: %d dossier(s) moved to another round; fires: %d wanted, "
                "%d written, %d cancelled, %d dropped",
                stats.seconds,
                stats.rolled,
                stats.wanted,
                stats.written,
                stats.cancelled,
                stats.dropped,
            )
        await self.dispatch_job()  # at start: what fell due while we were down goes now

    async def dispatch_job(self) -> None:
        try:
            stats = await dispatch_due(self.app.sessions, self.app.ctx, quiet=self.quiet)
        except Exception:
            log.exception("dispatching due fires failed")
            return
        if stats.queued:
            log.info(
                "%d reminder(s) queued (%d late, %d superseded, %d cancelled)",
                stats.queued,
                stats.late,
                stats.superseded,
                stats.cancelled,
            )
            self.delivery.wake()
