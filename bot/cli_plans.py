"""``ocop-bot plan show|progress``: a province's plan by code, legacy code or name, and its
targets against what the database holds."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ocop_core.db import transaction
from ocop_core.plans import PlanRegistry, render_plan
from ocop_core.plans.provinces import resolve_province
from ocop_core.plans.render import target_range
from ocop_core.services.plan_progress import plan_progress

if TYPE_CHECKING:
    from bot.app import App
    from bot.settings import Settings

PROVINCE_HELP = 'province code, legacy code or name: 12, L35, "Hà Nam", ninh binh'


def add_parsers(plan: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    progress = plan.add_parser("progress", help="a plan's targets against the database")
    progress.add_argument("province", nargs="+", help=PROVINCE_HELP)
    progress.add_argument("year", type=int)


def show(settings: Settings, args: argparse.Namespace) -> int:
    code = resolve_province(" ".join(args.province), args.year)
    plan = PlanRegistry([settings.plans_dir]).plan_for(code, args.year)
    print(render_plan(plan, settings.default_locale))
    return 0


async def progress(app: App, args: argparse.Namespace) -> int:
    locale = app.settings.default_locale
    code = resolve_province(" ".join(args.province), args.year)
    async with transaction(app.sessions) as s:
        plan, rows = await plan_progress(s, app.ctx, code, args.year)
    print(f"{plan.title} ({plan.id})")
    if not rows:
        print("  (this plan sets no targets)")
    for row in rows:
        t = row.target
        goal = target_range(t.min, t.max, t.unit)
        achieved = "—" if row.achieved is None else f"{row.achieved:g}"
        print(f"  {goal:>8}  {achieved:>5}  {t.title(locale)}")
    return 0
