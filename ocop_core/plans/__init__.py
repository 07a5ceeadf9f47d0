"""Province OCOP plans as data: models, loader and registry, the national calendar, rendering."""

from __future__ import annotations

from ocop_core.i18n import N_
from ocop_core.plans.errors import PlanValidationError
from ocop_core.plans.loader import BUILTIN_DIR, PlanRegistry, builtin_plan_files, load_plan_file
from ocop_core.plans.models import (
    AUDIENCES,
    KINDS,
    LEVELS,
    RULESETS,
    STAGES,
    Audience,
    Kind,
    Level,
    Milestone,
    Plan,
    RulesetId,
    Stage,
    Target,
)
from ocop_core.plans.national import national_plan, national_plan_id
from ocop_core.plans.render import format_date, render_plan

__all__ = [
    "AUDIENCES",
    "BUILTIN_DIR",
    "KINDS",
    "LEVELS",
    "RULESETS",
    "STAGES",
    "Audience",
    "Kind",
    "Level",
    "Milestone",
    "Plan",
    "PlanRegistry",
    "PlanValidationError",
    "RulesetId",
    "Stage",
    "Target",
    "builtin_plan_files",
    "catalog_keys",
    "format_date",
    "load_plan_file",
    "national_plan",
    "national_plan_id",
    "render_plan",
]

_FIXED_KEYS = (
    N_("error.plan_invalid"),
    N_("error.plan_not_found"),
    N_("error.province_unknown"),
    N_("plan.col.due"),
    N_("plan.col.starts"),
    N_("plan.col.level"),
    N_("plan.col.audience"),
    N_("plan.col.milestone"),
    N_("plan.render.meta"),
    N_("plan.render.source"),
    N_("rounds.plan.inferred"),
    N_("rounds.plan.targets"),
)


def catalog_keys() -> set[str]:
    """Every catalog key this package may display: labels of kinds, levels and audiences, errors."""
    keys = set(_FIXED_KEYS)
    keys.update(f"milestone.{kind}" for kind in KINDS)
    keys.update(f"plan.level.{level}" for level in LEVELS)
    keys.update(f"audience.{audience}" for audience in AUDIENCES)
    return keys
