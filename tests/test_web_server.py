"""The web server does not trust its clients: webhook secrets and body limits, slow requests cut,
/health failing on a full disk or a stopped database, /metrics counters moving."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot import web_server
from bot.app import App, open_app
from bot.flows import build_flows
from bot.flows.router import Conversations
from bot.handlers.telegram import TelegramChannel
from bot.handlers.zalo import build_zalo
from bot.settings import Settings
from bot.web_server import HealthRoutes, build_web_app
from ocop_core.db import make_engine, session_factory
from tests.botprocess import free_port

TG_SECRET = "tg-secret-123"
ZALO_SECRET = "zalo-secret-123"


@dataclass
class Site:
    base: str
    app: App
    telegram: TelegramChannel


@asynccontextmanager
async def running(tmp_path: Path, **extra: object) -> AsyncIterator[Site]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        telegram_token="123456:TEST",
        telegram_api_url="http://127.0.0.1:9/bot",
        telegram_webhook_secret=TG_SECRET,
        zalo_bot_token="1:zalo",
        zalo_api_url="http://127.0.0.1:9",
        zalo_webhook_secret=ZALO_SECRET,
        public_url="http://127.0.0.1:1",
        **extra,
    )
    async with open_app(settings) as app:
        web_app = build_web_app(settings)
        HealthRoutes(app, min_free_bytes=2**20, channels=["telegram", "zalo"]).add_routes(web_app)
        conversations = Conversations(app.sessions, app.ctx, build_flows())
        telegram = TelegramChannel(settings, conversations)
        telegram.add_routes(web_app)
        build_zalo(settings, app.sessions, app.ctx, conversations, web_app)
        runner = web.AppRunner(web_app, keepalive_timeout=settings.web_header_timeout)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield Site(f"http://127.0.0.1:{runner.addresses[0][1]}", app, telegram)
        finally:
            await runner.cleanup()


def tg_update(update_id: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 0,
            "text": "/start",
            "chat": {"id": 5, "type": "private"},
            "from": {"id": 5, "is_bot": False, "first_name": "A"},
        },
    }


async def test_webhooks_refuse_wrong_secrets_and_big_bodies(tmp_path: Path) -> None:
    big = b'{"update_id": 1, "x": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    async with running(tmp_path) as site, aiohttp.ClientSession() as http:
        routes = (
            ("/telegram/webhook", "X-Telegram-Bot-Api-Secret-Token", TG_SECRET),
            ("/zalo/webhook", "X-Bot-Api-Secret-Token", ZALO_SECRET),
        )
        for path, header, secret in routes:
            url = site.base + path
            for headers in ({}, {header: "wrong-secret"}):
                async with http.post(url, data=b"{}", headers=headers) as resp:
                    assert resp.status == 403
            async with http.post(url, data=big, headers={header: secret}) as resp:
                assert resp.status == 413, path

            async def chunks(secret_body: bytes = big) -> AsyncIterator[bytes]:
                for i in range(0, len(secret_body), 65536):  # no Content-Length: chunked
                    yield secret_body[i : i + 65536]

            async with http.post(url, data=chunks(), headers={header: secret}) as resp:
                assert resp.status == 413, path
        # A good update is stored before the 200.
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        async with http.post(
            site.base + "/telegram/webhook", json=tg_update(42), headers=headers
        ) as resp:
            assert resp.status == 200
        assert await site.telegram.inbox.backlog() == 1


async def test_slow_requests_are_cut(tmp_path: Path) -> None:
    async with running(tmp_path, web_header_timeout=1.0, web_request_timeout=1.0) as site:
        port = int(site.base.rsplit(":", 1)[1])
        # Headers that never end: the connection is closed.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /zalo/webhook HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 30) == b""
        writer.close()
        # A body that never comes: 408 once the request timeout has passed.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            "POST /zalo/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Bot-Api-Secret-Token: {ZALO_SECRET}\r\nContent-Length: 500\r\n\r\n"
        )
        writer.write(head.encode() + b'{"event_name": ')
        await writer.drain()
        # The status line, not the end of the stream: after answering, aiohttp lingers up to 10 s
        # for the rest of the body before it closes; closing our end ends that at once.
        answer = await asyncio.wait_for(reader.readline(), 30)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        writer.close()
        await writer.wait_closed()


async def test_health_fails_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(tmp_path) as site, aiohttp.ClientSession() as http:
        async with http.get(site.base + "/health") as resp:
            assert resp.status == 200 and (await resp.json())["ok"] is True
        monkeypatch.setattr(web_server, "free_bytes", lambda _path: 4096)
        async with http.get(site.base + "/health") as resp:
            body = await resp.json()
            assert resp.status == 503 and "disk" in body["problems"][0]


async def test_health_fails_on_a_stopped_database(tmp_path: Path) -> None:
    async with running(tmp_path) as site, aiohttp.ClientSession() as http:
        # The database goes away: a PostgreSQL server that no longer listens.
        stopped = make_engine(f"postgresql+asyncpg://ocop@127.0.0.1:{free_port()}/ocop")
        site.app.engine = stopped
        site.app.sessions = session_factory(stopped)
        try:
            async with http.get(site.base + "/health") as resp:
                body = await resp.json()
                assert resp.status == 503 and body["problems"][0].startswith("database")
        finally:
            await stopped.dispose()


def metric(text: str, name: str, channel: str) -> float:
    found = re.search(rf'^{name}\{{channel="{channel}"\}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_metrics_move(tmp_path: Path) -> None:
    async with running(tmp_path) as site, aiohttp.ClientSession() as http:

        async def scrape() -> str:
            async with http.get(site.base + "/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain")
                return await resp.text()

        before = await scrape()
        assert "ocop_update_processing_seconds" in before
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        for n in range(3):
            async with http.post(
                site.base + "/telegram/webhook",
                data=json.dumps(tg_update(500 + n)),
                headers=headers,
            ) as resp:
                assert resp.status == 200
        after = await scrape()
        received = "ocop_updates_received_total"
        assert metric(after, received, "telegram") == metric(before, received, "telegram") + 3
        assert metric(after, "ocop_inbox_backlog", "telegram") == 3
        assert metric(after, "ocop_inbox_backlog", "zalo") == 0
