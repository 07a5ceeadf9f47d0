"""``ocop-bot``: the operator's command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn

from bot import (
    cli_communes,
    cli_doctor,
    cli_dossiers,
    cli_officers,
    cli_person,
    cli_plans,
    cli_web,
)
from bot.app import App, open_app, serve
from bot.handlers.terminal import chat
from bot.logging_setup import announce_log_file, setup_logging, terminal_log_file
from bot.remind import outbox_stats, parse_instant, remind
from bot.settings import Settings, load_settings
from ocop_core import __version__
from ocop_core.authz import Actor
from ocop_core.db import transaction
from ocop_core.errors import DomainError
from ocop_core.i18n import translate
from ocop_core.plans import PlanRegistry, load_plan_file, render_plan
from ocop_core.services import accounts, dossiers


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one clear line and exit code 2 (argparse prints the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ocop-bot: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ocop-bot", description="OCOP chatbot for producers and commune officers")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser(
        "run", help="migrate the database and run the bot (all configured channels)"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="logs here, not in a file")
    sub.add_parser("version", help="print the version")
    cli_doctor.add_parser(sub)
    chat = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default=None, help="who you are in the chat (default: $USER)")
    chat.add_argument("-v", "--verbose", action="store_true", help="logs here, not in a file")

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_cmd", required=True)
    db.add_parser("upgrade", help="apply migrations and load administrative units")

    plan = sub.add_parser("plan", help="province plans").add_subparsers(
        dest="plan_cmd", required=True
    )
    plan.add_parser("list", help="list the known plans")
    show = plan.add_parser("show", help="print a province's plan for a year")
    show.add_argument("province", nargs="+", help=cli_plans.PROVINCE_HELP)
    show.add_argument("year", type=int)
    load = plan.add_parser("load", help="validate a plan file and install it")
    load.add_argument("file", type=Path)
    load.add_argument("--check", action="store_true", help="validate and print only")
    cli_plans.add_parsers(plan)

    officer = sub.add_parser("officer", help="officers").add_subparsers(
        dest="officer_cmd", required=True
    )
    add = officer.add_parser("add", help="give a chat account an officer role")
    add.add_argument("--commune", required=True, help="commune code, e.g. 03637")
    who = add.add_mutually_exclusive_group(required=True)
    who.add_argument("--telegram-id", help="Telegram user id")
    who.add_argument("--zalo-id", help="Zalo user id")
    add.add_argument("--role", choices=["commune", "province", "admin"], default="commune")
    add.add_argument("--name", default="")
    cli_officers.add_parsers(officer)
    cli_communes.add_parsers(sub)
    cli_person.add_parsers(sub)

    remind = sub.add_parser("remind", help="compute reminders and send what is due now")
    remind.add_argument(
        "--now",
        type=parse_instant,
        default=None,
        help="act as if it were this instant, e.g. 2024-10-23T08:00:00+07:00 (default: now)",
    )
    remind.add_argument("--dry-run", action="store_true", help="print what would be sent")
    out = sub.add_parser("outbox", help="messages waiting to be delivered").add_subparsers(
        dest="outbox_cmd", required=True
    )
    out.add_parser("stats", help="counts by channel and status, what is due, recent failures")

    dossier = sub.add_parser("dossier", help="dossiers").add_subparsers(
        dest="dossier_cmd", required=True
    )
    dlist = dossier.add_parser("list", help="list dossiers")
    dlist.add_argument("--limit", type=int, default=50)
    dshow = dossier.add_parser("show", help="show one dossier by its receipt code")
    dshow.add_argument("code")
    cli_dossiers.add_parsers(dossier)
    cli_web.add_parsers(sub)
    return p


def _print_rows(rows: list[list[str]]) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


async def _with_app(settings: Settings, fn: Callable[[App], Awaitable[int]]) -> int:
    async with open_app(settings) as app:
        return await fn(app)


async def _chat(app: App, user: str) -> int:
    await chat(app.sessions, app.ctx, user, locale=app.settings.default_locale)
    return 0


async def _db_upgrade(app: App) -> int:
    print(f"Database is at the latest schema ({app.engine.url.get_backend_name()}).")
    return 0


async def _officer_add(app: App, args: argparse.Namespace) -> int:
    channel, user_id = (
        ("telegram", args.telegram_id) if args.telegram_id else ("zalo", args.zalo_id)
    )
    if not str(user_id).strip().lstrip("-").isalnum():
        raise SystemExit(f"ocop-bot: invalid {channel} id {user_id!r}")
    async with transaction(app.sessions) as s:
        account = await accounts.get_or_create_account(
            s,
            app.ctx,
            channel=channel,
            platform_user_id=str(user_id),
            chat_id=str(user_id),
            display_name=args.name,
        )
        await accounts.grant_role(s, Actor.system(), account, args.role, commune_code=args.commune)
        print(
            f"{channel} user {user_id} is now {args.role} "
            f"(commune {args.commune}, province {account.province_code})."
        )
    return 0


async def _dossier_list(app: App, args: argparse.Namespace) -> int:
    async with transaction(app.sessions) as s:
        rows = await dossiers.list_dossiers(s, Actor.system(), limit=args.limit)
    table = [["CODE", "STAGE", "COMMUNE", "DUE", "PRODUCT"]]
    table += [
        [
            d.receipt_code,
            d.stage,
            d.commune_code,
            d.next_due.strftime("%d/%m/%Y") if d.next_due else "-",
            d.product_name,
        ]
        for d in rows
    ]
    _print_rows(table)
    print(f"{len(rows)} dossier(s)")
    return 0


def _plan_list(settings: Settings) -> int:
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
    _print_rows(table)
    print(
        "Provinces without a plan file use the national calendar of Decision 26/2026 "
        "(2026 onwards)."
    )
    return 0


def _plan_load(settings: Settings, args: argparse.Namespace) -> int:
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


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    cmd = args.command
    if cmd == "version":
        print(f"ocop-bot {__version__}")
        return 0
    if cmd == "run":
        asyncio.run(serve(settings))
        return 0
    if cmd == "chat":
        user = args.user or os.environ.get("USER") or "local"
        return asyncio.run(_with_app(settings, lambda app: _chat(app, user)))
    if cmd == "commune":  # pure lookups: no database needed
        return cli_communes.run(args)
    if cmd == "plan" and args.plan_cmd != "progress":
        handlers: dict[str, Callable[[], int]] = {
            "list": lambda: _plan_list(settings),
            "show": lambda: cli_plans.show(settings, args),
            "load": lambda: _plan_load(settings, args),
        }
        return handlers[args.plan_cmd]()
    if cmd in cli_web.COMMANDS:
        return asyncio.run(_with_app(settings, lambda app: cli_web.dispatch(app, args)))
    table: dict[tuple[str, str], Callable[[App], Awaitable[int]]] = {
        ("db", "upgrade"): _db_upgrade,
        ("officer", "add"): lambda app: _officer_add(app, args),
        ("officer", "invite"): lambda app: cli_officers.invite(app, args),
        ("officer", "invites"): lambda app: cli_officers.list_all(app, args),
        ("officer", "revoke"): lambda app: cli_officers.revoke(app, args),
        ("dossier", "list"): lambda app: _dossier_list(app, args),
        ("dossier", "show"): lambda app: cli_dossiers.show(app, args),
        ("dossier", "add"): lambda app: cli_dossiers.add(app, args),
        ("plan", "progress"): lambda app: cli_plans.progress(app, args),
        ("remind", ""): lambda app: remind(
            app, args.now or app.ctx.clock.now(), dry_run=args.dry_run
        ),
        ("outbox", "stats"): outbox_stats,
        **cli_person.commands(args),
    }
    sub = getattr(args, f"{cmd}_cmd", "")
    return asyncio.run(_with_app(settings, table[(cmd, sub)]))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "doctor":  # reports a bad setting as a check instead of stopping
        sys.exit(cli_doctor.run(args))
    settings = load_settings()
    secrets = [
        v.get_secret_value()
        for v in (
            settings.telegram_token,
            settings.zalo_bot_token,
            settings.telegram_webhook_secret,
            settings.zalo_webhook_secret,
            settings.link_secret,
        )
        if v is not None
    ]
    log_file = terminal_log_file(
        args.command,
        getattr(args, "verbose", False),
        settings.data_dir,
        chat_only=not (settings.telegram_token or settings.zalo_bot_token),
        interactive=sys.stdin.isatty(),
    )
    setup_logging(settings.log_level, secrets, log_file)
    if log_file is not None:
        announce_log_file(log_file)
    try:
        code = dispatch(args, settings)
    except DomainError as exc:
        print(
            f"ocop-bot: {translate(exc.key, settings.default_locale, **exc.params)}",
            file=sys.stderr,
        )
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
