"""``ocop-bot web link --officer ID``: a sign-in link to the officers' web desk."""

from __future__ import annotations

import argparse

from bot.app import App
from bot.cli.common import on_app
from ocop_core.db import transaction
from ocop_core.services import web_access


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    web = sub.add_parser("web", help="the officers' web desk").add_subparsers(
        dest="web_cmd", required=True
    )
    link_ = web.add_parser("link", help="print a single-use sign-in link (10 minutes)")
    link_.add_argument("--officer", type=int, required=True, help="the officer's account id")
    link_.set_defaults(func=on_app(link))


def base_url(app: App) -> str:
    s = app.settings
    return s.public_url or f"http://{s.web_host}:{s.web_port}"


async def link(app: App, args: argparse.Namespace) -> int:
    async with transaction(app.sessions) as s:
        token = await web_access.issue_for_account(s, app.ctx, args.officer)
    print(web_access.sign_in_url(base_url(app), token))
    print("Single use, valid for 10 minutes. Opening it asks to confirm, then signs in.")
    return 0
