"""Settings: defaults that run with nothing configured, and one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OCOP_DATA_DIR", str(tmp_path / "d"))
    s = Settings()
    assert s.database_url == f"sqlite+aiosqlite:///{(tmp_path / 'd' / 'ocop.sqlite3').resolve()}"
    assert s.timezone == "Asia/Ho_Chi_Minh" and s.default_locale == "vi"
    assert s.telegram_token is None and s.telegram_api_url == "https://api.telegram.org/bot"


def test_postgres_url_gets_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCOP_DATABASE_URL", "postgresql://u@h/db")
    assert Settings().database_url == "postgresql+asyncpg://u@h/db"


def test_token_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCOP_TELEGRAM_TOKEN", "123:ABC")
    s = Settings()
    assert "123:ABC" not in repr(s) and s.telegram_token is not None
    assert s.telegram_token.get_secret_value() == "123:ABC"


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("OCOP_TIMEZONE", "Mars/Olympus", "OCOP_TIMEZONE"),
        ("OCOP_DEFAULT_LOCALE", "fr", "OCOP_DEFAULT_LOCALE"),
        ("OCOP_WEB_PORT", "99999", "OCOP_WEB_PORT"),
        ("OCOP_DATABASE_URL", "mysql://x", "OCOP_DATABASE_URL"),
        ("OCOP_PUBLIC_URL", "ftp://x", "OCOP_PUBLIC_URL"),
        ("OCOP_ZALO_WEBHOOK_SECRET", "short", "OCOP_ZALO_WEBHOOK_SECRET"),
    ],
)
def test_bad_value_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, shown: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert shown in message and "\n" not in message
