"""The real ``ocop-bot run`` with Telegram and Zalo configured together, against both fakes.

A Zalo person types numbers, labels or words (Zalo has no buttons), sends photos, uploads a PDF
through a signed link and asks the status; webhook refusals, duplicate deliveries, long answers,
bad photos and floods are checked over real HTTP. Every test ends by asserting that the fake Zalo
server (and the fake Telegram server) refused nothing the bot sent.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pypdf import PdfReader

from tests.botprocess import BotProcess, free_port
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.zalo_api import FakeZaloServer, Person
from tests.test_telegram_e2e import journey_server
from tests.transcript import document_photo, pdf_file
from tests.zalo_helpers import both_env, link_in, pick, say, turn

# Whole journeys with a bot process: minutes on a busy machine, not the default minute.
pytestmark = pytest.mark.timeout(180)

ZALO_SECRET = "zalo-webhook-s3cret"
TG_SECRET = "tg-webhook-s3cret"


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloServer]:
    async with FakeZaloServer() as fake:
        yield fake
        fake.assert_no_rejections()  # across the suite: nothing the bot sent was refused


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with journey_server() as fake:
        yield fake
        fake.assert_no_rejections()


async def start_webhook_bot(
    zalo: FakeZaloServer, telegram: FakeTelegramServer, tmp_path: Path
) -> tuple[BotProcess, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = both_env(
        zalo,
        telegram,
        OCOP_PUBLIC_URL=base,
        OCOP_WEB_PORT=str(port),
        OCOP_ZALO_WEBHOOK_SECRET=ZALO_SECRET,
        OCOP_TELEGRAM_WEBHOOK_SECRET=TG_SECRET,
    )
    bot = BotProcess(tmp_path / "var", env)
    await bot.start()
    await zalo.wait_until(lambda: bool(zalo.webhook_url), 20, what="the Zalo webhook")
    return bot, base


async def onboard(zalo: FakeZaloServer, p: Person) -> None:
    text = await say(zalo, p, "Xin chào")
    assert "Chọn ngôn ngữ" in text and "1. Tiếng Việt" in text
    assert "1. Chủ thể sản xuất" in await say(zalo, p, "1")  # a typed number
    assert "Tôi đồng ý" in await say(zalo, p, "chu the san xuat")  # a label without accents
    assert "Gõ số điện thoại" in await say(zalo, p, "Tôi đồng ý")  # a label
    assert "0912345678" in await say(zalo, p, "0912 345 678")


async def register(zalo: FakeZaloServer, p: Person, *, long: bool = False) -> tuple[str, list[str]]:
    """Register a product idea; returns the receipt code and the summary messages."""
    word = "Sản xuất rượu ngô men lá truyền thống của đồng bào Giáy ở Bình Lư"
    word2 = f"{word}, {word}"
    await pick(zalo, p, "Đăng ký sản phẩm")
    await pick(zalo, p, "Hợp tác xã")
    await say(zalo, p, ("HTX Ngô Tam Đường " + word2)[:200] if long else "HTX Ngô Tam Đường")
    await say(zalo, p, "binh lu")  # the province is guessed from the commune
    text = await say(zalo, p, ("Rượu ngô " + word2)[:200] if long else "Rượu ngô Bình Lư")
    if "«Rượu trắng»" in text:  # the group guessed from the product's name
        await pick(zalo, p, "Đúng")
    else:
        await pick(zalo, p, "Chọn nhóm khác")
        await pick(zalo, p, "Đồ uống")
        await pick(zalo, p, "Rượu trắng")
    since = len(p.inbox)
    # The check screen: one message, its numbered list below the summary, even for long names.
    text = await pick(zalo, p, "Lần đầu")
    assert "Kiểm tra lại thông tin đăng ký" in text and "1. ✅ Xác nhận" in text, text
    summary = [m.text or "" for m in p.inbox[since:]]
    assert len(summary) == 1, summary
    text = await pick(zalo, p, "Xác nhận")
    assert "Mã hồ sơ của bạn:" in text, text
    return text.split("Mã hồ sơ của bạn: ")[1].split(" ")[0], summary


async def test_zalo_journey_with_telegram_alongside(
    zalo: FakeZaloServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    bot, base = await start_webhook_bot(zalo, telegram, tmp_path)
    try:
        # Telegram runs in the same process.
        alice = telegram.person(first_name="Alice", language_code="vi")
        await alice.send_text("/start")
        [hello] = await alice.wait_for_messages(1, timeout=20)
        assert "Chọn ngôn ngữ" in (hello.text or "")

        lan = zalo.person("Lan")
        await onboard(zalo, lan)
        code, summary = await register(zalo, lan, long=True)
        # Long names (200 characters each) arrive whole, within Zalo's limit.
        assert all(len(s) <= 2000 for s in summary)
        assert "HTX Ngô Tam Đường Sản xuất" in "".join(summary)

        await pick(zalo, lan, "Gửi giấy tờ")
        text = await pick(zalo, lan, "Phiếu đăng ký")
        assert "Gửi ảnh chụp" in text and "liên kết" in text
        text = await turn(zalo, lan, lan.send_photo(document_photo(1)), timeout=30)
        assert "Đã nhận 1 trang" in text
        text = await turn(zalo, lan, lan.send_photo(document_photo(2), "trang 2"), timeout=30)
        assert "Đã nhận 1 trang" in text
        assert "typing" in {a for _c, a in zalo.actions}

        await pick(zalo, lan, "Xong giấy tờ này")
        await pick(zalo, lan, "Báo cáo tự đánh giá")
        # A PDF sent in Zalo arrives as "unsupported": the answer is a one-time upload link.
        text = await turn(zalo, lan, lan.send_unsupported(), n=2)  # the link, then the prompt
        assert "Zalo chỉ chuyển được ảnh" in text
        url = link_in(text)
        assert url.startswith(base + "/link/u/")
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as resp:
                page = await resp.text()
                assert resp.status == 200 and code in page and "Báo cáo tự đánh giá" in page
            since = len(lan.inbox)
            form = aiohttp.FormData()
            form.add_field(
                "file", pdf_file(2), filename="mau02.pdf", content_type="application/pdf"
            )
            async with http.post(url, data=form) as resp:
                page = await resp.text()
                assert resp.status == 200 and "Đã nhận tệp" in page and "2 trang" in page
            await lan.wait_for(
                lambda: any("qua liên kết tải lên" in (m.text or "") for m in lan.inbox[since:])
            )
            # The same link again: refused, nothing stored twice.
            form = aiohttp.FormData()
            form.add_field("file", pdf_file(1), filename="x.pdf", content_type="application/pdf")
            async with http.post(url, data=form) as resp:
                assert resp.status == 410 and "đã được dùng" in await resp.text()

            text = await say(zalo, lan, f"/trangthai {code}", n=2)  # then the prompt again
            assert f"Hồ sơ {code}" in text and "Giấy tờ bắt buộc: 2/" in text, text

            # Viewing a document: Zalo cannot carry files, so a signed download link.
            text = await pick(zalo, lan, "Xem", n=2)
            file_url = link_in(text)
            async with http.get(file_url) as resp:
                body = await resp.read()
                assert resp.status == 200 and body.startswith(b"%PDF")
            assert len(PdfReader(io.BytesIO(body)).pages) == 2
    finally:
        await bot.stop()
    for secret in (zalo.token, ZALO_SECRET, telegram.token, TG_SECRET):
        assert secret not in bot.log
    assert url.split("/link/u/")[1] not in bot.log  # links are secrets too


async def post_webhook(
    http: aiohttp.ClientSession, base: str, body: bytes, secret: str | None = ZALO_SECRET
) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Bot-Api-Secret-Token"] = secret
    async with http.post(f"{base}/zalo/webhook", data=body, headers=headers) as resp:
        await resp.read()
        return resp.status


async def test_webhook_refusals_duplicates_and_flat_bodies(
    zalo: FakeZaloServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    bot, base = await start_webhook_bot(zalo, telegram, tmp_path)
    try:
        minh = zalo.person("Minh")
        update = {
            "event_name": "message.text.received",
            "message": {
                "message_id": "0123456789abcdef0123",
                "date": 1790000000123,
                "from": {"id": minh.id, "display_name": "Mallory", "is_bot": False},
                "chat": {"id": minh.id, "chat_type": "PRIVATE"},
                "text": "Xin chào",
            },
        }
        raw = json.dumps({"ok": True, "result": update}).encode()
        async with aiohttp.ClientSession() as http:
            # A wrong or missing secret: refused, nothing processed.
            assert await post_webhook(http, base, raw, "wrong-secret-1") == 403
            assert await post_webhook(http, base, raw, None) == 403
            # Not JSON, or JSON that is not an update: a clean 400.
            bad_bodies = [
                b"not json{",
                b"[1, 2]",
                b'{"ok": true, "result": "x"}',
                b'{"message": {}}',
                b'{"event_name": "message.text.received"}',
                b'{"event_name": "message.text.received", "message": {"chat": {"id": "a"}}}',
            ]
            for body in bad_bodies:
                assert await post_webhook(http, base, body) == 400, body
            # Unknown (future) events and empty probes: accepted and ignored.
            future = {"event_name": "message.reaction.received", "message": {"x": 1}}
            assert await post_webhook(http, base, json.dumps(future).encode()) == 200
            assert await post_webhook(http, base, b"") == 200
            # The refused update was not remembered: with the right secret it is handled, and
            # its answer is the only one (the bot answers a chat's updates in order).
            assert await post_webhook(http, base, raw) == 200
            await minh.wait_for_messages(1, since=0)
            await zalo.wait_idle()
            assert len(minh.inbox) == 1 and "Chọn ngôn ngữ" in (minh.inbox[0].text or "")

        # A duplicated delivery is handled once.
        zalo.duplicate_delivery = True
        hoa = zalo.person("Hoa")
        update = await hoa.send_text("Xin chào")  # both deliveries answered before it returns
        await hoa.wait_for_messages(1)
        await zalo.wait_idle()
        message_id = update["message"]["message_id"]
        assert [d.status for d in zalo.deliveries if d.message_id == message_id] == [200, 200]
        assert len(hoa.inbox) == 1 and "Chọn ngôn ngữ" in (hoa.inbox[0].text or "")
        zalo.duplicate_delivery = False

        # The flat body (no {ok, result} wrapper) seen from real Zalo webhooks.
        zalo.webhook_body = "flat"
        assert "1. Chủ thể sản xuất" in await say(zalo, hoa, "1")
        assert '"ok"' not in zalo.deliveries[-1].body
    finally:
        await bot.stop()
    assert ZALO_SECRET not in bot.log and zalo.token not in bot.log


async def test_bad_input_and_a_flood(
    zalo: FakeZaloServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    bot, _base = await start_webhook_bot(zalo, telegram, tmp_path)
    try:
        an = zalo.person("An")
        assert "Chọn ngôn ngữ" in await say(zalo, an, "Xin chào")
        text = await turn(zalo, an, an.send_sticker())
        assert "nhãn dán" in text and "Chọn ngôn ngữ" in text
        assert "nhãn dán" in await turn(zalo, an, an.send_voice())
        missing = await turn(zalo, an, an.send_photo_url(zalo.url + "/media/gone.jpg"))
        assert "không tải được ảnh" in missing and "Chọn ngôn ngữ" in missing
        html_page = b"<!doctype html><title>Zalo</title>"
        text = await turn(zalo, an, an.send_photo(html_page, content_type="image/jpeg"))
        assert "không phải là ảnh" in text
        text = await turn(zalo, an, an.send_text("hồ sơ", chat_type="GROUP"))
        assert "nhắn riêng" in text
        # The conversation is unharmed.
        assert "1. Chủ thể sản xuất" in await say(zalo, an, "Tiếng Việt")

        # 30 messages in a few seconds: each is answered or counted in one refusal, and
        # another person is answered as usual meanwhile.
        bob, carol = zalo.person("Bob"), zalo.person("Carol")
        for n in range(30):
            await bob.send_text(f"xin chào {n}")
        await carol.send_text("Xin chào")
        await carol.wait_for_messages(1, timeout=10, since=0)
        assert "Chọn ngôn ngữ" in (carol.inbox[0].text or "")
        await bob.wait_for(lambda: any("bỏ qua" in (m.text or "") for m in bob.inbox), 30)
        await zalo.wait_idle()
        notices = [m.text or "" for m in bob.inbox if "bỏ qua" in (m.text or "")]
        assert len(notices) == 1 and bob.inbox[-1].text == notices[0]
        skipped = int(re.search(r"bỏ qua (\d+) tin", notices[0]).group(1))  # type: ignore[union-attr]
        answered = len(bob.inbox) - 1
        assert answered + skipped == 30 and answered >= 1
        assert "1. Chủ thể sản xuất" in await say(zalo, bob, "1")  # still fine afterwards
    finally:
        await bot.stop()


async def test_polling_mode_with_quota_errors(
    zalo: FakeZaloServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    zalo.duplicate_delivery = True  # getUpdates may give an update again: handled once
    bot = BotProcess(tmp_path / "var", both_env(zalo, telegram))
    await bot.start()
    try:
        await zalo.wait_for_request("getUpdates", 20)
        assert zalo.calls("deleteWebhook")
        zalo.inject("sendMessage", 429, times=2)
        lan = zalo.person("Lan")
        text = await say(zalo, lan, "/start")
        assert "Chọn ngôn ngữ" in text and len(lan.inbox) == 1
        assert [r.status for r in zalo.calls("sendMessage")][:3] == [429, 429, 200]
        # The older "photo" key of image events is read too.
        text = await turn(zalo, lan, lan.send_photo(document_photo(3), key="photo"), timeout=30)
        assert "Chọn ngôn ngữ" in text
        await zalo.wait_until(
            lambda: any(r.error_code == 408 for r in zalo.rejections), 10, what="an idle poll"
        )
    finally:
        await bot.stop()
    assert "Zalo: configured (polling)" in bot.log and zalo.token not in bot.log
