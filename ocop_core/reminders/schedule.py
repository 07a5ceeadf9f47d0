"""When reminders go out: 08:00 in Vietnam on a day counted back from a deadline, never in the
quiet hours. Pure date arithmetic, no database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ocop_core.clock import VN_TZ
from ocop_core.plans import KINDS, Milestone

__all__ = [
    "CHECK_OFFSETS",
    "DEFAULT_OFFSETS",
    "DELIVERY_TIME",
    "KIND_OFFSETS",
    "NUDGE_EVERY_DAYS",
    "NUDGE_MAX",
    "OVERDUE_EVERY_DAYS",
    "FireKind",
    "QuietHours",
    "deliver_at",
    "offsets_for",
]


class FireKind(StrEnum):
    MILESTONE = "milestone"  # a plan deadline for dossiers at the stages it concerns
    EXPIRY = "expiry"  # a certificate's re-evaluation window and its expiry day
    MISSING_DOCUMENTS = "missing_documents"  # weekly nudge while blocking documents are missing
    COMMUNE_CHECK = "commune_check"  # the commune's own working-day limit to check a dossier


DELIVERY_TIME = time(8, 0)  # local time of every reminder: the start of an office day
DEFAULT_OFFSETS: tuple[int, ...] = (14, 7, 3, 1)  # days before a deadline

# Kinds that name a period of work rather than a deadline someone can miss: no reminders unless
# the plan file asks for them with ``offsets_days`` ("consulting July–October" needs no countdown).
_PERIOD_KINDS = frozenset(
    {"product_support", "council_setup", "training", "trade_promotion", "year_review"}
)
KIND_OFFSETS: dict[str, tuple[int, ...]] = {
    kind: () if kind in _PERIOD_KINDS else DEFAULT_OFFSETS for kind in KINDS
}

NUDGE_EVERY_DAYS = 7  # missing-document nudges: weekly after registration...
NUDGE_MAX = 3  # ...and at most this many, so a stalled dossier does not nag for ever
CHECK_OFFSETS: tuple[int, ...] = (7, 3, 1)  # days before the commune's check is due
OVERDUE_EVERY_DAYS = 7  # past due with dossiers still waiting: the next day, then weekly


def offsets_for(milestone: Milestone) -> tuple[int, ...]:
    """The plan's own offsets for this milestone, else the default of its kind."""
    if milestone.offsets_days is not None:
        return tuple(sorted(set(milestone.offsets_days), reverse=True))
    return KIND_OFFSETS.get(milestone.kind, DEFAULT_OFFSETS)


def deliver_at(day: date, tz: ZoneInfo = VN_TZ) -> datetime:
    """08:00 local time on ``day``, as an aware UTC instant (what the table stores)."""
    return datetime.combine(day, DELIVERY_TIME, tzinfo=tz).astimezone(UTC)


_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which no reminder is sent (default 20:00–07:00); ``start`` None = off."""

    start: time | None = time(20, 0)
    end: time | None = time(7, 0)
    tz: ZoneInfo = VN_TZ

    @classmethod
    def off(cls) -> QuietHours:
        return cls(start=None, end=None)

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo = VN_TZ) -> QuietHours:
        """``"20:00-07:00"``, or ``"off"``/empty for none. Raises ValueError on anything else."""
        if text.strip().lower() in ("", "off", "none"):
            return cls.off()
        match = _SPAN.match(text)
        if match is None:
            raise ValueError(f"quiet hours must look like 20:00-07:00 or 'off', not {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = time(h1, m1), time(h2, m2)  # time() refuses 25:00 or 07:61
        if start == end:
            raise ValueError("quiet hours must not start and end at the same minute")
        return cls(start=start, end=end, tz=tz)

    def contains(self, instant: datetime) -> bool:
        if self.start is None or self.end is None:
            return False
        local = instant.astimezone(self.tz).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # spans midnight

    def ends_after(self, instant: datetime) -> datetime:
        """The first instant at or after ``instant`` outside the quiet hours (UTC)."""
        if not self.contains(instant) or self.end is None:
            return instant
        local = instant.astimezone(self.tz)
        end = datetime.combine(local.date(), self.end, tzinfo=self.tz)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)
