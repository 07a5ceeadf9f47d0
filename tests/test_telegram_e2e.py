"""The real ``ocop-bot run`` process and the real python-telegram-bot against the fake Bot API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ocop_core.admin_units import fold
from tests.botprocess import BotProcess, free_port, pacing_env
from tests.fakes.telegram_api import FakeTelegramServer, Person, RateLimits, SentMessage
from tests.transcript import document_photo, pdf_file

# Whole journeys with a bot process: minutes on a busy machine, not the default minute.
pytestmark = pytest.mark.timeout(180)

# Journeys run at Telegram's limits ×SCALE: the fake enforces the scaled flood model and the bot
# paces to it (bot_env), so a 429 still fails the test while a journey no longer waits ~1 s per
# message in its chat. Telegram's own limits: tests/test_delivery.py and the two-process test.
SCALE = 5


def journey_server() -> FakeTelegramServer:
    return FakeTelegramServer(rate_limits=RateLimits().scaled(SCALE))


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with journey_server() as fake:
        yield fake
        fake.assert_no_rejections()  # across every test, nothing the bot sent was refused


def bot_env(server: FakeTelegramServer, **extra: str) -> dict[str, str]:
    return {
        "OCOP_TELEGRAM_TOKEN": server.token,
        "OCOP_TELEGRAM_API_URL": server.base_url,
        "OCOP_TELEGRAM_FILE_URL": server.base_file_url,
        **pacing_env(server),
        **extra,
    }


async def turn(person: Person, action: object, n: int = 1, timeout: float = 20) -> str:  # noqa: ASYNC109
    """Do something, wait for the bot's ``n`` answer(s) and until it is idle (every update
    taken, no request in flight), return the text of the last message."""
    await action  # type: ignore[misc]
    await person.wait_for_messages(n, timeout=timeout)
    await person.server.wait_idle(timeout)
    return person.last_text() or ""


async def tap(person: Person, label: str, message: SentMessage | None = None) -> str:
    """Press the button containing ``label`` on ``message`` (default: the latest keyboard)."""
    message = message or person.chat.last_keyboard_message()
    assert message is not None, person.last_text()
    wanted = fold(label)
    for text in message.button_labels:
        if wanted in fold(text):
            return await turn(person, person.press(text, message_id=message.message_id))
    raise AssertionError(f"no button {label!r} in {message.button_labels}")


async def onboard(p: Person) -> None:
    assert "Chọn ngôn ngữ" in await turn(p, p.send_text("/start"))
    await tap(p, "Tiếng Việt")
    await tap(p, "Chủ thể sản xuất")
    assert "Chia sẻ số điện thoại" in await tap(p, "Tôi đồng ý")
    # What was said removes the share-phone keyboard; the menu question carries the buttons.
    await turn(p, p.share_contact("+84912345678"), n=2)
    assert "0912345678" in (p.chat.inbox[-2].text or "")
    assert p.chat.reply_keyboard is None


async def register(p: Person, product: str) -> str:
    await tap(p, "Đăng ký sản phẩm")
    await tap(p, "Hợp tác xã")
    await turn(p, p.send_text("HTX Ngô Tam Đường"))
    await turn(p, p.send_text("binh lu"))  # the province is guessed from the commune
    text = await turn(p, p.send_text(product))
    if "«Rượu trắng»" in text:  # the group guessed from the product's name
        await tap(p, "Đúng")
    else:
        await tap(p, "Chọn nhóm khác")
        await tap(p, "Đồ uống")
        await tap(p, "Rượu trắng")
    await tap(p, "Lần đầu")
    text = await tap(p, "Xác nhận")
    assert "Mã hồ sơ của bạn:" in text, text
    return text.split("Mã hồ sơ của bạn: ")[1].split(" ")[0]


async def test_polling_journey_with_restart(server: FakeTelegramServer, tmp_path: Path) -> None:
    bot = BotProcess(tmp_path / "var", bot_env(server))
    await bot.start()
    try:
        alice = server.person(first_name="Alice", language_code="vi")
        await onboard(alice)
        product = "Rượu <b>ngô</b> & mật"
        code = await register(alice, product)
        summary = alice.chat.last_message()
        assert summary is not None and product in summary.text  # shown literally, no parse error
        await tap(alice, "Gửi giấy tờ")
        await tap(alice, "Phiếu đăng ký")
        photos = [document_photo(i) for i in range(3)]
        text = await turn(alice, alice.send_album(photos), timeout=30)
        assert "Đã nhận 3 trang" in text
        await tap(alice, "Xong giấy tờ này")
        await tap(alice, "Báo cáo tự đánh giá")
        text = await turn(
            alice, alice.send_document(pdf_file(2), "mau02.pdf", "application/pdf"), timeout=30
        )
        assert "Đã nhận 2 trang" in text  # a PDF of two pages
        # The status, then the question the person was at (two messages, paced per chat).
        await turn(alice, alice.send_text(f"/trangthai {code}"), n=2)
        status, _prompt = alice.inbox[-2:]
        assert f"Hồ sơ {code}" in status.text and "Giấy tờ bắt buộc: 2/" in status.text
        # Restart in the middle of choosing a document.
        await tap(alice, "Gửi giấy tờ", status)
        assert await bot.stop() == 0
        await bot.start()
        text = await tap(alice, "Giấy chứng nhận cơ sở đủ điều kiện")
        assert "Gửi ảnh chụp" in text
        text = await turn(alice, alice.send_photo(document_photo(9)), timeout=30)
        assert "Đã nhận 1 trang" in text and "3/" in text
    finally:
        await bot.stop()


async def test_bad_input_gets_short_answers(server: FakeTelegramServer, tmp_path: Path) -> None:
    bot = BotProcess(tmp_path / "var", bot_env(server))
    await bot.start()
    try:
        bob = server.person(first_name="Bob", language_code="vi")
        await onboard(bob)
        assert "nhãn dán" in await turn(bob, bob.send_sticker())
        assert "nhãn dán" in await turn(bob, bob.send_voice())
        assert "nhãn dán" in await turn(bob, bob.send_location(21.0, 105.8))
        assert "tin nhắn đã sửa" in await turn(bob, bob.edit_last_text("sửa"))
        # A forged button and one from an old message.
        assert "tin nhắn cũ" in await turn(bob, bob.press_data("zz:3"))
        big = b"%PDF-1.4\n" + b"0" * (25 * 1024 * 1024)
        await tap(bob, "Gửi giấy tờ")
        text = await turn(bob, bob.send_document(big, "big.pdf", "application/pdf"))
        assert "20 MB" in text or "chưa có hồ sơ" in text
        # In English: the share-phone button speaks English; another's card is not one's number.
        emma = server.person(first_name="Emma", language_code="en")
        await turn(emma, emma.send_text("/start"))
        await tap(emma, "English")
        await tap(emma, "Producer")
        await tap(emma, "I agree")
        assert "📱 Share my phone number" in json.dumps(
            emma.chat.reply_keyboard, ensure_ascii=False
        )
        text = await turn(emma, emma.share_contact("+84912000111", "Grandma", own=False))
        assert "someone else's contact card" in text
        await turn(emma, emma.tap_keyboard("📱 Share my phone number"), n=2)
        assert emma.chat.reply_keyboard is None  # gone once the number came
    finally:
        await bot.stop()


async def test_webhook_secret(server: FakeTelegramServer, tmp_path: Path) -> None:
    port = free_port()
    env = bot_env(
        server,
        OCOP_PUBLIC_URL=f"http://127.0.0.1:{port}",
        OCOP_WEB_PORT=str(port),
        OCOP_TELEGRAM_WEBHOOK_SECRET="s3cret-webhook",
    )
    bot = BotProcess(tmp_path / "var", env)
    await bot.start()
    try:
        carol = server.person(first_name="Carol", language_code="vi")
        assert "Chọn ngôn ngữ" in await turn(carol, carol.send_text("/start"))
        assert server.webhook_deliveries and all(d.status == 200 for d in server.webhook_deliveries)
        update = {
            "update_id": 999_999,
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "/start",
                "chat": {"id": carol.id, "type": "private"},
                "from": {"id": carol.id, "is_bot": False, "first_name": "Mallory"},
            },
        }
        before = len(carol.inbox)
        async with aiohttp.ClientSession() as http:
            for headers in ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {}):
                async with http.post(
                    f"http://127.0.0.1:{port}/telegram/webhook", json=update, headers=headers
                ) as resp:
                    assert resp.status == 403
        # Nothing was processed: the answer to the next real update is the only new message.
        assert "Chọn ngôn ngữ" in await turn(carol, carol.send_text("/start"))
        assert len(carol.inbox) == before + 1
    finally:
        await bot.stop()
    assert "s3cret-webhook" not in bot.log and server.token not in bot.log


async def test_flood_group_and_others_not_slowed(
    server: FakeTelegramServer, tmp_path: Path
) -> None:
    bot = BotProcess(tmp_path / "var", bot_env(server))
    await bot.start()
    try:
        flooder = server.person(first_name="Flood", language_code="vi")
        other = server.person(first_name="Other", language_code="vi")
        await onboard(flooder)
        # A group message is answered with a pointer to the private chat, nothing else.
        group = server.default_group()
        await flooder.send_text("/start", in_group=group)
        await server.wait_until(lambda: "nhắn riêng" in (group.last_text() or ""), 10)
        flood_start = len(server.sent)
        for i in range(50):
            await flooder.send_text(f"tin nhắn {i}")
            await asyncio.sleep(0.1 / SCALE)  # ten a second at Telegram's pace, ×SCALE here
        await other.send_text("/start")
        [hello] = await other.wait_for_messages(1, timeout=30)
        assert "Chọn ngôn ngữ" in (hello.text or "")
        await server.wait_until(
            lambda: any("gửi nhanh quá" in (m.text or "") for m in flooder.inbox), 30
        )
        # A button copied from another person's chat means nothing here.
        alice_keyboard = other.chat.last_keyboard_message()
        assert alice_keyboard is not None
        data = alice_keyboard.inline_keyboard[0][0]["callback_data"]
        await flooder.press_data(data)
        await server.wait_until(
            lambda: any("tin nhắn cũ" in (m.text or "") for m in flooder.inbox), 30
        )
    finally:
        await bot.stop()
    # The flood was not answered message by message, and it did not hold the other person
    # up: their answer went out while the answers to the flood (paced at ~1/s ×SCALE in one chat)
    # were still going out. An order of events rather than a wall-clock bound.
    assert len(flooder.inbox) < 30
    notices = ("gửi nhanh quá", "tin nhắn cũ")
    answers = [
        i
        for i, m in enumerate(server.sent)
        if i >= flood_start
        and m.chat_id == flooder.id
        and not any(n in (m.text or "") for n in notices)
    ]
    to_other = next(i for i, m in enumerate(server.sent) if m.chat_id == other.id)
    assert len(answers) > 3 and to_other < answers[-1], (to_other, answers)
