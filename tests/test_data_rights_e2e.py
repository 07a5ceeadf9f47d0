"""/dulieu through the real ``ocop-bot run`` on both channels: the export arrives as a document
on Telegram and as a signed link on Zalo; after erasure the person is in no table and no log
line, and the link no longer serves anything."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.botprocess import BotProcess
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.zalo_api import FakeZaloServer
from tests.test_data_rights import leftovers
from tests.test_telegram_e2e import journey_server, tap, turn
from tests.test_telegram_e2e import onboard as tg_onboard
from tests.test_zalo_e2e import onboard as zalo_onboard
from tests.zalo_helpers import both_env, link_in, pick, say


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeZaloServer, FakeTelegramServer]]:
    async with FakeZaloServer() as zalo, journey_server() as telegram:
        yield zalo, telegram
        zalo.assert_no_rejections()
        telegram.assert_no_rejections()


async def test_dulieu_over_both_channels(
    fakes: tuple[FakeZaloServer, FakeTelegramServer], tmp_path: Path
) -> None:
    zalo, telegram = fakes
    data = tmp_path / "var"
    bot = BotProcess(data, both_env(zalo, telegram))
    await bot.start()
    try:
        # Zalo: the copy is a signed link to our server.
        thom = zalo.person("Thơm Zalo-Người")
        await zalo_onboard(zalo, thom)
        assert "Dữ liệu cá nhân của bạn" in await say(zalo, thom, "/dulieu")
        link = link_in(await pick(zalo, thom, "Tải bản sao"))
        async with aiohttp.ClientSession() as http, http.get(link) as resp:
            assert resp.status == 200
            archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
        saved = json.loads(archive.read("data.json"))
        assert saved["account"]["phone"] == "0912345678"
        assert saved["account"]["name"] == "Thơm Zalo-Người"
        await say(zalo, thom, "/dulieu")
        assert "không hoàn tác được" in await pick(zalo, thom, "Rút đồng ý")
        assert "Đã xóa dữ liệu của bạn" in await pick(zalo, thom, "Có, xóa")
        async with aiohttp.ClientSession() as http, http.get(link) as resp:
            assert resp.status == 404  # the copy and its link are gone

        # Telegram: the copy is a document in the chat.
        xuyen = telegram.person(first_name="Xuyến", last_name="Hạ-Telegram", language_code="vi")
        await tg_onboard(xuyen)
        await turn(xuyen, xuyen.send_text("/dulieu"))
        await tap(xuyen, "Tải bản sao")
        await telegram.wait_until(lambda: any(m.kind == "document" for m in xuyen.inbox), 20)
        [document] = [m for m in xuyen.inbox if m.kind == "document"]
        assert (document.file_name or "").endswith(".zip") and document.data
        assert b"data.json" in document.data
        await xuyen.send_text("/dulieu")

        def menus() -> int:
            return sum("Dữ liệu cá nhân" in (m.text or "") for m in xuyen.inbox)

        await telegram.wait_until(lambda: menus() == 2, 20)  # the second menu, not the first
        assert "không hoàn tác được" in await tap(xuyen, "Rút đồng ý")
        assert "Đã xóa dữ liệu của bạn" in await tap(xuyen, "Có, xóa")
    finally:
        await bot.stop()
    needles = ["Thơm Zalo-Người", "Hạ-Telegram", "0912345678", thom.id, str(xuyen.id)]
    assert leftovers(data / "ocop.sqlite3", needles) == []
    assert [n for n in needles if n in bot.log] == []
    assert not list((data / "exports").glob("data-*.zip"))
