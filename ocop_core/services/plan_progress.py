"""A plan's yearly targets against what the database holds (``ocop-bot plan progress``, web desk).

What counts for a plan: dossiers filed in the plan's year in its territory (today's province, and
for a former province only the communes that were in it), and their certificates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ocop_core.admin_units_legacy import is_legacy_code, successor
from ocop_core.lifecycle import Stage
from ocop_core.models import Attempt, Dossier
from ocop_core.plans import Plan, Target
from ocop_core.plans.rounds import legacy_plan_codes
from ocop_core.services.context import CoreContext
from ocop_core.services.rounds import filed_on

__all__ = ["TargetProgress", "plan_progress", "plan_targets"]


@dataclass(frozen=True)
class TargetProgress:
    target: Target
    achieved: float | None  # None: the bot cannot count it (``metric = "manual"``)


def plan_targets(ctx: CoreContext, province: str, year: int) -> list[Target]:
    """The targets of the plan governing that province and year (none for the national calendar)."""
    return list(ctx.plans.plan_for(province, year).targets)


async def _territory(s: AsyncSession, plan: Plan) -> list[Dossier]:
    rows = (
        await s.exec(select(Dossier).where(Dossier.province_code == successor(plan.province_code)))
    ).all()
    if not is_legacy_code(plan.province_code):
        return list(rows)
    return [d for d in rows if plan.province_code in legacy_plan_codes(d.commune_code)]


def _certified(d: Dossier) -> bool:
    return d.stage == Stage.CERTIFIED and (d.stars or 0) >= 3 and d.certificate_date is not None


def _count(metric: str, dossiers: list[Dossier], year: int) -> float | None:
    filed = [d for d in dossiers if filed_on(d).year == year]
    end = date(year, 12, 31)
    if metric == "products_registered":
        return len(filed)
    if metric == "producers_registered":
        return len({d.producer_id for d in filed})
    if metric == "new_products_3_stars":
        return sum(
            1
            for d in dossiers
            if _certified(d) and d.attempt == Attempt.NEW and d.certificate_date.year == year  # type: ignore[union-attr]
        )
    if metric == "products_3_stars_total":
        return sum(1 for d in dossiers if _certified(d) and d.certificate_date <= end)  # type: ignore[operator]
    return None


async def plan_progress(
    s: AsyncSession, ctx: CoreContext, province: str, year: int
) -> tuple[Plan, list[TargetProgress]]:
    plan = ctx.plans.plan_for(province, year)
    dossiers = await _territory(s, plan)
    return plan, [TargetProgress(t, _count(t.metric, dossiers, year)) for t in plan.targets]
