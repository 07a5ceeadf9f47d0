"""``ocop-bot db upgrade``: apply migrations and load administrative units (opening the app does
both; this command only says so)."""

from __future__ import annotations

import argparse

from bot.app import App
from bot.cli.common import on_app


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = sub.add_parser("db", help="database").add_subparsers(dest="db_cmd", required=True)
    db.add_parser("upgrade", help="apply migrations and load administrative units").set_defaults(
        func=on_app(upgrade)
    )


async def upgrade(app: App, args: argparse.Namespace) -> int:
    print(f"Database is at the latest schema ({app.engine.url.get_backend_name()}).")
    return 0
