"""Durable ingress with the real ``ocop-bot run``: ``kill -9`` right after updates were
acknowledged, then a restart — every message is answered exactly once; a replayed update and a
platform's redelivery are handled once; an album still being collected at a graceful stop is
processed; two processes on one PostgreSQL database share the inbox.

Waiting is on observable state only: the fakes' acknowledged updates, the people's chats and
the inbox table of the bot's database (no open rows left means no reply can still come).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.botprocess import BotProcess, free_port
from tests.conftest import _truncate
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.zalo_api import FakeZaloServer
from tests.test_telegram_e2e import bot_env, journey_server, onboard, register
from tests.transcript import document_photo

# Crash and restart of real bot processes: minutes on a busy machine, not the default minute.
pytestmark = pytest.mark.timeout(240)

TG_SECRET = "tg-webhook-s3cret"
ZALO_SECRET = "zalo-webhook-s3cret"
OPEN_ROWS = "SELECT count(*) FROM inbox WHERE status IN ('pending', 'answering')"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with journey_server() as fake:
        yield fake
        fake.assert_no_rejections()


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloServer]:
    async with FakeZaloServer() as fake:
        yield fake
        fake.assert_no_rejections()


def open_rows(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "ocop.sqlite3", timeout=30) as db:
        return int(db.execute(OPEN_ROWS).fetchone()[0])


def in_doubt(data_dir: Path) -> set[str]:
    """Chats whose replies were stored and maybe sent when the process died: the only ones
    that may hear a reply twice (sent, and killed before noting it; at least once beats lost)."""
    with sqlite3.connect(data_dir / "ocop.sqlite3", timeout=30) as db:
        rows = db.execute("SELECT chat_key FROM inbox WHERE status = 'answering'").fetchall()
    return {str(chat) for (chat,) in rows}


def assert_once_but_in_doubt(counts: dict[str, int], doubt: set[str]) -> None:
    assert all(counts.values()), counts  # nobody lost
    twice = {chat for chat, n in counts.items() if n > 1}
    assert twice <= doubt, (twice, doubt)  # a stored update or a noted reply: never again
    assert max(counts.values()) <= 2, counts


async def until(predicate: Callable[[], bool], timeout: float = 60, what: str = "") -> None:  # noqa: ASYNC109
    """Poll a condition the fakes cannot signal (the bot's own database)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or 'a condition'}")
        await asyncio.sleep(0.1)


def webhook_env(telegram: FakeTelegramServer, port: int, **extra: str) -> dict[str, str]:
    return bot_env(
        telegram,
        OCOP_PUBLIC_URL=f"http://127.0.0.1:{port}",
        OCOP_WEB_PORT=str(port),
        OCOP_TELEGRAM_WEBHOOK_SECRET=TG_SECRET,
        **extra,
    )


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_telegram_kill_9_after_40_updates(
    telegram: FakeTelegramServer, tmp_path: Path, mode: str
) -> None:
    data = tmp_path / "var"
    port = free_port()
    env = webhook_env(telegram, port) if mode == "webhook" else bot_env(telegram)
    bot = BotProcess(data, env)
    await bot.start()
    people = [telegram.person(first_name=f"P{i}", language_code="vi") for i in range(40)]
    try:
        for p in people:
            await p.send_text("/start")
        await telegram.drain_updates(30)  # all 40 acknowledged: stored in the inbox
        await bot.stop(signal.SIGKILL)
        answered_before = sum(1 for p in people if p.inbox)
        doubt = in_doubt(data)
        await bot.start()
        await telegram.wait_until(lambda: all(p.inbox for p in people), 60)
        await until(lambda: open_rows(data) == 0, what="the inbox to empty")
    finally:
        await bot.stop()
    counts = {str(p.id): len(p.inbox) for p in people}
    print(
        f"{mode}: {answered_before}/40 answered before kill -9, {len(doubt)} in doubt, "
        f"replies per person {set(counts.values())}"
    )
    assert_once_but_in_doubt(counts, doubt)
    assert all("Chọn ngôn ngữ" in (p.last_text() or "") for p in people)


async def test_replayed_update_id_is_answered_once(
    telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    port = free_port()
    bot = BotProcess(tmp_path / "var", webhook_env(telegram, port))
    await bot.start()
    try:
        eve = telegram.person(first_name="Eve", language_code="vi")
        update = {
            "update_id": 777_000_001,
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "/start",
                "chat": {"id": eve.id, "type": "private"},
                "from": {"id": eve.id, "is_bot": False, "first_name": "Eve"},
            },
        }
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                url = f"http://127.0.0.1:{port}/telegram/webhook"
                async with http.post(url, json=update, headers=headers) as resp:
                    assert resp.status == 200
        await eve.wait_for_messages(1, timeout=20)
        await until(lambda: open_rows(tmp_path / "var") == 0)
    finally:
        await bot.stop()
    assert len(eve.inbox) == 1


async def test_webhook_without_a_configured_secret_derives_one(
    telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    port = free_port()
    env = bot_env(telegram, OCOP_PUBLIC_URL=f"http://127.0.0.1:{port}", OCOP_WEB_PORT=str(port))
    bot = BotProcess(tmp_path / "var", env)
    await bot.start()
    try:
        dan = telegram.person(first_name="Dan", language_code="vi")
        await dan.send_text("/start")
        await dan.wait_for_messages(1, timeout=20)
        assert "Chọn ngôn ngữ" in (dan.last_text() or "")
        assert telegram.webhook_secret  # registered with a secret, and updates pass it
        assert all(d.status == 200 for d in telegram.webhook_deliveries)
    finally:
        await bot.stop()
    assert "secret derived from the token" in bot.log
    assert telegram.webhook_secret not in bot.log


async def test_graceful_stop_during_an_album_processes_it(
    telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    # The album would wait a minute for more parts: only the stop can make it run.
    bot = BotProcess(tmp_path / "var", bot_env(telegram, OCOP_ALBUM_WAIT_SECONDS="60"))
    await bot.start()
    try:
        ana = telegram.person(first_name="Ana", language_code="vi")
        await onboard(ana)
        await register(ana, "Rượu ngô Bình Lư")
        before = len(ana.inbox)
        # Sent from the menu, before choosing the document: kept, and she is asked which it is.
        await ana.send_album([document_photo(i) for i in range(3)])
        await telegram.drain_updates(20)  # stored
        assert await bot.stop() == 0  # SIGTERM while the album is still being collected
    finally:
        await bot.stop()
    after = [m.text or "" for m in ana.inbox[before:]]
    # One album, one answer for all three pages, with the checklist to say which document it is.
    assert len(after) == 1 and "Đã giữ 3 trang" in after[0], after
    assert any("Phiếu đăng ký" in b for b in ana.inbox[-1].button_labels), ana.inbox[-1].buttons
    assert len(telegram.calls("getFile")) == 3  # all three photos were fetched
    assert len(list((tmp_path / "var" / "media").rglob("*.jpg"))) == 3  # and stored


def zalo_update(person_id: str, n: int) -> dict[str, object]:
    return {
        "event_name": "message.text.received",
        "message": {
            "message_id": f"crash{n:015d}",
            "date": 1790000000123,
            "from": {"id": person_id, "display_name": f"Z{n}", "is_bot": False},
            "chat": {"id": person_id, "chat_type": "PRIVATE"},
            "text": "Xin chào",
        },
    }


async def test_zalo_kill_9_after_24_messages_and_redelivery(
    zalo: FakeZaloServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    port = free_port()
    env = {
        "OCOP_ZALO_BOT_TOKEN": zalo.token,
        "OCOP_ZALO_API_URL": zalo.api_url,
        "OCOP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "OCOP_WEB_PORT": str(port),
        "OCOP_ZALO_WEBHOOK_SECRET": ZALO_SECRET,
    }
    bot = BotProcess(data, env)
    await bot.start()
    await zalo.wait_until(lambda: bool(zalo.webhook_url), 20, what="the Zalo webhook")
    people = [zalo.person(f"Z{i}") for i in range(24)]
    try:
        for n, p in enumerate(people):
            await zalo.deliver(zalo_update(p.id, n))  # returns once the bot answered 200
        await bot.stop(signal.SIGKILL)
        answered_before = sum(1 for p in people if p.inbox)
        doubt = in_doubt(data)
        await bot.start()
        # Zalo delivers some of them again after the crash: still handled once.
        for n, p in enumerate(people[:12]):
            await zalo.deliver(zalo_update(p.id, n))
        await zalo.wait_until(lambda: all(p.inbox for p in people), 60, what="24 answers")
        await until(lambda: open_rows(data) == 0, what="the inbox to empty")
    finally:
        await bot.stop()
    counts = {p.id: len(p.inbox) for p in people}
    print(
        f"zalo: {answered_before}/24 answered before kill -9, {len(doubt)} in doubt, "
        f"replies per person {set(counts.values())}"
    )
    assert_once_but_in_doubt(counts, doubt)
    assert all(d.status == 200 for d in zalo.deliveries)


@pytest.fixture
async def real_telegram() -> AsyncIterator[FakeTelegramServer]:
    """At Telegram's own limits, not a journey's scaled ones."""
    async with FakeTelegramServer() as fake:
        yield fake
        fake.assert_no_rejections()


PEOPLE = 60  # two seconds of Telegram's 30 msg/s: enough for both processes to take a share


async def test_two_processes_share_the_inbox_on_postgresql(
    real_telegram: FakeTelegramServer, tmp_path: Path, pg_url: str
) -> None:
    telegram = real_telegram
    port = free_port()
    # Pacing is per process: two processes share Telegram's 30 msg/s as the README says (30/N).
    # Both listen on one port (docs/deploy.md): the kernel spreads Telegram's connections.
    shared = {
        "OCOP_DATABASE_URL": pg_url,
        "OCOP_INBOX_CONCURRENCY": "2",
        "OCOP_TELEGRAM_GLOBAL_RATE": "15",
        "OCOP_WEB_REUSE_PORT": "true",
    }
    first = BotProcess(tmp_path / "a" / "var", webhook_env(telegram, port, **shared))
    second = BotProcess(tmp_path / "b" / "var", webhook_env(telegram, port, **shared))
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    engine = create_async_engine(pg_url)
    # This worker's database is shared with earlier tests: rows they left open in the inbox
    # would never drain here (and other workers' rows would count as a third process).
    await _truncate(engine)
    await first.start()
    await second.start()
    people = [telegram.person(first_name=f"Q{i}", language_code="vi") for i in range(PEOPLE)]
    try:
        for p in people:
            await p.send_text("/start")
        await telegram.wait_until(lambda: all(p.inbox for p in people), 120)

        async def open_pg() -> int:
            async with engine.connect() as conn:
                return int((await conn.execute(text(OPEN_ROWS))).scalar_one())

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while await open_pg():  # the database cannot signal: poll it
            assert loop.time() < deadline, "inbox rows still open after 60 s"
            await asyncio.sleep(0.1)
        async with engine.connect() as conn:
            workers = (
                await conn.execute(
                    text(
                        "SELECT worker, count(*) FROM inbox WHERE status = 'done' "
                        "AND channel = 'telegram' GROUP BY worker"
                    )
                )
            ).all()
    finally:
        await second.stop()
        await first.stop()
        await engine.dispose()
    counts = [len(p.inbox) for p in people]
    print("updates per process:", json.dumps({w: n for w, n in workers}))
    assert counts == [1] * PEOPLE, [c for c in counts if c != 1]
    assert sum(n for _w, n in workers) >= PEOPLE
    assert len(workers) == 2  # both processes took their share
