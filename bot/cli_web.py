"""``ocop-bot web link --officer ID`` and ``ocop-bot import products FILE.xlsx [--dry-run]``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING

from ocop_core.authz import Actor
from ocop_core.db import transaction
from ocop_core.excel import products_import
from ocop_core.i18n import translate
from ocop_core.services import web_access

if TYPE_CHECKING:
    from bot.app import App

COMMANDS = ("web", "import")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    web = sub.add_parser("web", help="the officers' web desk").add_subparsers(
        dest="web_cmd", required=True
    )
    link = web.add_parser("link", help="print a single-use sign-in link (10 minutes)")
    link.add_argument("--officer", type=int, required=True, help="the officer's account id")
    imp = sub.add_parser("import", help="load data from spreadsheets").add_subparsers(
        dest="import_cmd", required=True
    )
    products = imp.add_parser("products", help="certified products of earlier years (.xlsx)")
    products.add_argument("file", type=Path)
    products.add_argument("--dry-run", action="store_true", help="check and print, store nothing")


def base_url(app: App) -> str:
    s = app.settings
    return s.public_url or f"http://{s.web_host}:{s.web_port}"


async def link(app: App, args: argparse.Namespace) -> int:
    async with transaction(app.sessions) as s:
        token = await web_access.issue_for_account(s, app.ctx, args.officer)
    print(web_access.sign_in_url(base_url(app), token))
    print("Single use, valid for 10 minutes. Opening it asks to confirm, then signs in.")
    return 0


class _Refused(Exception):
    pass


async def import_products(app: App, args: argparse.Namespace) -> int:
    loc = app.settings.default_locale
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise SystemExit(f"ocop-bot: cannot read {args.file}: {exc.strerror}") from None
    parsed = await asyncio.to_thread(products_import.read_rows, data)
    report = None
    try:
        async with transaction(app.sessions) as s:
            report = await products_import.import_products(
                s, app.ctx, Actor.system(), data, dry_run=args.dry_run, parsed=parsed
            )
            if not report.ok:
                raise _Refused  # roll back: all or nothing
    except _Refused:
        pass
    assert report is not None
    for row in report.rows if report.ok else []:
        print(
            f"row {row.row}: {row.product} — {row.producer} — commune {row.commune_code} "
            f"({row.address}) — set {row.criteria_set}, {row.stars}★, {row.number} "
            f"{row.issued:%d/%m/%Y} → {row.expiry:%d/%m/%Y}"
        )
    for err in report.errors:
        print(f"row {err.row}: {translate(err.key, loc, **err.params)}")
    if not report.ok:
        more = report.total_errors - len(report.errors)
        hidden = f" ({more} not shown)" if more else ""
        print(f"Refused: {report.total_errors} row(s) with errors{hidden}; nothing stored.")
        return 1
    if args.dry_run:
        print(f"Dry run: {len(report.rows)} product(s) would be created; nothing stored.")
    else:
        print(f"Imported {report.created} certified product(s).")
    return 0


def dispatch(app: App, args: argparse.Namespace) -> Awaitable[int]:
    if args.command == "web":
        return link(app, args)
    return import_products(app, args)
