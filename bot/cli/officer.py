"""``ocop-bot officer add|invite|invites|revoke``: the operator gives a chat account an officer
role directly, or hands out and withdraws invite codes."""

from __future__ import annotations

import argparse
import sys

from bot.app import App
from bot.cli.common import on_app, print_rows
from ocop_core.authz import Actor
from ocop_core.clock import VN_TZ
from ocop_core.db import transaction
from ocop_core.models import Commune, Province
from ocop_core.services import accounts, invites


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    officer = sub.add_parser("officer", help="officers").add_subparsers(
        dest="officer_cmd", required=True
    )
    add_ = officer.add_parser("add", help="give a chat account an officer role")
    add_.add_argument("--commune", required=True, help="commune code, e.g. 03637")
    who = add_.add_mutually_exclusive_group(required=True)
    who.add_argument("--telegram-id", help="Telegram user id")
    who.add_argument("--zalo-id", help="Zalo user id")
    add_.add_argument("--role", choices=["commune", "province", "admin"], default="commune")
    add_.add_argument("--name", default="")
    add_.set_defaults(func=on_app(add))
    invite_ = officer.add_parser("invite", help="print a single-use invite code for /canbo")
    invite_.add_argument("--commune", help="commune code, e.g. 03390 (commune officers)")
    invite_.add_argument(
        "--province", help="province code, e.g. 12, for --role province or admin (no commune)"
    )
    invite_.add_argument("--role", choices=["commune", "province", "admin"], default="commune")
    invite_.add_argument(
        "--days",
        type=int,
        default=None,
        help=(
            f"days the code stays valid (1–{invites.MAX_DAYS}, default {invites.DEFAULT_DAYS}; "
            f"admin codes at most {invites.ADMIN_MAX_DAYS})"
        ),
    )
    invite_.set_defaults(func=on_app(invite))
    listing = officer.add_parser("invites", help="list invite codes and their state")
    listing.add_argument("--open", action="store_true", help="only codes not used or revoked")
    listing.set_defaults(func=on_app(list_all))
    revoke_ = officer.add_parser("revoke", help="revoke an unused invite")
    revoke_.add_argument("code", help="the invite code, or #ID as shown by `officer invites`")
    revoke_.set_defaults(func=on_app(revoke))


def _local(value: object) -> str:
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M") if value else "-"  # type: ignore[attr-defined]


def _check_scope(args: argparse.Namespace) -> str | None:
    """The one-line problem with --commune/--province for this role, if any."""
    if args.role == "commune" and not args.commune:
        return "a commune officer's invite needs --commune CODE"
    if args.role == "commune" and args.province:
        return "--province is for --role province or admin; commune officers take --commune"
    if args.role != "commune" and not (args.commune or args.province):
        return f"a {args.role} invite needs --province CODE (or --commune CODE)"
    return None


async def add(app: App, args: argparse.Namespace) -> int:
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


async def invite(app: App, args: argparse.Namespace) -> int:
    problem = _check_scope(args)
    if problem:
        print(f"ocop-bot: {problem} (see `ocop-bot officer invite --help`)", file=sys.stderr)
        return 2
    async with transaction(app.sessions) as s:
        issued = await invites.create_invite(
            s,
            app.ctx,
            Actor.system(),
            commune_code=args.commune,
            province_code=args.province,
            role=args.role,
            days=args.days
            if args.days is not None
            else (invites.ADMIN_MAX_DAYS if args.role == "admin" else invites.DEFAULT_DAYS),
        )
        commune = await s.get(Commune, issued.invite.commune_code)
        province = await s.get(Province, issued.invite.province_code)
    where = f"{commune.name} ({commune.code})" if commune else args.commune
    if args.role != "commune":  # province staff and admins get the whole province or more
        name = province.name if province else issued.invite.province_code
        where = f"the province of {name}"
    print(issued.code)
    print(
        f"Invite #{issued.invite.id}: {args.role} for {where}, province code "
        f"{issued.invite.province_code}; valid until {_local(issued.invite.expires_at)} "
        f"(Vietnam time), single use. The officer sends: /canbo {issued.code}"
    )
    return 0


async def list_all(app: App, args: argparse.Namespace) -> int:
    now = app.ctx.clock.now()
    async with transaction(app.sessions) as s:
        rows = await invites.list_invites(s, Actor.system(), include_closed=not args.open)
    table = [["ID", "ROLE", "COMMUNE", "PROVINCE", "CREATED", "EXPIRES", "STATE", "USED BY"]]
    table += [
        [
            f"#{i.id}",
            i.role,
            i.commune_code,
            i.province_code,
            _local(i.created_at),
            _local(i.expires_at),
            invites.state_of(i, now),
            str(i.used_by or "-"),
        ]
        for i in rows
    ]
    print_rows(table)
    print(f"{len(rows)} invite(s); codes are stored hashed and cannot be shown again.")
    return 0


async def revoke(app: App, args: argparse.Namespace) -> int:
    raw = args.code.strip()
    by_id = raw.startswith("#") and raw[1:].isdigit()
    async with transaction(app.sessions) as s:
        invite = await invites.revoke_invite(
            s,
            app.ctx,
            Actor.system(),
            code=None if by_id else raw,
            invite_id=int(raw[1:]) if by_id else 0,
        )
    print(f"Invite #{invite.id} revoked.")
    return 0
