"""Computing the fires table from plans, dossiers and people, set-wise.

One pass, in the caller's transaction:

1. pending fires whose deadline is behind us become ``dropped``;
2. every fire that should exist now is gathered in a temporary table by a few
   ``INSERT … SELECT`` statements joining dossiers to small "slot" tables built in Python from the
   plans (one row per milestone × offset, not per dossier), so 100,000 dossiers cost a handful of
   statements, not 100,000 round trips;
3. they are upserted on the unique key (subject, kind, scope): an edited plan moves ``fire_at`` of
   the same fire, nothing is doubled, and a fire already sent is never sent again;
4. pending fires that are no longer wanted (the document arrived, the dossier moved on) become
   ``cancelled``.

Who gets what:

* milestone fires — plan milestones × dossiers at the stages each milestone concerns × its
  audience: the producer who owns the dossier (one fire per dossier), commune officers of the
  dossier's commune and provincial staff of its province (one fire per officer, counting their
  dossiers, so an officer with 80 dossiers gets one message, not 80);
* missing-document nudges — weekly after registration while blocking documents are missing;
* certificate windows — the re-evaluation window opens (expiry − 180 days), closes (− 120 days)
  and the certificate expires (the window of the newest ruleset that has one: qd26-2026);
* the commune's working-day check (qd26-2026: 15 working days after filing) for its officers.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, literal, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.sqltypes import UTCDateTime

from ocop_core.clock import local_today
from ocop_core.db import transaction
from ocop_core.lifecycle import EDITABLE
from ocop_core.models import FireStatus
from ocop_core.reminders.checks import check_due, want_commune_checks
from ocop_core.reminders.expiry import want_expiry, window_ruleset
from ocop_core.reminders.locks import compute_lock
from ocop_core.reminders.milestones import resolve_plan, want_milestones
from ocop_core.reminders.nudges import want_nudges
from ocop_core.reminders.schedule import FireKind
from ocop_core.reminders.temp import (
    DOSSIER,
    FIRE,
    WANTED,
    create_temp_tables,
    empty_temp_tables,
)
from ocop_core.services.context import CoreContext
from ocop_core.services.rollover import roll_over

__all__ = [
    "ROLL_STEP",
    "ComputeStats",
    "check_due",
    "compute_fires",
    "resolve_plan",
    "roll_over_in_steps",
    "window_ruleset",
]

# Dossiers moved per transaction by ``roll_over_in_steps``: about 50 ms of work each.
ROLL_STEP = 500

_F, _D, T_WANTED = FIRE, DOSSIER, WANTED
_FIRE_KEY = ("subject_type", "subject_id", "kind", "scope")
_EDITABLE = sorted(s.value for s in EDITABLE)


@dataclass
class ComputeStats:
    wanted: int = 0  # fires that should exist now (pending or already sent)
    written: int = 0  # inserted, moved or revived by this pass
    cancelled: int = 0  # their reason disappeared
    dropped: int = 0  # their deadline passed before they could go out
    skipped: bool = False  # another process holds the compute lock
    rolled: int = 0  # dossiers moved to another round (missed date, or a plan now applies)
    seconds: float = 0.0


async def compute_fires(
    s: AsyncSession, ctx: CoreContext, *, wait_for_lock: bool = False
) -> ComputeStats:
    """Bring the fires table in line with plans, dossiers and accounts as of ``ctx.clock``."""
    started = _time.perf_counter()
    await s.flush()
    if not await compute_lock(s, wait=wait_for_lock):
        return ComputeStats(skipped=True)
    now = ctx.clock.now()
    today = local_today(ctx.clock)
    stats = ComputeStats()
    # Rounds first: a dossier that missed its round is reminded of its new round's dates.
    stats.rolled = (await roll_over(s, ctx)).moved
    conn = await s.connection()
    await create_temp_tables(conn)
    stats.dropped = await _drop_late(conn, today, now)
    await want_milestones(conn, ctx, today)
    await want_nudges(conn, today)
    await want_expiry(conn, today)
    await want_commune_checks(conn, today)
    counted = await conn.execute(select(func.count()).select_from(T_WANTED))
    stats.wanted = int(counted.scalar() or 0)
    stats.written = await _upsert(conn, now)
    stats.cancelled = await _cancel_unwanted(conn, now)
    # On failure the caller's rollback undoes what was written to the temporary tables (and
    # their creation: DDL is transactional on both databases).
    await empty_temp_tables(conn)
    stats.seconds = _time.perf_counter() - started
    return stats


async def roll_over_in_steps(
    sessions: async_sessionmaker[AsyncSession], ctx: CoreContext, step: int = ROLL_STEP
) -> int:
    """Move dossiers whose round is over, ``step`` at a time, each step its own transaction.

    The pass that follows (``compute_fires``) then finds nothing left to move. When a round's
    date passes, thousands of dossiers move at once; in one transaction that would hold SQLite's
    only write lock, and the event loop, for seconds, and replies and deliveries would wait. On
    PostgreSQL each step takes the compute lock, so one process rolls over at a time.
    """
    moved = 0
    while True:
        async with transaction(sessions) as s:
            if not await compute_lock(s, wait=False):
                return moved
            stats = await roll_over(s, ctx, limit=step)
        moved += stats.moved
        if not (stats.more and stats.moved):
            return moved


# -- 1. late fires ------------------------------------------------------------------------------


async def _drop_late(conn: AsyncConnection, today: date, now: datetime) -> int:
    result = await conn.execute(
        update(_F)
        .where(_F.c.status == FireStatus.PENDING, _F.c.deadline < today)
        .values(status=FireStatus.DROPPED, updated_at=now)
    )
    return int(result.rowcount or 0)


# -- 3. upsert, 4. cancel -----------------------------------------------------------------------


async def _upsert(conn: AsyncConnection, now: datetime) -> int:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stamp = literal(now, UTCDateTime())
    rows = select(
        *T_WANTED.c,
        literal(FireStatus.PENDING.value),
        stamp,
        stamp,
    ).where(true())  # SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT
    stmt = insert(_F).from_select([*T_WANTED.c.keys(), "status", "created_at", "updated_at"], rows)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_FIRE_KEY),
        set_={
            "recipient_id": new.recipient_id,
            "fire_at": new.fire_at,
            "deadline": new.deadline,
            "payload": new.payload,
            "status": FireStatus.PENDING.value,
            "updated_at": new.updated_at,
        },
        # A sent fire stays sent (never twice). A pending one is rewritten only when it moved; a
        # cancelled one comes back when its reason does; a dropped one only when the plan moved
        # its date (a clock jumping back must not revive what was dropped as late or superseded).
        where=or_(
            and_(
                _F.c.status == FireStatus.PENDING,
                or_(
                    _F.c.fire_at != new.fire_at,
                    _F.c.deadline != new.deadline,
                    _F.c.recipient_id != new.recipient_id,
                ),
            ),
            _F.c.status == FireStatus.CANCELLED,
            and_(
                _F.c.status == FireStatus.DROPPED,
                or_(_F.c.fire_at != new.fire_at, _F.c.deadline != new.deadline),
            ),
        ),
    )
    result = await conn.execute(stmt)
    return int(result.rowcount or 0)


async def _cancel_unwanted(conn: AsyncConnection, now: datetime) -> int:
    still_wanted = (
        select(T_WANTED.c.kind)
        .where(*(T_WANTED.c[k] == _F.c[k] for k in _FIRE_KEY))
        .correlate(_F)
        .exists()
    )
    # A nudge an officer asked for ("request/<event>", written by services.notices) is not
    # computed here: keep it while the dossier is still with the producer. Dispatch re-checks
    # that documents are still missing before sending it.
    officer_request = and_(
        _F.c.kind == FireKind.MISSING_DOCUMENTS.value,
        _F.c.scope.like("request/%"),
        select(_D.c.id)
        .where(_D.c.id == _F.c.subject_id, _D.c.stage.in_(_EDITABLE))
        .correlate(_F)
        .exists(),
    )
    result = await conn.execute(
        update(_F)
        .where(_F.c.status == FireStatus.PENDING, ~still_wanted, ~officer_request)
        .values(status=FireStatus.CANCELLED, updated_at=now)
    )
    return int(result.rowcount or 0)
