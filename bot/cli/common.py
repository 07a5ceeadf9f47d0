"""What the command groups of ``ocop-bot`` share: the command type, running a command against the
opened app, and the plain-text table printer."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bot.app import App, open_app
from bot.settings import Settings

# What a leaf parser's ``set_defaults(func=...)`` holds: run with the parsed arguments and the
# loaded settings, return the exit code.
Command = Callable[[argparse.Namespace, Settings], int]
AppCommand = Callable[[App, argparse.Namespace], Awaitable[int]]
Print = Callable[[str], Any]  # where a command's lines go: print, or a test's list.append


async def with_app(settings: Settings, fn: Callable[[App], Awaitable[int]]) -> int:
    async with open_app(settings) as app:
        return await fn(app)


def on_app(fn: AppCommand) -> Command:
    """A command that needs the database: the app is opened (migrated) for it and closed after."""

    def command(args: argparse.Namespace, settings: Settings) -> int:
        return asyncio.run(with_app(settings, lambda app: fn(app, args)))

    return command


def print_rows(rows: list[list[str]], out: Print = print, indent: str = "") -> None:
    """Columns padded to their widest cell; the first row is usually the header."""
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        out(f"{indent}{cells}".rstrip())
