"""``ocop-bot person show|export|erase``: a person's data rights, on the operator's side (a
request by letter or phone, Decree 13/2023/NĐ-CP). The same core service as ``/dulieu``."""

from __future__ import annotations

import argparse
import json

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import App
from bot.cli.common import AppCommand, Print, on_app
from ocop_core.db import transaction
from ocop_core.models import Account
from ocop_core.services import personal_data


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    person = sub.add_parser("person", help="a person's data: show, export, erase")
    cmds = person.add_subparsers(dest="person_cmd", required=True)
    for name, text in (
        ("show", "print what is stored about the person"),
        ("export", "write a zip (data.json + documents) and print its path"),
        ("erase", "withdraw consent and erase the person's data"),
    ):
        cmd = cmds.add_parser(name, help=text)
        who = cmd.add_mutually_exclusive_group(required=True)
        who.add_argument("--telegram-id", help="Telegram user id")
        who.add_argument("--zalo-id", help="Zalo user id")
        who.add_argument("--account", type=int, help="account number")
        if name == "erase":
            cmd.add_argument("--yes", action="store_true", help="really erase (cannot be undone)")
        cmd.set_defaults(func=on_app(COMMANDS[name]))


async def _account(s: AsyncSession, args: argparse.Namespace) -> Account:
    if args.account is not None:
        found = await s.get(Account, args.account)
    else:
        channel, user = (
            ("telegram", args.telegram_id) if args.telegram_id else ("zalo", args.zalo_id)
        )
        stmt = select(Account).where(
            Account.channel == channel, Account.platform_user_id == str(user)
        )
        found = (await s.exec(stmt)).first()
    if found is None:
        raise SystemExit("ocop-bot: no such person (check the id; erased people are gone)")
    return found


async def show(app: App, args: argparse.Namespace, out: Print = print) -> int:
    async with app.sessions() as s:
        data = await personal_data.collect(s, await _account(s, args))
    out(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


async def export(app: App, args: argparse.Namespace, out: Print = print) -> int:
    async with transaction(app.sessions) as s:
        path = await personal_data.export(s, app.ctx, await _account(s, args))
    out(f"Written: {path}")
    return 0


async def erase(app: App, args: argparse.Namespace, out: Print = print) -> int:
    if not args.yes:
        out("Nothing erased: add --yes to erase this person's data (cannot be undone).")
        return 1
    async with transaction(app.sessions) as s:
        account = await _account(s, args)
        done = await personal_data.erase(s, app.ctx, account)
    out(
        f"Erased account {account.id}: {done.deleted_documents} document file(s), "
        f"{done.deleted_dossiers} unsubmitted dossier(s)."
    )
    if done.kept:
        out(f"Kept as programme records, without personal data: {', '.join(done.kept)}")
    return 0


COMMANDS: dict[str, AppCommand] = {"show": show, "export": export, "erase": erase}
