"""``ocop-bot import products FILE.xlsx [--dry-run]``: certified products of earlier years from a
spreadsheet, all or nothing."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bot.app import App
from bot.cli.common import on_app
from ocop_core.authz import Actor
from ocop_core.db import transaction
from ocop_core.excel import products_import
from ocop_core.i18n import translate


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    imp = sub.add_parser("import", help="load data from spreadsheets").add_subparsers(
        dest="import_cmd", required=True
    )
    products = imp.add_parser("products", help="certified products of earlier years (.xlsx)")
    products.add_argument("file", type=Path)
    products.add_argument("--dry-run", action="store_true", help="check and print, store nothing")
    products.set_defaults(func=on_app(import_products))


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
