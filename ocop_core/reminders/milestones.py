"""Milestone fires: plan milestones × dossiers at the stages each milestone concerns × its audience.

The producer who owns a dossier gets one fire per dossier; commune officers of the dossier's commune
and provincial staff of its province get one fire per officer, counting their dossiers (an officer
with 80 dossiers gets one message, not 80). A milestone may concern only dossiers with enough points
(≥ 90 for the filing with the Ministry). Slots are built in Python from the plans (one row per
milestone × offset, not per dossier) and joined to the dossiers in SQL.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Column, Float, Integer, String, and_, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from ocop_core.errors import NotFound
from ocop_core.lifecycle import TERMINAL
from ocop_core.models import Role
from ocop_core.plans import Milestone, Plan
from ocop_core.plans.models import min_points
from ocop_core.reminders.schedule import FireKind, deliver_at, offsets_for
from ocop_core.reminders.temp import (
    ACCOUNT,
    ACCOUNT_COMMUNE,
    DOSSIER,
    PRODUCER,
    insert_rows,
    slot_columns,
    temp_table,
    want,
)
from ocop_core.services.context import CoreContext

__all__ = ["resolve_plan", "want_milestones"]

_D, _P, _A, _AC = DOSSIER, PRODUCER, ACCOUNT, ACCOUNT_COMMUNE
_LIVE_STAGES = ~_D.c.stage.in_(sorted(s.value for s in TERMINAL))

T_STAGE = temp_table(
    "stage",
    Column("plan_id", String(64)),
    Column("stage", String(24)),
    Column("mkey", Integer),
    Column("min_points", Float),  # only dossiers with at least these points (≥ 90 to the Ministry)
    key=("plan_id", "stage"),
)
T_SLOT = temp_table(
    "slot",
    Column("id", Integer, primary_key=True),
    Column("mkey", Integer),
    Column("audience", String(16)),
    *slot_columns(),
    key=("mkey", "audience"),
)


def resolve_plan(ctx: CoreContext, plan_id: str, province: str, year: int) -> Plan | None:
    try:
        return ctx.plans.get(plan_id)
    except NotFound:
        try:
            # The plan file was removed or renamed: whatever governs that year now applies.
            return ctx.plans.plan_for(province, year)
        except NotFound:
            return None


def _slots(plan_id: str, m: Milestone, mkey: int, today: date) -> list[dict[str, Any]]:
    """One row per offset and audience of a milestone, from today on."""
    rows: list[dict[str, Any]] = []
    for offset in offsets_for(m):
        day = m.due - timedelta(days=offset)
        deadline = max(m.due, day)  # a negative offset is an overdue nudge: its own day
        if deadline < today:
            continue
        payload = {
            "plan_id": plan_id,
            "milestone_id": m.id,
            "offset": offset,
            "series": f"{plan_id}/{m.id}",
        }
        rows.extend(
            {
                "mkey": mkey,
                "audience": audience,
                "scope": f"{plan_id}/{m.id}/{offset}",
                "fire_at": deliver_at(day),
                "deadline": deadline,
                "payload": {**payload, "audience": audience},
            }
            for audience in m.audience
        )
    return rows


async def _plan_rows(
    conn: AsyncConnection, ctx: CoreContext, today: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stage rows and slot rows of every plan live dossiers are on."""
    keys = (
        await conn.execute(
            select(_D.c.plan_id, _D.c.province_code, _D.c.year).where(_LIVE_STAGES).distinct()
        )
    ).all()
    stage_rows: list[dict[str, Any]] = []
    slot_rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for plan_id, province, year in keys:
        plan = None if plan_id in seen else resolve_plan(ctx, plan_id, province, year)
        seen.add(plan_id)
        for m in plan.milestones if plan is not None else ():
            if not m.stages or not offsets_for(m) or m.due < today:
                continue
            mkey = len(stage_rows) + 1
            floor = min_points(m, plan.ruleset)  # type: ignore[union-attr]
            stage_rows.extend(
                {"plan_id": plan_id, "stage": st, "mkey": mkey, "min_points": floor}
                for st in m.stages
            )
            slot_rows.extend(_slots(plan_id, m, mkey, today))
    for i, row in enumerate(slot_rows, start=1):
        row["id"] = i
    return stage_rows, slot_rows


def _stage_match() -> Any:
    return and_(
        T_STAGE.c.plan_id == _D.c.plan_id,
        T_STAGE.c.stage == _D.c.stage,
        or_(T_STAGE.c.min_points.is_(None), _D.c.points >= T_STAGE.c.min_points),
    )


def _producer_fires() -> Select[Any]:
    """Producers: one fire per dossier they own."""
    return (
        select(
            literal("dossier"),
            _D.c.id,
            literal(FireKind.MILESTONE.value),
            T_SLOT.c.scope,
            _P.c.account_id,
            T_SLOT.c.fire_at,
            T_SLOT.c.deadline,
            T_SLOT.c.payload,
        )
        .select_from(_D)
        .join(_P, _P.c.id == _D.c.producer_id)
        .join(T_STAGE, _stage_match())
        .join(T_SLOT, and_(T_SLOT.c.mkey == T_STAGE.c.mkey, T_SLOT.c.audience == "producer"))
        .where(_P.c.account_id.is_not(None))
    )


def _officer_pairs(role: str) -> Any:
    """(officer, milestone) pairs for officers of ``role`` with a dossier at its stages."""
    base = select(_A.c.id.label("account_id"), T_STAGE.c.mkey.label("mkey")).select_from(_D)
    base = base.join(T_STAGE, _stage_match())
    if role == Role.COMMUNE:
        base = (
            select(_AC.c.account_id.label("account_id"), T_STAGE.c.mkey.label("mkey"))
            .select_from(_D)
            .join(T_STAGE, _stage_match())
            .join(_AC, _AC.c.commune_code == _D.c.commune_code)
            .join(_A, and_(_A.c.id == _AC.c.account_id, _A.c.role == Role.COMMUNE))
        )
    else:
        base = base.join(
            _A, and_(_A.c.role == Role.PROVINCE, _A.c.province_code == _D.c.province_code)
        )
    return base.distinct().subquery()


def _officer_fires(role: str) -> Select[Any]:
    """Officers: one fire per officer and milestone offset, whatever the number of dossiers."""
    pairs = _officer_pairs(role)
    return (
        select(
            literal("account"),
            pairs.c.account_id,
            literal(FireKind.MILESTONE.value),
            T_SLOT.c.scope,
            pairs.c.account_id,
            T_SLOT.c.fire_at,
            T_SLOT.c.deadline,
            T_SLOT.c.payload,
        )
        .select_from(pairs)
        .join(T_SLOT, and_(T_SLOT.c.mkey == pairs.c.mkey, T_SLOT.c.audience == role))
    )


async def want_milestones(conn: AsyncConnection, ctx: CoreContext, today: date) -> None:
    stage_rows, slot_rows = await _plan_rows(conn, ctx, today)
    if not slot_rows:
        return
    await insert_rows(conn, T_STAGE, stage_rows)
    await insert_rows(conn, T_SLOT, slot_rows)
    await want(conn, _producer_fires())
    for role in (Role.COMMUNE, Role.PROVINCE):
        await want(conn, _officer_fires(role.value))
