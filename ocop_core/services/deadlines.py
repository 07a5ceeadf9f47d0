"""Which deadline applies to a dossier now: its round's next milestone for its stage, and the
commune's own 15-working-day check where the ruleset sets one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ocop_core.clock import VN_TZ
from ocop_core.errors import NotFound
from ocop_core.lifecycle import EDITABLE, Stage
from ocop_core.models import Dossier
from ocop_core.plans import Milestone, Plan
from ocop_core.plans.rounds import RoundRef
from ocop_core.rules import get_ruleset
from ocop_core.services.context import CoreContext
from ocop_core.workdays import add_working_days


@dataclass(frozen=True)
class Deadline:
    due: date
    kind: str  # a milestone kind, or "commune_check_period"
    milestone: Milestone | None = None


def plan_of(ctx: CoreContext, dossier: Dossier) -> Plan | None:
    """The plan of the dossier's round; ``None`` when no loaded plan governs it."""
    if not dossier.plan_id:
        return None
    try:
        return ctx.plans.get(dossier.plan_id)
    except NotFound:
        try:
            # The plan file was removed or renamed: fall back to whatever governs that year now.
            return ctx.plans.plan_for(dossier.province_code, dossier.year)
        except NotFound:
            return None


def round_of(ctx: CoreContext, dossier: Dossier) -> RoundRef | None:
    plan = plan_of(ctx, dossier)
    if plan is None or dossier.round_number is None:
        return None
    return RoundRef(plan, dossier.round_number)


def commune_check_due(dossier: Dossier) -> date | None:
    if dossier.stage != Stage.SUBMITTED or dossier.submitted_at is None:
        return None
    days = get_ruleset(dossier.ruleset).level("commune").check_working_days
    if not days:
        return None
    return add_working_days(dossier.submitted_at.astimezone(VN_TZ).date(), days)


def _round_milestones(ctx: CoreContext, dossier: Dossier, today: date) -> list[Milestone]:
    """Upcoming milestones for the dossier's stage in its own round (and its round's intake)."""
    plan = plan_of(ctx, dossier)
    if plan is None:
        return []
    number = dossier.round_number
    found = [
        m
        for m in plan.milestones_for_stage(dossier.stage)
        if m.due >= today and (number is None or m.round == number)
    ]
    ref = round_of(ctx, dossier)
    gate = ref.gate(dossier.stage) if ref is not None and dossier.stage in EDITABLE else None
    if gate is not None and gate.due >= today:
        found.append(gate)
    return found


def next_deadline(ctx: CoreContext, dossier: Dossier, today: date) -> Deadline | None:
    found = [Deadline(m.due, m.kind, m) for m in _round_milestones(ctx, dossier, today)]
    check = commune_check_due(dossier)
    if check is not None and check >= today:
        found.append(Deadline(check, "commune_check_period"))
    return min(found, key=lambda d: d.due) if found else None


def next_due_for(ctx: CoreContext, dossier: Dossier, today: date) -> date | None:
    deadline = next_deadline(ctx, dossier, today)
    return deadline.due if deadline else None
