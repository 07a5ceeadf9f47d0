"""A commune officer's journey through the real ``ocop-bot run`` and python-telegram-bot, against
the fake Bot API: join with an invite from the CLI, inbox, card, a document, the commune check
with its Mẫu 03 PDF, forward — and the producer's notices queued in the outbox."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import col, select

from ocop_core.admin_units import fold
from ocop_core.db import make_engine, session_factory, transaction
from ocop_core.lifecycle import Stage
from ocop_core.models import Dossier, Outbox
from ocop_core.plans import PlanRegistry
from ocop_core.reports import TITLE
from ocop_core.services.context import CoreContext
from tests.botprocess import BotProcess
from tests.fakes.telegram_api import FakeTelegramServer, Person
from tests.officer_helpers import submitted_dossier
from tests.test_cli import ocop_here
from tests.test_telegram_e2e import bot_env, journey_server, tap, turn

# Whole journeys with a bot process: minutes on a busy machine, not the default minute.
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with journey_server() as fake:
        yield fake
        fake.assert_no_rejections()  # nothing the bot sent was refused (length, markup, data)


async def tap_for(person: Person, label: str, n: int) -> str:
    """Tap, then wait for ``n`` messages (text, file and the next prompt are three)."""
    message = person.chat.last_keyboard_message()
    assert message is not None
    found = [b for b in message.button_labels if fold(label) in fold(b)]
    assert found, message.button_labels
    return await turn(person, person.press(found[0]), n=n)


def documents(person: Person, since: int) -> list[bytes]:
    return [m.data for m in person.inbox[since:] if m.kind == "document" and m.data]


async def test_commune_officer_on_telegram(server: FakeTelegramServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    bot = BotProcess(data_dir, bot_env(server))
    await bot.start()
    engine = make_engine(f"sqlite+aiosqlite:///{(data_dir / 'ocop.sqlite3').resolve()}")
    sessions = session_factory(engine)
    try:
        producer = server.person(first_name="Ba", language_code="vi")
        ctx = CoreContext(plans=PlanRegistry(), data_dir=data_dir)
        seeded = await submitted_dossier(
            sessions, ctx, user=str(producer.id), product="Mật ong bạc hà"
        )
        made = await asyncio.to_thread(
            ocop_here, data_dir, "officer", "invite", "--commune", "03390"
        )
        assert made.returncode == 0, made.stderr
        code = made.stdout.splitlines()[0]

        lan = server.person(first_name="Lan", language_code="vi")
        assert "Chọn ngôn ngữ" in await turn(lan, lan.send_text("/start"))
        await tap(lan, "Tiếng Việt")
        assert "/canbo" in await tap(lan, "Cán bộ xã")
        await tap(lan, "Tôi đồng ý")
        await turn(lan, lan.share_contact("+84912345679"), n=2)  # said, then the menu
        text = await turn(lan, lan.send_text(f"/canbo {code}"))
        assert "Bạn đã là cán bộ OCOP của Xã Bình Lư" in text, text
        text = await turn(lan, lan.send_text("/xa"))
        assert seeded.code in text and "Đã nộp, chờ UBND xã kiểm tra: 1" in text
        text = await tap(lan, seeded.code)
        assert "📁 Hồ sơ" in text and "Giấy tờ bắt buộc: 6/6" in text

        since = len(lan.inbox)
        assert "Chạm giấy tờ khác" in await tap_for(lan, "Phiếu đăng ký", 3)
        assert documents(lan, since)[0].startswith(b"%PDF")

        await tap(lan, "Kiểm tra (Mẫu 03)")
        for _ in range(4):
            await tap(lan, "✅ Đạt")
            await tap(lan, "Bỏ qua")
        since = len(lan.inbox)
        assert "Kiểm tra của xã: đạt 4/4" in await tap_for(lan, "Xác nhận, lập Mẫu 03", 3)
        report = PdfReader(io.BytesIO(documents(lan, since)[0]))
        assert TITLE in report.pages[0].extract_text()

        await tap(lan, "📤 Chuyển lên")
        text = await tap(lan, "Xác nhận chuyển")
        assert "Đã chuyển hồ sơ" in text and "Chờ Hội đồng cấp tỉnh chấm điểm" in text
        async with transaction(sessions) as s:
            d = await s.get(Dossier, seeded.dossier_id)
            assert d is not None and d.stage == Stage.AT_PROVINCE
            rows = (
                await s.exec(
                    select(Outbox)
                    .where(Outbox.account_id == seeded.producer_account_id)
                    .order_by(col(Outbox.id))
                )
            ).all()
        texts = [r.payload["text"] for r in rows]
        assert any("đã tiếp nhận và kiểm tra" in t for t in texts)
        assert any("đã được chuyển lên Cơ quan OCOP tỉnh" in t for t in texts)
    finally:
        await engine.dispose()
        assert await bot.stop() == 0
