"""The scheduler inside ``ocop-bot run``: APScheduler ticks compute → dispatch → delivery over
the durable tables, through any channel implementing the delivery interface (an in-memory one
here, as a Zalo channel would be plugged in)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.app import App
from bot.outbox.delivery import DeliveryResult, Outcome
from bot.outbox.pacing import ChatPacer
from bot.outbox.scheduler import ReminderScheduler, delivery_channels
from bot.settings import Settings
from ocop_core.lifecycle import Stage
from ocop_core.models import Role
from tests.conftest import Core, vn_time
from tests.factories import BINH_LU
from tests.reminders_world import dossier_at


@dataclass
class MemoryChannel:
    """The smallest channel that can deliver outbox rows: name, pacer, deliver()."""

    name: str = "telegram"
    pacer: ChatPacer = field(default_factory=lambda: ChatPacer(global_rate=1000.0))
    got: list[tuple[str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> DeliveryResult:
        self.got.append((chat_id, payload["text"]))
        self.arrived.set()
        return DeliveryResult(Outcome.SENT)


class NotADeliveryChannel:
    name = "zalo"


async def test_run_computes_dispatches_and_delivers_on_its_own(core: Core, tmp_path: Path) -> None:
    _, owner = await core.person("owner")
    # The district council of 148 is a task of the provincial staff who record it (issue 10).
    await core.person("officer", Role.PROVINCE, commune=BINH_LU)
    at = vn_time(2024, 9, 1, 9, 0)
    await dossier_at(core, owner, BINH_LU, Stage.COMMUNE_CHECKED, registered=at)
    core.clock.set(vn_time(2024, 10, 23, 8, 5))  # the 7-day reminders of 30/10 are due
    settings = Settings(_env_file=None, data_dir=tmp_path / "var")  # type: ignore[call-arg]
    app = App(settings, core.engine, core.sessions, core.ctx)
    channel = MemoryChannel()
    assert list(delivery_channels([channel, NotADeliveryChannel()])) == ["telegram"]
    scheduler = ReminderScheduler(app, [channel, NotADeliveryChannel()])
    jobs = {job.id: job.trigger.interval.total_seconds() for job in scheduler.scheduler.get_jobs()}
    assert jobs == {"compute-fires": 600, "dispatch-fires": 30, "outbox-retention": 6 * 3600}
    await scheduler.start()
    try:
        # The compute job runs at start and dispatches at once; delivery picks the rows up.
        async with asyncio.timeout(20):
            while len(channel.got) < 2:
                channel.arrived.clear()
                await channel.arrived.wait()
    finally:
        await scheduler.stop()
    assert sorted(chat for chat, _ in channel.got) == ["officer", "owner"]
    assert all("30/10/2024" in text and "còn 7 ngày" in text for _, text in channel.got)
