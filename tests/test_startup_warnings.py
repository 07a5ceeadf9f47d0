"""``ocop-bot run`` says once, in plain words, what `ocop-bot doctor` would flag as dangerous."""

from __future__ import annotations

from pathlib import Path

from bot.doctor import startup_warnings
from bot.settings import Settings
from tests.botprocess import BotProcess
from tests.fakes.zalo_api import FakeZaloServer


def test_nothing_to_say_for_the_embedded_default(tmp_path: Path) -> None:
    assert startup_warnings(Settings(data_dir=tmp_path), running=["1"]) == []


def test_webhook_without_secret_is_named(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, telegram_token="1:x", public_url="https://ocop.example.gov.vn"
    )
    (line,) = startup_warnings(settings, running=["1"])
    assert line.startswith("Warning: webhook mode without OCOP_TELEGRAM_WEBHOOK_SECRET")
    assert line.endswith("(1-256).")


async def test_run_warns_once_about_links_quiet_hours_and_sqlite(tmp_path: Path) -> None:
    async with FakeZaloServer() as zalo:
        env = {
            "OCOP_ZALO_BOT_TOKEN": zalo.token,
            "OCOP_ZALO_API_URL": zalo.api_url,
            "OCOP_QUIET_HOURS": "off",
        }
        first = BotProcess(tmp_path / "var", env)
        second = BotProcess(tmp_path / "var", env)
        await first.start()
        try:
            await second.start()
            assert await second.stop() == 0
        finally:
            assert await first.stop() == 0
    for bot in (first, second):
        warnings = [line for line in bot.output if line.startswith("Warning:")]
        links = [w for w in warnings if "upload links on http://127.0.0.1:" in w]
        assert len(links) == 1, bot.log
        assert "which no phone can open. Set OCOP_PUBLIC_URL" in links[0]
        assert sum("OCOP_QUIET_HOURS=off" in w for w in warnings) == 1, bot.log
    assert not any("SQLite shared" in line for line in first.output), first.log
    (shared,) = [line for line in second.output if "SQLite shared" in line]
    assert shared.startswith("Warning: SQLite shared by 2 running bot processes")
    assert "move to PostgreSQL (docs/deploy.md)" in shared
    assert not list((tmp_path / "var" / "run").glob("*.pid"))  # removed at exit


async def test_stopped_the_moment_it_is_ready_it_exits_cleanly(tmp_path: Path) -> None:
    """The first reminders pass starts with the bot: a stop during it waits for it, instead of
    cancelling it mid-transaction (that hung the exit until the 30 s kill)."""
    bot = BotProcess(tmp_path / "var", {})
    await bot.start()
    assert await bot.stop() == 0, bot.log
    assert "Stopped." in bot.log
    assert "Traceback" not in bot.log, bot.log
