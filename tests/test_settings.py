"""Settings: defaults that run with nothing configured, and one clear line for a bad value."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from bot.app import channel_report, serve
from bot.settings import Settings, SettingsError, load_settings
from tests.botprocess import free_port


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
        ("OCOP_TELEGRAM_WEBHOOK_SECRET", "has spaces!", "OCOP_TELEGRAM_WEBHOOK_SECRET"),
        ("OCOP_LINK_SECRET", "short", "OCOP_LINK_SECRET"),
        ("OCOP_PUBLIC_URL", "http://bot.example.org", "OCOP_PUBLIC_URL"),
        ("OCOP_ALBUM_WAIT_SECONDS", "0", "OCOP_ALBUM_WAIT_SECONDS"),
        ("OCOP_TELEGRAM_CHAT_RATE", "0", "OCOP_TELEGRAM_CHAT_RATE"),
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


def _readme_examples() -> dict[str, str]:
    """``OCOP_X`` → the example value of its row in the README's configuration table."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    examples: dict[str, str] = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`OCOP_"):
            continue
        names = [n.strip().strip("`") for n in cells[0].split("/")]
        values = [v.strip().strip("`") for v in cells[2].split(" / ")]
        assert len(names) == len(values), line
        examples.update(zip(names, values, strict=True))
    return examples


def test_readme_documents_every_setting_with_a_valid_example(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    examples = _readme_examples()
    wanted = {f"OCOP_{name.upper()}" for name in Settings.model_fields}
    assert wanted <= set(examples), sorted(wanted - set(examples))
    monkeypatch.chdir(tmp_path)
    for name, value in examples.items():
        assert value and value != "–", name
        monkeypatch.setenv(name, value)
    s = load_settings()  # every example is a valid value
    assert s.telegram_api_url.endswith("/bot") and s.telegram_file_url.endswith("/file/bot")
    assert "/bot" not in s.zalo_api_url


def test_url_forms_match_the_handlers() -> None:
    """The README's URL forms are what the code builds: Bot API base + token, Zalo base +
    /bot<token>/<method>."""
    from bot.handlers.zalo_client import ZaloClient

    s = Settings()
    assert s.telegram_api_url == "https://api.telegram.org/bot"
    assert s.telegram_file_url == "https://api.telegram.org/file/bot"
    client = ZaloClient("TOKEN", Settings(zalo_api_url="http://127.0.0.1:9090/").zalo_api_url)
    assert client.base_url == "http://127.0.0.1:9090"


def test_telegram_webhook_always_has_a_secret(tmp_path: Path) -> None:
    """OCOP_PUBLIC_URL without OCOP_TELEGRAM_WEBHOOK_SECRET: one is derived from the token (the
    webhook is never registered without a secret), stable across restarts, and a valid
    Telegram secret."""
    base = {"telegram_token": "123:ABC", "public_url": "https://bot.example.org"}
    a = Settings(_env_file=None, data_dir=tmp_path, **base)  # type: ignore[call-arg]
    b = Settings(_env_file=None, data_dir=tmp_path / "x", **base)  # type: ignore[call-arg]
    secret = a.telegram_secret()
    assert secret and secret == b.telegram_secret() and "ABC" not in secret
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret)
    chosen = Settings(_env_file=None, telegram_webhook_secret="mine-123", **base)  # type: ignore[call-arg]
    assert chosen.telegram_secret() == "mine-123"
    assert any("secret derived" in line for line in channel_report(a))


async def test_a_corrupt_sqlite_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "ocop.sqlite3").write_bytes(b"this is not a database" * 200)
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    with pytest.raises(SettingsError) as err:
        await serve(settings)
    message = str(err.value)
    assert "\n" not in message and "ocop.sqlite3" in message and "backup" in message


async def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+asyncpg://ocop:pw-secret@127.0.0.1:{port}/ocop"
    settings = Settings(_env_file=None, data_dir=tmp_path, database_url=url)  # type: ignore[call-arg]
    with pytest.raises(SettingsError) as err:
        await serve(settings)
    message = str(err.value)
    assert "\n" not in message and f"127.0.0.1:{port}" in message
    assert "pw-secret" not in message and "OCOP_DATABASE_URL" in message


async def test_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = Settings(_env_file=None, data_dir=tmp_path, web_port=port)  # type: ignore[call-arg]
        with pytest.raises(SettingsError) as err:
            await serve(settings)
    assert "OCOP_WEB_PORT" in str(err.value) and "\n" not in str(err.value)
