"""``ocop-bot doctor``: every check passing and failing, with its advice line and the exit code.

The command runs in a worker thread (it has its own event loop) while the fake Telegram and Zalo
servers and a real aiohttp web server run in the test's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot import doctor
from bot.app import build_web_app, open_app
from bot.cli import doctor as cli_doctor
from bot.settings import Settings
from bot.web_server import HealthRoutes
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.zalo_api import FakeZaloServer

WRONG_TELEGRAM = "987654321:AAwrong-token_for_OCOP_doctor_tests_00"
PLENTY = 50 * 2**30


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_template: Path) -> dict[str, str]:
    """A healthy embedded deployment: migrated SQLite in the data dir, plenty of disk."""
    for name in [k for k in os.environ if k.startswith("OCOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    data = tmp_path / "var"
    data.mkdir()
    shutil.copyfile(sqlite_template, data / "ocop.sqlite3")
    monkeypatch.setattr(doctor, "disk_free", lambda _path: PLENTY)
    values = {"OCOP_DATA_DIR": str(data)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _set(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


async def run_doctor(*, as_json: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    args = argparse.Namespace(json=as_json)
    code = await asyncio.to_thread(cli_doctor.run, args, out)
    return code, out.getvalue()


def line_of(text: str, title: str) -> str:
    lines = text.splitlines()
    found = [i for i, line in enumerate(lines) if title in line]
    assert found, f"no {title!r} in:\n{text}"
    i = found[0]
    advice = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("    →") else ""
    return lines[i] + ("\n" + advice if advice else "")


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloServer]:
    async with FakeZaloServer() as server:
        yield server


@pytest.fixture
async def bot_web(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[str]:
    """The bot's own web server with its /health, as `ocop-bot run` builds it, on a free
    loopback port (its own migrated database, so /health answers 200)."""
    data = tmp_path / "bot-web"
    data.mkdir()
    shutil.copyfile(sqlite_template, data / "ocop.sqlite3")
    url = f"sqlite+aiosqlite:///{data / 'ocop.sqlite3'}"
    settings = Settings(_env_file=None, data_dir=data, database_url=url)  # type: ignore[call-arg]
    async with open_app(settings) as app:
        web_app = build_web_app(settings)
        HealthRoutes(app, min_free_bytes=0).add_routes(web_app)
        runner = web.AppRunner(web_app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        await runner.cleanup()


def _telegram_env(server: FakeTelegramServer, token: str | None = None) -> dict[str, str]:
    return {
        "OCOP_TELEGRAM_TOKEN": token or server.token,
        "OCOP_TELEGRAM_API_URL": server.base_url,
        "OCOP_TELEGRAM_FILE_URL": server.base_file_url,
    }


# -- the whole command -------------------------------------------------------------------------


async def test_healthy_embedded_deployment_exits_0(env: dict[str, str]) -> None:
    code, text = await run_doctor()
    assert code == 0, text
    assert "✔ Settings parse" in text
    assert "✔ Database reachable and migrated: sqlite" in text
    assert "✔ Data directory writable with free space" in text
    assert "All needed checks passed" in text and "→" not in text


async def test_json_for_monitoring(env: dict[str, str]) -> None:
    code, text = await run_doctor(as_json=True)
    payload = json.loads(text)
    assert code == 0 and payload["ok"] is True
    names = {c["name"]: c["status"] for c in payload["checks"]}
    assert names["database"] == "ok" and names["telegram.token"] == "skip"
    assert set(payload["checks"][0]) == {"name", "title", "status", "detail", "advice"}


async def test_bad_setting_is_a_failed_check(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _set(monkeypatch, OCOP_TIMEZONE="Mars/Olympus")
    code, text = await run_doctor()
    assert code == 1
    assert "✘ Settings parse: configuration error: OCOP_TIMEZONE" in text
    assert "→ fix that variable in the environment or .env" in text


# -- database ----------------------------------------------------------------------------------


async def test_unmigrated_database(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    empty = Path(env["OCOP_DATA_DIR"]) / "empty.sqlite3"
    empty.write_bytes(b"")  # a valid, empty SQLite database
    _set(monkeypatch, OCOP_DATABASE_URL=f"sqlite:///{empty}")
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Database reachable")
    assert "✘" in found and "schema at none (empty database)" in found
    assert "→ run `ocop-bot db upgrade`" in found


async def test_missing_database_file(env: dict[str, str]) -> None:
    (Path(env["OCOP_DATA_DIR"]) / "ocop.sqlite3").unlink()
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Database reachable")
    assert "no database file" in found and "→ run `ocop-bot db upgrade`" in found
    assert not (Path(env["OCOP_DATA_DIR"]) / "ocop.sqlite3").exists()  # doctor creates nothing


async def test_unreachable_database_server(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _set(monkeypatch, OCOP_DATABASE_URL="postgresql://ocop:pw-not-shown@127.0.0.1:1/ocop")
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Database reachable")
    assert "cannot connect" in found and "pw-not-shown" not in text
    assert "→ check OCOP_DATABASE_URL and that the database server is running" in found


async def test_migrated_postgresql(pg_url: str) -> None:
    settings = Settings(database_url=pg_url)
    result = await doctor.check_database(settings)
    assert result.status == "ok" and result.detail.startswith("postgresql")


# -- data directory ----------------------------------------------------------------------------


async def test_full_data_directory(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "disk_free", lambda _path: 100 * 2**20)
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Data directory")
    assert "✘" in found and "0.1 GiB free" in found
    assert "→ free space or move OCOP_DATA_DIR to a larger disk" in found


async def test_low_disk_is_a_warning(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "disk_free", lambda _path: 1 * 2**30)
    code, text = await run_doctor()
    assert code == 0
    assert line_of(text, "Data directory").startswith("! ")


def test_data_directory_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = doctor.check_data_dir(Settings(data_dir=blocker / "var"))
    assert result.status == "fail" and "cannot write" in result.detail
    assert result.advice.startswith("give the bot's user write access")


# -- Telegram ----------------------------------------------------------------------------------


async def test_telegram_polling(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, telegram: FakeTelegramServer
) -> None:
    _set(monkeypatch, **_telegram_env(telegram))
    code, text = await run_doctor()
    assert code == 0, text
    assert "✔ Telegram token valid (getMe): @ocop_test_bot" in text
    assert "s behind 127.0.0.1" in text or "s ahead of 127.0.0.1" in text  # the fake's clock
    assert "✔ Telegram webhook registered with a secret, or polling possible: polling" in text
    assert telegram.token not in text


async def test_telegram_wrong_token(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, telegram: FakeTelegramServer
) -> None:
    _set(monkeypatch, **_telegram_env(telegram, WRONG_TELEGRAM))
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Telegram token")
    assert "✘" in found and "refused the token" in found
    assert "→ copy the token again from @BotFather into OCOP_TELEGRAM_TOKEN" in found
    assert WRONG_TELEGRAM not in text


async def test_telegram_webhook_without_secret(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    telegram: FakeTelegramServer,
    bot_web: str,
) -> None:
    _set(monkeypatch, **_telegram_env(telegram), OCOP_PUBLIC_URL=bot_web)
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Telegram webhook")
    assert "✘" in found and "without OCOP_TELEGRAM_WEBHOOK_SECRET" in found
    assert "→ set OCOP_TELEGRAM_WEBHOOK_SECRET to a random string" in found


async def test_telegram_webhook_registered_with_secret(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    telegram: FakeTelegramServer,
    bot_web: str,
) -> None:
    _set(
        monkeypatch,
        **_telegram_env(telegram),
        OCOP_PUBLIC_URL=bot_web,
        OCOP_TELEGRAM_WEBHOOK_SECRET="s3cret-for-doctor",
    )
    code, text = await run_doctor()
    assert code == 0, text  # not registered yet: `run` registers it, a warning only
    assert line_of(text, "Telegram webhook").startswith("! ")
    async with telegram.application_builder().build().bot as bot:
        await bot.set_webhook(f"{bot_web}/telegram/webhook", secret_token="s3cret-for-doctor")
    code, text = await run_doctor()
    assert code == 0, text
    webhook = line_of(text, "Telegram webhook")
    assert webhook.startswith("✔ ") and f"registered at {bot_web}/telegram/webhook" in webhook
    assert "✔ Public URL reachable (/health)" in text


async def test_telegram_webhook_of_another_deployment(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    telegram: FakeTelegramServer,
    bot_web: str,
) -> None:
    _set(
        monkeypatch,
        **_telegram_env(telegram),
        OCOP_PUBLIC_URL=bot_web,
        OCOP_TELEGRAM_WEBHOOK_SECRET="s3cret-for-doctor",
    )
    async with telegram.application_builder().build().bot as bot:
        await bot.set_webhook("https://old.example.org/telegram/webhook", secret_token="x-y")
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Telegram webhook")
    assert "registered at https://old.example.org/telegram/webhook" in found
    assert "→ another deployment receives the updates" in found


# -- Zalo and links ----------------------------------------------------------------------------


async def test_zalo_token_and_polling(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, zalo: FakeZaloServer
) -> None:
    _set(monkeypatch, OCOP_ZALO_BOT_TOKEN=zalo.token, OCOP_ZALO_API_URL=zalo.api_url)
    code, text = await run_doctor()
    assert "✔ Zalo token valid (getMe): bot.ocop.test" in text
    assert "✔ Zalo webhook registered, or polling possible: polling" in text
    # ...but polling without a public URL sends links no phone can open.
    assert code == 1
    found = line_of(text, "Links reachable from phones")
    assert "✘" in found and "http://127.0.0.1:" in found
    assert "→ set OCOP_PUBLIC_URL to this server's public HTTPS address" in found


async def test_zalo_wrong_token(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, zalo: FakeZaloServer
) -> None:
    _set(monkeypatch, OCOP_ZALO_BOT_TOKEN="1234567890:wrong", OCOP_ZALO_API_URL=zalo.api_url)
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Zalo token")
    assert "✘" in found and "refused the token" in found
    assert "→ copy the token again from the Zalo Bot Manager" in found


async def test_zalo_webhook_registered(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, zalo: FakeZaloServer, bot_web: str
) -> None:
    _set(
        monkeypatch,
        OCOP_ZALO_BOT_TOKEN=zalo.token,
        OCOP_ZALO_API_URL=zalo.api_url,
        OCOP_PUBLIC_URL=bot_web,
    )
    zalo.webhook_url, zalo.webhook_secret = f"{bot_web}/zalo/webhook", "s3cret-zalo"
    result = (await doctor.check_zalo(Settings()))[1]
    assert result.status == "ok" and "registered at" in result.detail
    zalo.webhook_url = "https://elsewhere.example/zalo/webhook"
    result = (await doctor.check_zalo(Settings()))[1]
    assert result.status == "fail" and result.advice.startswith("another deployment")


@pytest.mark.parametrize(
    ("public", "status"),
    [
        ("", "fail"),
        ("http://localhost:8080", "fail"),
        ("https://192.168.1.20", "warn"),  # a LAN address with its own certificate
        ("https://ocop.example.gov.vn", "ok"),
    ],
)
def test_links_reachable_from_phones(public: str, status: str) -> None:
    settings = Settings(zalo_bot_token="1:x", public_url=public or None)
    assert doctor.check_links(settings).status == status
    assert doctor.check_links(Settings()).status == "skip"  # Zalo off: no links
    on_lan = Settings(zalo_bot_token="1:x", web_host="192.168.1.20")  # no public URL at all
    assert doctor.check_links(on_lan).status == "warn"


async def test_plain_http_lan_public_url_is_a_settings_failure_with_advice(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Platforms post webhooks only to https, so the bot refuses to start on such an address;
    the doctor says so where the operator looks first, with what to do."""
    _set(monkeypatch, OCOP_ZALO_BOT_TOKEN="1:x", OCOP_PUBLIC_URL="http://192.168.1.20:8080")
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Settings parse")
    assert "✘" in found and "OCOP_PUBLIC_URL" in found and "https://" in found, found
    assert "→ serve the bot over HTTPS" in found and "docs/deploy.md" in found, found


