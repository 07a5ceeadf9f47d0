"""Deadline reminders as a durable table of fires: computed set-wise from plans and dossiers,
dispatched into the outbox when due. No timers, nothing kept only in memory.

    async with transaction(sessions) as s:
        await compute_fires(s, ctx)           # every 10 minutes (one process on PostgreSQL)
    await dispatch_due(sessions, ctx)          # every 30 seconds (any process)
"""

from __future__ import annotations

from ocop_core.reminders.compute import (
    ComputeStats,
    compute_fires,
    roll_over_in_steps,
    window_ruleset,
)
from ocop_core.reminders.dispatch import DispatchStats, Message, dispatch_due, dispatch_in
from ocop_core.reminders.schedule import (
    DEFAULT_OFFSETS,
    FireKind,
    QuietHours,
    deliver_at,
    offsets_for,
)

__all__ = [
    "DEFAULT_OFFSETS",
    "ComputeStats",
    "DispatchStats",
    "FireKind",
    "Message",
    "QuietHours",
    "compute_fires",
    "deliver_at",
    "dispatch_due",
    "dispatch_in",
    "offsets_for",
    "roll_over_in_steps",
    "window_ruleset",
]
