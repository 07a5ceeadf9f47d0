"""``ocop-bot chat``: talk to the bot in this terminal."""

from __future__ import annotations

import argparse
import asyncio
import os

from bot.app import App
from bot.cli.common import with_app
from bot.handlers.terminal import chat
from bot.settings import Settings


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("chat", help="talk to the bot in this terminal")
    parser.add_argument("--user", default=None, help="who you are in the chat (default: $USER)")
    parser.add_argument("-v", "--verbose", action="store_true", help="logs here, not in a file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    user = args.user or os.environ.get("USER") or "local"
    return asyncio.run(with_app(settings, lambda app: _chat(app, user)))


async def _chat(app: App, user: str) -> int:
    await chat(app.sessions, app.ctx, user, locale=app.settings.default_locale)
    return 0