# -- public URL --------------------------------------------------------------------------------


async def test_unreachable_public_url(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
) -> None:
    _set(monkeypatch, OCOP_PUBLIC_URL=f"http://127.0.0.1:{unused_tcp_port}")
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Public URL reachable")
    assert "✘" in found and f"127.0.0.1:{unused_tcp_port}/health" in found
    assert "→ check DNS, the certificate, the reverse proxy (docs/deploy.md)" in found


async def test_public_url_answering_an_error(bot_web: str) -> None:
    result = await doctor.check_public_url(Settings(public_url=f"{bot_web}/not-the-bot"))
    assert result.status == "fail" and "HTTP 404" in result.detail


# -- plans, clock, quiet hours, processes ------------------------------------------------------


async def test_invalid_plan_file(env: dict[str, str]) -> None:
    plans = Path(env["OCOP_DATA_DIR"]) / "plans"
    plans.mkdir()
    (plans / "broken.toml").write_text('id = "x"\nyear = "soon"\n', encoding="utf-8")
    code, text = await run_doctor()
    assert code == 1
    found = line_of(text, "Plan files valid")
    assert "✘" in found and "broken.toml" in found
    assert "→ fix the file (`ocop-bot plan load FILE --check` explains) or remove it" in found


def test_clock_and_time_zone() -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    good = doctor.check_clock(Settings(), now=datetime(2026, 12, 1, 9, 0, tzinfo=tz))
    assert good.status == "ok" and "2026-12-01 09:00 in Asia/Ho_Chi_Minh (UTC+0700)" in good.detail
    unset = doctor.check_clock(Settings(), now=datetime(1970, 1, 1, 7, 0, tzinfo=tz))
    assert unset.status == "fail" and "timedatectl set-ntp true" in unset.advice
    now = datetime(2026, 12, 1, 9, 0, tzinfo=tz)
    for minutes, status in ((0.5, "ok"), (-3, "warn"), (15, "fail")):
        theirs = now - timedelta(minutes=minutes)
        result = doctor.check_clock(Settings(), now=now, reference=("api.example", theirs))
        assert result.status == status, result
    assert "900 s ahead of api.example" in result.detail
    elsewhere = doctor.check_clock(Settings(timezone="Europe/Paris"))
    assert elsewhere.status == "warn" and "OCOP_TIMEZONE=Asia/Ho_Chi_Minh" in elsewhere.advice


def test_quiet_hours_off_is_a_warning() -> None:
    assert doctor.check_quiet_hours(Settings()).status == "ok"
    off = doctor.check_quiet_hours(Settings(quiet_hours="off"))
    assert off.status == "warn" and "20:00-07:00" in off.advice


def test_sqlite_with_several_processes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert doctor.check_processes(settings, ["101"]).status == "ok"
    several = doctor.check_processes(settings, ["101", "web2/102"])
    assert several.status == "warn" and "PostgreSQL" in several.advice
    pg = Settings(data_dir=tmp_path, database_url="postgresql://u@h/db")
    assert doctor.check_processes(pg, ["101", "102"]).status == "ok"


def test_running_processes_from_pid_files(tmp_path: Path) -> None:
    marker = doctor.register_process(tmp_path)
    here = socket.gethostname()
    stale = marker.parent / f"{here}-999999999.pid"  # no such process here
    stale.write_text("999999999")
    (marker.parent / "web2-4242.pid").write_text("4242")  # another host sharing the directory
    assert sorted(doctor.running_processes(tmp_path)) == sorted([str(os.getpid()), "web2/4242"])
    assert not stale.exists()
