"""The fake Telegram Bot API server, driven by the real python-telegram-bot over real HTTP.

Each test runs a tiny PTB application (polling, or webhook through a local aiohttp route) against
``tests.fakes.telegram_api.FakeTelegramServer`` and checks both the happy path and that every
enforced limit reaches PTB as the exception Telegram's own answer would produce.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import hashlib
import hmac
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from tests.fakes import FakeTelegramServer, RateLimits, Window, sample_jpeg
from tests.fakes.base import serving
from tests.fakes.telegram_fixtures import fake_telegram

__all__ = ["fake_telegram"]  # re-exported fixture, so pytest finds it in this module

WEBHOOK_SECRET = "ocop-webhook-secret_42"


# --------------------------------------------------------------------------------------------
# A tiny echo bot
# --------------------------------------------------------------------------------------------


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Có", callback_data="yes"),
                InlineKeyboardButton("Không", callback_data="no"),
            ]
        ]
    )
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        "<b>Bạn có sản phẩm OCOP?</b>", parse_mode="HTML", reply_markup=keyboard
    )


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(text=f"got {query.data}")
    assert query.message is not None
    await context.bot.send_message(query.message.chat.id, f"pressed {query.data}")


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    await message.reply_text(message.text)


async def _photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None and message.photo
    file = await message.photo[-1].get_file()  # the largest size is the original
    data = bytes(await file.download_as_bytearray())
    context.bot_data.setdefault("photos", []).append(data)
    context.bot_data.setdefault("album_ids", []).append(message.media_group_id)
    if message.media_group_id is None:
        await message.reply_text(hashlib.sha256(data).hexdigest())


def echo_handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CommandHandler("start", _start),
        CallbackQueryHandler(_button),
        MessageHandler(filters.PHOTO, _photo),
        MessageHandler(filters.TEXT & ~filters.COMMAND, _echo),
    ]


def _collect_errors(app: Application[Any, Any, Any, Any, Any, Any]) -> list[BaseException]:
    errors: list[BaseException] = []

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        errors.append(context.error)

    app.add_error_handler(on_error)
    return errors


@asynccontextmanager
async def polling_bot(
    server: FakeTelegramServer,
    handlers: Sequence[BaseHandler[Any, Any, Any]] | None = None,
) -> AsyncIterator[tuple[Application[Any, Any, Any, Any, Any, Any], list[BaseException]]]:
    """A PTB application polling the fake; stopped cleanly when the block ends."""
    app = server.application_builder().build()
    for handler in handlers if handlers is not None else echo_handlers():
        app.add_handler(handler)
    errors = _collect_errors(app)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=10))
    try:
        yield app, errors
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


@asynccontextmanager
async def bot_only(
    server: FakeTelegramServer,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """An initialised application without polling, for direct Bot API calls."""
    app = server.application_builder().updater(None).build()
    await app.initialize()
    try:
        yield app
    finally:
        await app.shutdown()


def _seconds(value: int | float | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def _retry_after(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return _seconds(exc.retry_after)


# --------------------------------------------------------------------------------------------
# Polling: the happy path
# --------------------------------------------------------------------------------------------


async def test_get_me_and_echo_over_polling(fake_telegram: FakeTelegramServer) -> None:
    alice = fake_telegram.person(first_name="Alice", language_code="vi")
    async with polling_bot(fake_telegram) as (app, errors):
        assert app.bot.username == "ocop_test_bot"
        assert app.bot.id == fake_telegram.bot_id
        me = await app.bot.get_me()
        assert me.is_bot and me.first_name == "OCOP Test Bot"

        await alice.send_text("Xin chào <OCOP> & bạn")
        [reply] = await alice.wait_for_messages(1)
        assert reply.text == "Xin chào <OCOP> & bạn"
        assert reply.parse_mode is None

        await alice.send_text("lần hai")
        [second] = await alice.wait_for_messages(1)
        assert second.text == "lần hai"
        assert alice.last_text() == "lần hai"
        assert [m.text for m in alice.inbox] == ["Xin chào <OCOP> & bạn", "lần hai"]
    assert errors == []
    fake_telegram.assert_no_rejections()
    # Polling confirmed every update, including on shutdown.
    assert fake_telegram.pending_updates == []
    assert fake_telegram.calls("getUpdates")


async def test_button_press_is_answered_and_message_edited(
    fake_telegram: FakeTelegramServer,
) -> None:
    alice = fake_telegram.person(first_name="Alice")
    async with polling_bot(fake_telegram) as (_app, errors):
        await alice.send_text("/start")
        [question] = await alice.wait_for_messages(1)
        assert question.text == "Bạn có sản phẩm OCOP?"  # visible text, tags parsed
        assert question.entities == [{"type": "bold", "offset": 0, "length": 21}]
        assert question.buttons == [["Có", "Không"]]

        await alice.press("Có")
        answer = await alice.wait_for_callback_answer()
        assert answer.text == "got yes" and answer.data == "yes"
        [pressed] = await alice.wait_for_messages(1)
        assert pressed.text == "pressed yes"
    assert errors == []
    fake_telegram.assert_no_rejections()


async def test_other_update_kinds_reach_the_bot(fake_telegram: FakeTelegramServer) -> None:
    seen: list[Update] = []

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)

    from telegram.ext import TypeHandler

    alice = fake_telegram.person(first_name="Alice")
    async with polling_bot(fake_telegram, [TypeHandler(Update, record)]) as (_app, errors):
        await alice.share_contact("+84901234567")
        await alice.send_sticker()
        await alice.send_voice()
        await alice.send_location()
        await alice.send_document(b"%PDF-1.4 fake", "giay-phep.pdf", "application/pdf")
        await alice.send_text("ban đầu")
        await alice.edit_last_text("đã sửa")
        await alice.send_text("/dangky", in_group=True)
        await alice.send_text("chuyện phiếm trong nhóm", in_group=True)  # privacy mode: hidden
        await fake_telegram.wait_until(lambda: len(seen) >= 8, 5.0)
        await fake_telegram.drain_updates()
    assert errors == []
    messages = [u.effective_message for u in seen]
    assert messages[0] is not None and messages[0].contact is not None
    assert messages[0].contact.user_id == alice.user_id
    assert messages[1] is not None and messages[1].sticker is not None
    assert messages[2] is not None and messages[2].voice is not None
    assert messages[3] is not None and messages[3].location is not None
    assert messages[4] is not None and messages[4].document is not None
    assert messages[4].document.file_name == "giay-phep.pdf"
    assert seen[6].edited_message is not None and seen[6].edited_message.text == "đã sửa"
    group_update = seen[7]
    assert (
        group_update.effective_chat is not None and group_update.effective_chat.type == "supergroup"
    )
    assert len(seen) == 8
    assert len(fake_telegram.filtered_by_privacy) == 1


# --------------------------------------------------------------------------------------------
# Limits, as PTB sees them
# --------------------------------------------------------------------------------------------


async def test_text_length_is_counted_after_entity_parsing(
    fake_telegram: FakeTelegramServer,
) -> None:
    fake_telegram.rate_limits = RateLimits.disabled()
    alice = fake_telegram.person()
    async with bot_only(fake_telegram) as app:
        await app.bot.send_message(alice.id, "x" * 4096)
        # 4,096 visible characters inside tags are fine: tags do not count.
        await app.bot.send_message(alice.id, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)^message is too long$"):
            await app.bot.send_message(alice.id, "x" * 4097)
        with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
            await app.bot.send_message(alice.id, "<b> </b>", parse_mode="HTML")
    assert [r.description for r in fake_telegram.rejections] == [
        "Bad Request: message is too long",
        "Bad Request: message text is empty",
    ]
    assert len(alice.inbox) == 2


async def test_malformed_html_cannot_be_parsed(fake_telegram: FakeTelegramServer) -> None:
    fake_telegram.rate_limits = RateLimits.disabled()
    alice = fake_telegram.person()
    async with bot_only(fake_telegram) as app:
        cases = {
            "<b>đậm</i>": 'Unmatched end tag at byte offset 9, expected "</b>", found "</i>"',
            "giá < 100k": 'Unsupported start tag "" at byte offset 5',
            "<div>x</div>": 'Unsupported start tag "div" at byte offset 0',
            "<b>chưa đóng": 'Can\'t find end tag corresponding to start tag "b"',
            "Bánh & kẹo": 'Unescaped "&"',
        }
        for text, reason in cases.items():
            with pytest.raises(BadRequest, match=r"(?i)^can't parse entities: ") as info:
                await app.bot.send_message(alice.id, text, parse_mode="HTML")
            assert reason.lower() in info.value.message.lower()
        ok = await app.bot.send_message(
            alice.id,
            'Bánh &amp; kẹo &lt;3 <a href="https://ocop.gov.vn/?a=1&amp;b=2">OCOP</a>',
            parse_mode="HTML",
        )
        assert ok.text == "Bánh & kẹo <3 OCOP"
        assert ok.entities[0].url == "https://ocop.gov.vn/?a=1&b=2"
    described = [r.description for r in fake_telegram.rejections]
    assert all(d.startswith("Bad Request: can't parse entities: ") for d in described)
    assert len(described) == len(cases)


async def test_callback_data_is_limited_to_64_bytes(fake_telegram: FakeTelegramServer) -> None:
    fake_telegram.rate_limits = RateLimits.disabled()
    alice = fake_telegram.person()

    def keyboard(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton("Chọn", callback_data=data)]])

    async with bot_only(fake_telegram) as app:
        await app.bot.send_message(alice.id, "64 bytes", reply_markup=keyboard("a" * 64))
        await app.bot.send_message(alice.id, "64 bytes", reply_markup=keyboard("đ" * 32))
        with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
            await app.bot.send_message(alice.id, "65 bytes", reply_markup=keyboard("a" * 65))
        # 33 characters but 66 bytes: the limit is on UTF-8 bytes.
        with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
            await app.bot.send_message(alice.id, "66 bytes", reply_markup=keyboard("đ" * 33))
    assert {r.description for r in fake_telegram.rejections} == {"Bad Request: BUTTON_DATA_INVALID"}


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_flood_control_gives_retry_after(fake_telegram: FakeTelegramServer) -> None:
    now = [1000.0]
    fake_telegram.clock = lambda: now[0]  # frozen time: the bucket never refills by itself
    alice = fake_telegram.person(first_name="Alice")
    bob = fake_telegram.person(first_name="Bob")
    async with bot_only(fake_telegram) as app:
        for n in range(3):  # the burst
            await app.bot.send_message(alice.id, f"tin {n}")
        with pytest.raises(RetryAfter) as info:
            await app.bot.send_message(alice.id, "một tin quá nhiều")
        assert _retry_after(info.value) == 1
        await app.bot.send_message(bob.id, "other chats are not affected")
        now[0] += 1.0
        await app.bot.send_message(alice.id, "after waiting")

        # The overall limit, scaled down so five chats are enough to reach it.
        fake_telegram.rate_limits = RateLimits(overall=(Window(5, 1.0),))
        people = [fake_telegram.person(first_name=f"P{i}") for i in range(6)]
        for person in people[:5]:
            await app.bot.send_message(person.id, "broadcast")
        with pytest.raises(RetryAfter):
            await app.bot.send_message(people[5].id, "broadcast")

        # An injected 429 with Telegram's shape reaches PTB with its retry_after.
        fake_telegram.rate_limits = RateLimits.disabled()
        fault = fake_telegram.inject("sendMessage", 429, retry_after=7)
        with pytest.raises(RetryAfter) as info:
            await app.bot.send_message(bob.id, "x")
        assert _retry_after(info.value) == 7
        assert fault.exhausted
        await app.bot.send_message(bob.id, "works again")
    kinds = [r.kind for r in fake_telegram.rejections]
    assert kinds == ["rate_limit", "rate_limit", "injected"]
    assert fake_telegram.rejections[0].description == "Too Many Requests: retry after 1"
    assert [r.kind for r in fake_telegram.unexpected_rejections()] == ["rate_limit", "rate_limit"]


async def test_blocked_user_and_unknown_chat(fake_telegram: FakeTelegramServer) -> None:
    alice = fake_telegram.person(first_name="Alice")
    async with bot_only(fake_telegram) as app:
        await app.bot.send_message(alice.id, "chào")
        alice.block_bot()
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await app.bot.send_message(alice.id, "còn đó không?")
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await app.bot.send_message(424242, "ai đây?")
    assert [m.text for m in alice.inbox] == ["chào"]
    assert fake_telegram.rejections[0].error_code == 403
    # Telegram tells the bot about the block with a my_chat_member update.
    [update] = fake_telegram.pending_updates
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"


async def test_bot_commands_are_validated(fake_telegram: FakeTelegramServer) -> None:
    async with bot_only(fake_telegram) as app:
        commands = [BotCommand("start", "Bắt đầu"), BotCommand("ho_so", "Hồ sơ của tôi")]
        assert await app.bot.set_my_commands(commands, language_code="vi")
        assert fake_telegram.get_commands(language_code="vi") == [
            {"command": "start", "description": "Bắt đầu"},
            {"command": "ho_so", "description": "Hồ sơ của tôi"},
        ]
        assert fake_telegram.get_commands() == []
        with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
            await app.bot.set_my_commands([BotCommand("HoSo", "hoa")])
        with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
            await app.bot.set_my_commands([BotCommand("x" * 33, "quá dài")])
        with pytest.raises(BadRequest, match=r"(?i)description"):
            await app.bot.set_my_commands([BotCommand("ok", "d" * 257)])


async def test_unknown_method_wrong_token_and_outage(fake_telegram: FakeTelegramServer) -> None:
    async with bot_only(fake_telegram) as app:
        with pytest.raises(EndPointNotFound):
            await app.bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": 1})
        with fake_telegram.outage(502):
            with pytest.raises(NetworkError, match="Bad Gateway"):
                await app.bot.get_me()
        assert (await app.bot.get_me()).username == "ocop_test_bot"
    wrong = (
        Application.builder()
        .token("987654321:AAwrong-token-wrong-token-wrong-token")
        .base_url(fake_telegram.base_url)
        .updater(None)
        .build()
    )
    with pytest.raises(InvalidToken):
        await wrong.initialize()
    assert [r.kind for r in fake_telegram.rejections] == ["not_found", "outage", "auth"]
    assert fake_telegram.rejections[-1].error_code == 401


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


async def test_photo_round_trip_through_get_file(fake_telegram: FakeTelegramServer) -> None:
    alice = fake_telegram.person(first_name="Alice")
    jpeg = sample_jpeg(1600, 1200, seed=7)
    async with polling_bot(fake_telegram) as (app, errors):
        update_message = await alice.send_photo(jpeg, caption="ảnh sản phẩm")
        sizes = update_message["photo"]
        assert [max(s["width"], s["height"]) for s in sizes] == [90, 320, 800, 1280, 1600]
        [reply] = await alice.wait_for_messages(1)
        assert reply.text == hashlib.sha256(jpeg).hexdigest()
        assert app.bot_data["photos"] == [jpeg]

        # An album: several photos sharing one media_group_id, sent back to back.
        album = [sample_jpeg(64, 48, seed=s) for s in (1, 2, 3)]
        await alice.send_album(album)
        await fake_telegram.wait_until(lambda: len(app.bot_data["photos"]) == 4, 5.0)
        assert app.bot_data["photos"][1:] == album
        assert len(set(app.bot_data["album_ids"][1:])) == 1

        # The bot uploads a photo and a document; the person receives the same bytes.
        await app.bot.send_photo(alice.id, jpeg, caption="<i>ảnh</i>", parse_mode="HTML")
        await app.bot.send_document(
            alice.id, b"%PDF-1.4 phieu", filename="phieu.pdf", caption="phiếu"
        )
        photo_msg, doc_msg = alice.inbox[-2:]
        assert photo_msg.kind == "photo" and photo_msg.data == jpeg
        assert photo_msg.caption == "ảnh"
        assert doc_msg.kind == "document" and doc_msg.data == b"%PDF-1.4 phieu"
        assert doc_msg.file_name == "phieu.pdf"
    assert errors == []
    fake_telegram.assert_no_rejections()


async def test_file_size_limits(fake_telegram: FakeTelegramServer) -> None:
    alice = fake_telegram.person()
    big = await alice.send_document(b"\0" * (20 * 1024 * 1024 + 1), "lon.pdf", "application/pdf")
    async with bot_only(fake_telegram) as app:
        with pytest.raises(BadRequest, match=r"(?i)file is too big"):
            await app.bot.get_file(big["document"]["file_id"])
        with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
            await app.bot.send_photo(alice.id, "no-such-file-id")
        with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
            await app.bot.send_photo(alice.id, b"not an image", filename="x.jpg")
        with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
            await app.bot.send_photo(alice.id, sample_jpeg(), caption="c" * 1025)
        # Upload limits: photos 10 MB (400), other files 50 MB (413 from the HTTP layer).
        too_big_photo = sample_jpeg() + b"\0" * (10 * 1024 * 1024)
        with pytest.raises(BadRequest, match=r"(?i)photo_save_file_invalid"):
            await app.bot.send_photo(alice.id, too_big_photo, filename="big.jpg")
        with pytest.raises(NetworkError, match="Request Entity Too Large"):
            await app.bot.send_document(
                alice.id, b"\0" * (50 * 1024 * 1024 + 1), filename="big.bin", write_timeout=30
            )
    assert [r.error_code for r in fake_telegram.rejections] == [400, 400, 400, 400, 400, 413]
    assert {r.method for r in fake_telegram.rejections} == {"getFile", "sendPhoto", "sendDocument"}
    assert alice.inbox == []


async def test_chat_action_reply_keyboard_and_what_the_fake_does_not_model(
    fake_telegram: FakeTelegramServer,
) -> None:
    fake_telegram.rate_limits = RateLimits.disabled()
    alice = fake_telegram.person(first_name="Alice")
    async with bot_only(fake_telegram) as app:
        assert await app.bot.send_chat_action(alice.id, "upload_photo")
        share = ReplyKeyboardMarkup([[KeyboardButton("Gửi số điện thoại", request_contact=True)]])
        await app.bot.send_message(alice.id, "Cho tôi số điện thoại", reply_markup=share)
        contact = await alice.tap_keyboard("Gửi số điện thoại")
        assert contact["contact"]["user_id"] == alice.user_id
        # The bot sends HTML only, and never edits, deletes or sends albums: the fake says so
        # loudly instead of pretending.
        with pytest.raises(BadRequest, match="not modelled"):
            await app.bot.send_message(alice.id, "*Đậm*", parse_mode="MarkdownV2")
        with pytest.raises((EndPointNotFound, InvalidToken), match="Not Found"):
            await app.bot.edit_message_text("x", alice.id, 1)  # PTB reads this 404 as a token
    assert alice.chat.actions == ["upload_photo"]
    assert [r.method for r in fake_telegram.rejections] == ["sendMessage", "editMessageText"]


# --------------------------------------------------------------------------------------------
# Flood control as Telegram documents it, and idle
# --------------------------------------------------------------------------------------------


async def test_flood_model_windows_groups_and_retry_after(
    fake_telegram: FakeTelegramServer,
) -> None:
    now = [5000.0]
    fake_telegram.clock = lambda: now[0]
    alice = fake_telegram.person(first_name="Alice")
    group = fake_telegram.group(members=[alice])
    async with bot_only(fake_telegram) as app:
        # About one message a second in a private chat: 33 in half a minute, bursts of 3.
        for second in range(30):
            now[0] = 5000.0 + second
            await app.bot.send_message(alice.id, f"tin {second}")
        now[0] = 5029.5
        await app.bot.send_message(alice.id, "a short burst")
        await app.bot.send_message(alice.id, "still the burst")
        with pytest.raises(RetryAfter) as info:
            await app.bot.send_message(alice.id, "over 1/s for half a minute")
        assert _retry_after(info.value) == 1  # the oldest of the 33 leaves the window at 5030
        # 20 messages a minute in a group; the 21st waits for the first to be a minute old.
        for n in range(20):
            now[0] = 6000.0 + n
            await app.bot.send_message(group.id, f"nhóm {n}")
        now[0] = 6030.0
        with pytest.raises(RetryAfter) as info:
            await app.bot.send_message(group.id, "nhóm 21")
        assert _retry_after(info.value) == 30
        now[0] = 6060.0
        await app.bot.send_message(group.id, "nhóm 21, a minute later")
    assert [r.kind for r in fake_telegram.rejections] == ["rate_limit", "rate_limit"]


def test_scaled_limits_keep_their_windows() -> None:
    fast = RateLimits().scaled(10)
    assert fast.overall == (Window(450, 1.0), Window(3000, 10.0))
    assert fast.private[0] == Window(30, 1.0) and fast.group == (Window(200, 60.0),)


async def test_idle_means_nothing_pending_and_nothing_in_flight(
    fake_telegram: FakeTelegramServer,
) -> None:
    alice = fake_telegram.person(first_name="Alice")
    assert fake_telegram.idle()
    await alice.send_text("chào")
    assert not fake_telegram.idle()  # an update waits for the bot
    with pytest.raises(TimeoutError, match="1 pending"):
        await fake_telegram.wait_idle(timeout=0.1)
    async with polling_bot(fake_telegram) as (_app, errors):
        await alice.wait_for_messages(1)
        await fake_telegram.wait_idle()  # the long poll that waits for news is not "in flight"
        assert fake_telegram.pending_updates == [] and fake_telegram.in_flight == 0
        await alice.send_text("lần hai")
        await fake_telegram.wait_idle()
        assert alice.last_text() == "lần hai"  # idle came after the reply, not before
    assert errors == []


# --------------------------------------------------------------------------------------------
# Webhook mode
# --------------------------------------------------------------------------------------------


@asynccontextmanager
async def webhook_bot(
    server: FakeTelegramServer, secret: str
) -> AsyncIterator[tuple[Application[Any, Any, Any, Any, Any, Any], str, list[int]]]:
    """A PTB application fed by our own aiohttp webhook route (as bot/ does in production)."""
    app = server.application_builder().updater(None).build()
    for handler in echo_handlers():
        app.add_handler(handler)
    statuses: list[int] = []

    async def webhook(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            statuses.append(403)
            return web.Response(status=403)
        update = Update.de_json(await request.json(), app.bot)
        await app.update_queue.put(update)
        statuses.append(200)
        return web.Response()

    web_app = web.Application()
    web_app.router.add_post("/telegram/webhook", webhook)
    async with serving(web_app) as base:
        await app.initialize()
        await app.start()
        try:
            yield app, f"{base}/telegram/webhook", statuses
        finally:
            await app.stop()
            await app.shutdown()


async def test_webhook_delivery_with_secret_header(fake_telegram: FakeTelegramServer) -> None:
    alice = fake_telegram.person(first_name="Alice")
    async with webhook_bot(fake_telegram, WEBHOOK_SECRET) as (app, url, statuses):
        assert await app.bot.set_webhook(url, secret_token=WEBHOOK_SECRET)
        info = await app.bot.get_webhook_info()
        assert info.url == url
        with pytest.raises(Exception, match="webhook is active"):
            await app.bot.get_updates()

        await alice.send_text("qua webhook")
        [reply] = await alice.wait_for_messages(1)
        assert reply.text == "qua webhook"
        assert statuses == [200]
        [delivery] = fake_telegram.webhook_deliveries
        assert delivery.status == 200 and delivery.secret_sent

        # A wrong secret is refused by our route; the fake records the 403 and retries.
        fake_telegram.webhook_secret = "not-the-secret"
        await alice.send_text("giả mạo")
        await fake_telegram.wait_until(lambda: 403 in statuses, 5.0)
        info = await app.bot.get_webhook_info()
        assert info.pending_update_count == 1
        assert "403" in (info.last_error_message or "")
        fake_telegram.webhook_secret = WEBHOOK_SECRET
        [late] = await alice.wait_for_messages(1)
        assert late.text == "giả mạo"
        assert [d.status for d in fake_telegram.webhook_deliveries][-1] == 200

        assert await app.bot.delete_webhook()
        assert (await app.bot.get_webhook_info()).url == ""
    rejected = [r.kind for r in fake_telegram.rejections]
    assert rejected == ["conflict"]  # only the getUpdates we made on purpose


async def test_webhook_posts_chats_side_by_side_and_each_chat_in_order(
    fake_telegram: FakeTelegramServer,
) -> None:
    """Telegram's delivery: updates of different chats are posted at the same time, the next
    update of a chat only once the previous one was answered."""
    alice, bob = fake_telegram.person(first_name="Alice"), fake_telegram.person(first_name="Bob")
    release = asyncio.Event()
    seen: list[tuple[int, str]] = []

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        message = body["message"]
        seen.append((message["chat"]["id"], message["text"]))
        if message["text"] == "a1":
            await release.wait()  # Alice's first update is slow to answer
        return web.Response()

    web_app = web.Application()
    web_app.router.add_post("/hook", webhook)
    try:
        async with (
            serving(web_app) as base,
            fake_telegram.application_builder().updater(None).build() as app,
        ):
            assert await app.bot.set_webhook(f"{base}/hook")
            await alice.send_text("a1")
            await alice.send_text("a2")
            await bob.send_text("b1")
            await fake_telegram.wait_until(lambda: (bob.id, "b1") in seen, 5)
            assert (alice.id, "a2") not in seen  # waits for a1's answer, Bob did not
            release.set()
            await fake_telegram.wait_until(lambda: len(seen) == 3, 5)
            await fake_telegram.wait_idle(5)
            assert [t for c, t in seen if c == alice.id] == ["a1", "a2"]
            assert await app.bot.delete_webhook()
    finally:
        release.set()


# --------------------------------------------------------------------------------------------
# Separate process
# --------------------------------------------------------------------------------------------


async def test_person_helpers_refuse_what_a_person_cannot_do(
    fake_telegram: FakeTelegramServer,
) -> None:
    alice = fake_telegram.person()
    with pytest.raises(LookupError):
        await alice.press("nothing to press")
    query_id = await alice.press_data("forged:data", message_id=999)
    [update] = fake_telegram.pending_updates
    assert update["callback_query"]["id"] == query_id
    assert update["callback_query"]["message"]["date"] == 0  # inaccessible message
    with pytest.raises(TimeoutError):
        await alice.wait_for_messages(1, timeout=0.05)
