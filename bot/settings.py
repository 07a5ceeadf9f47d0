"""Configuration from the environment (prefix ``OCOP_``) and an optional ``.env`` file."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ocop_core.i18n import LOCALES
from ocop_core.reminders.schedule import QuietHours
from ocop_core.services.attempts import AttemptLimits, Limit


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OCOP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("var")
    database_url: str = ""  # default: SQLite file in data_dir
    timezone: str = "Asia/Ho_Chi_Minh"
    default_locale: str = "vi"
    log_level: str = "INFO"

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    telegram_webhook_secret: SecretStr | None = None
    # Messages per second across all chats (Telegram's guidance: about 30).
    telegram_global_rate: float = Field(default=30.0, gt=0, le=10_000)
    # Messages per second in one chat (Telegram's guidance: about 1, short bursts of 3 allowed);
    # raised only against a Bot API server with other limits (a local one, a test's fake).
    telegram_chat_rate: float = Field(default=1.0, gt=0, le=1_000)
    # The same for Zalo's Bot Platform (its quota is per bot account; 25/s is our assumption).
    zalo_global_rate: float = Field(default=25.0, gt=0, le=10_000)

    # Reminders: local hours with no reminder ("20:00-07:00", or "off"), and how long a claimed
    # outbox row stays ours before another process (or this one after a crash) may send it.
    quiet_hours: str = "20:00-07:00"
    outbox_lease_seconds: float = Field(default=60.0, ge=1, le=3600)

    zalo_bot_token: SecretStr | None = None
    zalo_api_url: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_secret: SecretStr | None = None

    public_url: str | None = None
    # Signs upload/download links (HMAC); default: derived from the bot tokens.
    link_secret: SecretStr | None = None
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    # Several processes on one host listen on the same port (SO_REUSEPORT, Linux): the kernel
    # spreads connections over them, so nginx needs one upstream line for all of them.
    web_reuse_port: bool = False
    # How long an album (several photos sent together) may stay quiet before it is handled.
    album_wait_seconds: float = Field(default=1.2, ge=0.1, le=120)
    # Web server limits (seconds): complete headers, a whole request (uploads: longer), and how
    # many uploads are read at once; /health fails below this much free disk.
    web_header_timeout: float = Field(default=15.0, gt=0, le=600)
    web_request_timeout: float = Field(default=30.0, gt=0, le=3600)
    web_upload_timeout: float = Field(default=300.0, gt=0, le=3600)
    web_max_uploads: int = Field(default=3, ge=1, le=100)
    min_free_mb: int = Field(default=200, ge=0, le=10_000_000)
    # Delivered outbox messages (people's texts) are deleted after this many days.
    outbox_retention_days: int = Field(default=90, ge=1, le=3650)
    # Attempt limits on guessing invite codes (/canbo) and receipt codes: wrong codes allowed
    # per account and for everyone together inside the window (minutes).
    invite_attempts: int = Field(default=5, ge=1, le=1000)
    invite_attempts_overall: int = Field(default=50, ge=1, le=100_000)
    invite_window_minutes: int = Field(default=30, ge=1, le=10_080)
    receipt_attempts: int = Field(default=10, ge=1, le=1000)
    receipt_attempts_overall: int = Field(default=300, ge=1, le=100_000)
    receipt_window_minutes: int = Field(default=15, ge=1, le=10_080)
    # Chats whose stored updates one process works on at the same time, per channel.
    inbox_concurrency: int = Field(default=16, ge=1, le=500)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        if value and not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("use a postgresql:// or sqlite:/// URL")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        QuietHours.parse(value)  # raises ValueError with the expected form
        return value

    @field_validator("zalo_webhook_secret")
    @classmethod
    def _zalo_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 8 <= len(value.get_secret_value()) <= 256:
            raise ValueError("must be 8 to 256 characters (a Zalo Bot Platform rule)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret_chars(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("must be 1 to 256 of A-Z, a-z, 0-9, _ and - (a Telegram rule)")
        return value

    @field_validator("link_secret")
    @classmethod
    def _link_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (it signs download links)")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_https(cls, value: str | None) -> str | None:
        """Telegram and Zalo post webhooks only to https; plain http only on this machine."""
        if value and value.startswith("http://"):
            host = value.removeprefix("http://").split("/")[0].rsplit(":", 1)[0]
            if host not in ("127.0.0.1", "localhost", "[::1]"):
                raise ValueError("must be an https:// address (platforms refuse plain http)")
        return value

    @field_validator("public_url", "telegram_api_url", "zalo_api_url", "telegram_file_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value and not value.endswith("/bot") else value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            path = (self.data_dir / "ocop.sqlite3").resolve()
            self.database_url = f"sqlite+aiosqlite:///{path}"
        return self

    def telegram_secret(self) -> str | None:
        """The webhook secret: OCOP_TELEGRAM_WEBHOOK_SECRET, else one derived from the token
        (Telegram allows A-Z, a-z, 0-9, _ and -), so webhook mode never runs without one."""
        if self.telegram_webhook_secret is not None:
            return self.telegram_webhook_secret.get_secret_value()
        if self.telegram_token is None:
            return None
        key = self.telegram_token.get_secret_value().encode()
        return hmac.new(key, b"ocop-telegram-webhook", hashlib.sha256).hexdigest()

    def attempt_limits(self) -> AttemptLimits:
        def limit(per: int, overall: int, minutes: int) -> Limit:
            return Limit(per, overall, timedelta(minutes=minutes), max(overall * 2 // 5, 1))

        return AttemptLimits(
            invite=limit(
                self.invite_attempts, self.invite_attempts_overall, self.invite_window_minutes
            ),
            receipt=limit(
                self.receipt_attempts, self.receipt_attempts_overall, self.receipt_window_minutes
            ),
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def plans_dir(self) -> Path:
        return self.data_dir / "plans"


class SettingsError(SystemExit):
    """Start-up stops with one clear line naming the variable and the problem."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "OCOP_" + str(first["loc"][0]).upper() if first["loc"] else "OCOP_*"
        raise SettingsError(f"configuration error: {name}: {first['msg']}") from None
