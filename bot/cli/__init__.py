"""``ocop-bot``: the operator's command line.

One module per command group adds its parsers and names each leaf's command with
``set_defaults(func=...)``; this module only puts them together, loads the settings, sets up
logging and turns a refused operation into one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from bot.cli import (
    chat,
    communes,
    db,
    doctor,
    dossier,
    imports,
    officer,
    outbox,
    person,
    plan,
    remind,
    run,
    web,
)
from bot.logging_setup import announce_log_file, setup_logging, terminal_log_file
from bot.settings import load_settings
from ocop_core.errors import DomainError
from ocop_core.i18n import translate

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one clear line and exit code 2 (argparse prints the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ocop-bot: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ocop-bot", description="OCOP chatbot for producers and commune officers")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    # In this order in `ocop-bot --help`.
    for group in (
        run,
        doctor,
        chat,
        db,
        plan,
        officer,
        communes,
        person,
        remind,
        outbox,
        dossier,
        web,
        imports,
    ):
        group.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    before_settings = getattr(args, "before_settings", None)
    if before_settings is not None:  # doctor reports a bad setting as a check instead of stopping
        sys.exit(before_settings(args))
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
        code = args.func(args, settings)
    except DomainError as exc:
        print(
            f"ocop-bot: {translate(exc.key, settings.default_locale, **exc.params)}",
            file=sys.stderr,
        )
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
