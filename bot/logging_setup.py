"""Logging that never prints a bot token or a webhook secret."""

from __future__ import annotations

import logging
import re

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


def setup_logging(level: str, secrets: list[str]) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
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
