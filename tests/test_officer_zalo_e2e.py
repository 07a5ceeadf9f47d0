"""The commune officer's journey on Zalo (no buttons: numbered options, typed words) through the
real ``ocop-bot run`` and the fake Zalo server; documents and the Mẫu 03 arrive as signed links."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pypdf import PdfReader

from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.lifecycle import Stage
from ocop_core.models import Dossier
from ocop_core.plans import PlanRegistry
from ocop_core.reports import TITLE
from ocop_core.services.context import CoreContext
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.zalo_api import FakeZaloServer
from tests.officer_helpers import submitted_dossier
from tests.test_cli import ocop_here
from tests.test_telegram_e2e import journey_server
from tests.test_zalo_e2e import start_webhook_bot
from tests.zalo_helpers import link_in, pick, say

# Whole journeys with a bot process: minutes on a busy machine, not the default minute.
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloServer]:
    async with FakeZaloServer() as fake:
        yield fake
        fake.assert_no_rejections()  # 2,000 characters, the secret header, no unknown calls


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with journey_server() as fake:
        yield fake


async def fetch_pdf(http: aiohttp.ClientSession, text: str) -> bytes:
    async with http.get(link_in(text)) as resp:
        body = await resp.read()
        assert resp.status == 200 and body.startswith(b"%PDF"), resp.status
        return body


async def test_commune_officer_on_zalo(
    zalo: FakeZaloServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    bot, _base = await start_webhook_bot(zalo, telegram, tmp_path)
    data_dir = tmp_path / "var"
    engine = make_engine(f"sqlite+aiosqlite:///{(data_dir / 'ocop.sqlite3').resolve()}")
    sessions = session_factory(engine)
    try:
        producer = zalo.person("Ba")
        ctx = CoreContext(plans=PlanRegistry(), data_dir=data_dir)
        seeded = await submitted_dossier(
            sessions, ctx, user=producer.id, product="Mật ong bạc hà", channel="zalo"
        )
        made = await asyncio.to_thread(
            ocop_here, data_dir, "officer", "invite", "--commune", "03390"
        )
        assert made.returncode == 0, made.stderr
        code = made.stdout.splitlines()[0]

        lan = zalo.person("Lan")
        assert "1. Tiếng Việt" in await say(zalo, lan, "Xin chào")
        await say(zalo, lan, "1")
        assert "/canbo" in await pick(zalo, lan, "Cán bộ xã")
        await say(zalo, lan, "toi dong y")
        await say(zalo, lan, "0912 345 679")
        text = await say(zalo, lan, f"/canbo {code.lower()}")
        assert "Bạn đã là cán bộ OCOP của Xã Bình Lư" in text, text
        text = await say(zalo, lan, "/xa")
        assert seeded.code in text and "hạn" in text
        text = await pick(zalo, lan, seeded.code)
        assert "📁 Hồ sơ" in text and "Giấy tờ bắt buộc: 6/6" in text
        async with aiohttp.ClientSession() as http:
            text = await pick(zalo, lan, "Phiếu đăng ký")
            await fetch_pdf(http, text)
            await pick(zalo, lan, "Kiểm tra (Mẫu 03)")
            for _ in range(4):
                await say(zalo, lan, "dat")  # "Đạt" typed without accents
                await say(zalo, lan, "bo qua")
            text = await say(zalo, lan, "xac nhan", n=2)  # the result, then the card again
            assert "Đã ghi kết quả kiểm tra" in text, text
            report = PdfReader(io.BytesIO(await fetch_pdf(http, text)))
            assert TITLE in report.pages[0].extract_text()
        await pick(zalo, lan, "Chuyển lên Cơ quan OCOP tỉnh")
        text = await say(zalo, lan, "1")
        assert "Đã chuyển hồ sơ" in text, text
        assert all(len(m.text or "") <= 2000 for m in lan.inbox)
        async with transaction(sessions) as s:
            d = await s.get(Dossier, seeded.dossier_id)
            assert d is not None and d.stage == Stage.AT_PROVINCE
    finally:
        await engine.dispose()
        await bot.stop()
