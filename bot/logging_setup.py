"""Logging that never prints a bot token or a webhook secret."""

from __future__ import annotations

import logging
import re
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

# Telegram tokens look like 123456789:AA…; Zalo tokens travel in URLs and headers.
_TOKEN_IN_URL = re.compile(r"(/bot|/file/bot)([^/\s]+)")
_TELEGRAM_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}\b")
# Signed upload/download links are bearer capabilities: keep them out of access logs.
_LINK_TOKEN = re.compile(r"(/link/[uf]/)[^/\s?\"]+")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = _TOKEN_IN_URL.sub(r"\1***", text)
        text = _LINK_TOKEN.sub(r"\1***", text)
        return _TELEGRAM_TOKEN.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup_logging(level: str, secrets: list[str], log_file: Path | None = None) -> None:
    """Log to stderr, or only to ``log_file`` when the terminal is a conversation."""
    handlers: list[logging.Handler] | None = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers = [
            RotatingFileHandler(log_file, maxBytes=5 * 2**20, backupCount=3, encoding="utf-8")
        ]
        logging.captureWarnings(True)  # library warnings too: nothing between prompt and typing
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    redact = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    # httpx logs every request URL at INFO, and Telegram URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # APScheduler reports every tick of every job at INFO: noise every 30 seconds.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # SQLAlchemy logs statements with their parameters (names, phones) when INFO is on.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)


def terminal_log_file(
    command: str, verbose: bool, data_dir: Path, chat_only: bool, interactive: bool
) -> Path | None:
    """Where logs go when the terminal is a conversation (``chat``, or ``run`` with no channel
    in a terminal); None when they belong on stderr (``-v``, services, other commands)."""
    if verbose:
        return None
    if command == "chat" or (command == "run" and chat_only and interactive):
        return data_dir / "logs" / "ocop-bot.log"
    return None


def announce_log_file(path: Path, out: TextIO = sys.stderr) -> None:
    print(f"Logs go to {path} (add -v to see them here).", file=out, flush=True)
