"""``ocop-bot plan list|show|load|progress``: province plans, a province's plan by code, legacy
code or name, installing a plan file, and a plan's targets against what the database holds."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bot.app import App
from bot.cli.common import on_app, print_rows
from bot.settings import Settings
from ocop_core.db import transaction
from ocop_core.plans import PlanRegistry, load_plan_file, render_plan
from ocop_core.plans.provinces import resolve_province
from ocop_core.plans.render import target_range
from ocop_core.services.plan_progress import plan_progress

PROVINCE_HELP = 'province code, legacy code or name: 12, L35, "Hà Nam", ninh binh'


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    plan = sub.add_parser("plan", help="province plans").add_subparsers(
        dest="plan_cmd", required=True
    )
    plan.add_parser("list", help="list the known plans").set_defaults(func=list_plans)
    show_ = plan.add_parser("show", help="print a province's plan for a year")
    show_.add_argument("province", nargs="+", help=PROVINCE_HELP)
    show_.add_argument("year", type=int)
    show_.set_defaults(func=show)
    load_ = plan.add_parser("load", help="validate a plan file and install it")
    load_.add_argument("file", type=Path)
    load_.add_argument("--check", action="store_true", help="validate and print only")
    load_.set_defaults(func=load)
    progress_ = plan.add_parser("progress", help="a plan's targets against the database")
    progress_.add_argument("province", nargs="+", help=PROVINCE_HELP)
    progress_.add_argument("year", type=int)
    progress_.set_defaults(func=on_app(progress))


def list_plans(args: argparse.Namespace, settings: Settings) -> int:
    registry = PlanRegistry([settings.plans_dir])
    table = [["ID", "PROVINCE", "YEAR", "RULESET", "MILESTONES"]]
    table += [
        [
            p.id,
            f"{p.province_code} {p.province_name}",
            str(p.year),
            p.ruleset,
            str(len(p.milestones)),
        ]
        for p in registry.plans()
    ]
    print_rows(table)
    print(
        "Provinces without a plan file use the national calendar of Decision 26/2026 "
        "(2026 onwards)."
    )
    return 0


def show(args: argparse.Namespace, settings: Settings) -> int:
    code = resolve_province(" ".join(args.province), args.year)
    plan = PlanRegistry([settings.plans_dir]).plan_for(code, args.year)
    print(render_plan(plan, settings.default_locale))
    return 0


def load(args: argparse.Namespace, settings: Settings) -> int:
    plan = load_plan_file(args.file)
    print(render_plan(plan, settings.default_locale))
    if args.check:
        print(f"{args.file}: valid.")
        return 0
    settings.plans_dir.mkdir(parents=True, exist_ok=True)
    target = settings.plans_dir / f"{plan.id}.toml"
    shutil.copyfile(args.file, target)
    print(f"Installed as {target}.")
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
