"""``ocop-bot run`` and ``ocop-bot version``: the bot itself."""

from __future__ import annotations

import argparse
import asyncio

from bot.app import serve
from bot.settings import Settings
from ocop_core import __version__


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = sub.add_parser(
        "run", help="migrate the database and run the bot (all configured channels)"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="logs here, not in a file")
    run.set_defaults(func=run_bot)
    sub.add_parser("version", help="print the version").set_defaults(func=version)


def run_bot(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(serve(settings))
    return 0


def version(args: argparse.Namespace, settings: Settings) -> int:
    print(f"ocop-bot {__version__}")
    return 0
