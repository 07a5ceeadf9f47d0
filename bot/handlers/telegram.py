"""Telegram through python-telegram-bot: updates → ``Incoming``, ``Reply`` → Bot API calls.

Polling when no public URL is set; otherwise a webhook on our own aiohttp server whose secret
header is compared in constant time. Conversation state lives in our database, so PTB's
ConversationHandler and persistence are not used.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.delivery import DeliveryResult, Outcome
from bot.flows.commands import MENU_COMMANDS
from bot.flows.router import Conversations
from bot.flows.types import Capabilities, FileIn, Incoming, Kind, Reply
from bot.handlers.rendering import screen, split_text
from bot.pacing import ChatPacer
from bot.settings import Settings
from ocop_core.i18n import N_, normalise_locale, translate

log = logging.getLogger("ocop.telegram")

CAPS = Capabilities(
    buttons=True, max_text=4096, receive_pdf=True, send_files=True, contact_button=True
)
MAX_DOWNLOAD = 20 * 1024 * 1024  # Bot API getFile limit
CAPTION_LIMIT = 1024
ALBUM_WAIT = 1.2  # seconds to wait for the rest of an album after its last part
WEBHOOK_PATH = "/telegram/webhook"
FLOOD_WINDOW = 10.0  # seconds
FLOOD_MAX = 12  # messages per window and chat (an album of 10 photos must still pass)


class TelegramChannel:
    name = "telegram"  # the Outbox.channel value this channel delivers

    def __init__(
        self,
        settings: Settings,
        conversations: Conversations,
        *,
        on_blocked: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        assert settings.telegram_token is not None
        self.settings = settings
        self.conversations = conversations
        self.on_blocked = on_blocked
        self.webhook = bool(settings.public_url)
        self.secret = (
            settings.telegram_webhook_secret.get_secret_value()
            if settings.telegram_webhook_secret
            else None
        )
        builder = (
            Application.builder()
            .token(settings.telegram_token.get_secret_value())
            .base_url(settings.telegram_api_url)
            .base_file_url(settings.telegram_file_url)
            .concurrent_updates(True)  # other people never wait behind one slow person
        )
        if self.webhook:
            builder = builder.updater(None)
        self.app = builder.build()
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self.pacer = ChatPacer(global_rate=settings.telegram_global_rate)
        self._chat_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._albums: dict[str, list[Message]] = {}
        self._album_tasks: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._recent: dict[int, list[float]] = defaultdict(list)
        self._flood_warned: dict[int, float] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, web_app: web.Application | None = None) -> None:
        await self.app.initialize()
        await self._set_commands()
        await self.app.start()
        if self.webhook:
            url = f"{self.settings.public_url}{WEBHOOK_PATH}"
            await self.app.bot.set_webhook(
                url=url, secret_token=self.secret, allowed_updates=Update.ALL_TYPES
            )
            log.info("telegram webhook set")
        else:
            assert self.app.updater is not None
            await self.app.bot.delete_webhook()
            await self.app.updater.start_polling(allowed_updates=Update.ALL_TYPES, timeout=20)
            log.info("telegram polling started")

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        for task in list(self._album_tasks.values()):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.app.running:
            await self.app.stop()  # processes what is already queued: nothing is dropped
        await self.app.shutdown()

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_post(WEBHOOK_PATH, self._webhook)

    async def _set_commands(self) -> None:
        for locale in ("vi", "en"):
            commands = [BotCommand(name, translate(key, locale)) for name, key in MENU_COMMANDS]
            await self.app.bot.set_my_commands(commands, language_code=locale)
        await self.app.bot.set_my_commands(
            [BotCommand(name, translate(key, "vi")) for name, key in MENU_COMMANDS]
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not self.secret or not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("telegram webhook call with a wrong secret refused")
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.app.bot)
        except Exception:
            return web.Response(status=400)
        # Answer at once; Telegram retries slow webhooks and would deliver twice.
        await self.app.update_queue.put(update)
        return web.Response(status=200)

    # -- incoming -----------------------------------------------------------------------------

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self._route(update)
        except Exception:
            log.exception("failed to handle telegram update %s", update.update_id)
            chat = update.effective_chat
            user = update.effective_user
            if chat is not None:
                locale = normalise_locale(user.language_code if user else None)
                await self._send_text(chat.id, translate(N_("tg.sorry"), locale))

    async def _route(self, update: Update) -> None:
        if update.callback_query is not None:
            await self._on_callback(update)
            return
        message = update.message or update.edited_message
        if message is None or update.effective_user is None:
            return  # channel posts, member updates…: nothing to say
        if message.chat.type != ChatType.PRIVATE:
            if message.text and message.text.startswith("/"):
                locale = normalise_locale(update.effective_user.language_code)
                await self._send_text(message.chat.id, translate(N_("tg.private_only"), locale))
            return
        if update.edited_message is not None:
            locale = normalise_locale(update.effective_user.language_code)
            await self._send_text(message.chat.id, translate(N_("tg.edit_ignored"), locale))
            return
        if self._flooding(message.chat.id):
            if self._flood_warned.get(message.chat.id, 0) < time.monotonic() - FLOOD_WINDOW:
                self._flood_warned[message.chat.id] = time.monotonic()
                locale = normalise_locale(update.effective_user.language_code)
                await self._send_text(message.chat.id, translate(N_("tg.slow_down"), locale))
            return
        if message.media_group_id:
            self._collect_album(message)
            return
        await self._handle_message(message)

    def _flooding(self, chat_id: int) -> bool:
        """More than FLOOD_MAX messages in FLOOD_WINDOW seconds from one chat: the rest are
        ignored (with one polite notice) so one person cannot queue minutes of replies."""
        now = time.monotonic()
        recent = [t for t in self._recent[chat_id] if now - t < FLOOD_WINDOW]
        recent.append(now)
        self._recent[chat_id] = recent
        return len(recent) > FLOOD_MAX

    async def _on_callback(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None
        # Always answer, stale or not, so the button stops spinning on the person's phone.
        try:
            await query.answer()
        except BadRequest:
            pass  # too old to answer: still handle the press
        token, _, index = (query.data or "").partition(":")
        chat_id = query.message.chat.id if query.message else query.from_user.id
        incoming = Incoming(
            channel="telegram",
            user_id=str(query.from_user.id),
            chat_id=str(chat_id),
            kind=Kind.CHOICE,
            choice=f"#{index}" if index.isdigit() else "#stale",
            token=token,
            display_name=query.from_user.full_name,
            locale_hint=query.from_user.language_code,
        )
        await self._dispatch(chat_id, incoming)

    async def _handle_message(self, message: Message, album: list[Message] | None = None) -> None:
        incoming = await self._incoming(message, album)
        await self._dispatch(message.chat.id, incoming)

    async def _incoming(self, message: Message, album: list[Message] | None) -> Incoming:
        user = message.from_user
        assert user is not None
        base: dict[str, Any] = {
            "channel": "telegram",
            "user_id": str(user.id),
            "chat_id": str(message.chat.id),
            "display_name": user.full_name,
            "locale_hint": user.language_code,
        }
        if album:
            files, error = await self._download_all(album)
            return Incoming(kind=Kind.FILES, files=tuple(files), file_error=error, **base)
        if message.text is not None:
            text = message.text
            if text.startswith("/"):
                head, _, args = text[1:].partition(" ")
                command = head.split("@")[0].lower()
                return Incoming(kind=Kind.COMMAND, command=command, args=args.strip(), **base)
            return Incoming(kind=Kind.TEXT, text=text, **base)
        if message.contact is not None:
            own = message.contact.user_id == user.id  # someone else's card is not one's number
            phone = message.contact.phone_number if own else None
            return Incoming(kind=Kind.CONTACT, phone=phone, **base)
        if message.photo or message.document:
            files, error = await self._download_all([message])
            if error and not files:
                return Incoming(kind=Kind.TEXT, text="", file_error=error, **base)
            return Incoming(kind=Kind.FILES, files=tuple(files), text=message.caption or "", **base)
        return Incoming(
            kind=Kind.UNSUPPORTED, media="sticker" if message.sticker else "other", **base
        )

    async def _download_all(self, messages: list[Message]) -> tuple[list[FileIn], str | None]:
        files: list[FileIn] = []
        error: str | None = None
        for message in messages:
            if message.photo:
                media: Any = message.photo[-1]  # the largest size
                name, mime = f"photo-{message.message_id}.jpg", "image/jpeg"
            elif message.document:
                media = message.document
                name, mime = media.file_name, media.mime_type
            else:
                continue
            if (media.file_size or 0) > MAX_DOWNLOAD:
                error = N_("tg.file_too_big")
                continue
            try:
                tg_file = await media.get_file()
                data = bytes(await tg_file.download_as_bytearray())
            except BadRequest as exc:
                log.info("telegram file not downloadable: %s", exc.message)
                error = N_("tg.file_too_big") if "too big" in exc.message else N_("tg.file_failed")
                continue
            files.append(FileIn(data=data, filename=name, mime=mime))
        return files, error

    def _collect_album(self, message: Message) -> None:
        """Photos of one album arrive as separate updates: answer once, after the last."""
        key = f"{message.chat.id}:{message.media_group_id}"
        self._albums.setdefault(key, []).append(message)
        task = self._album_tasks.get(key)
        if task is not None:
            task.cancel()
        self._album_tasks[key] = asyncio.create_task(self._flush_album(key))

    async def _flush_album(self, key: str) -> None:
        try:
            await asyncio.sleep(ALBUM_WAIT)
        except asyncio.CancelledError:
            return
        messages = sorted(self._albums.pop(key, []), key=lambda m: m.message_id)
        self._album_tasks.pop(key, None)
        if messages:
            task = asyncio.create_task(self._handle_message(messages[0], messages))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _dispatch(self, chat_id: int, incoming: Incoming) -> None:
        # One person's messages run in order; different people run side by side.
        async with self._chat_locks[chat_id]:
            try:
                result = await self.conversations.handle(incoming, CAPS)
            except Exception:
                log.exception("conversation failed for a telegram chat")
                locale = normalise_locale(incoming.locale_hint)
                await self._send_text(chat_id, translate(N_("tg.sorry"), locale))
                return
            for reply in result.replies:
                await self.send_reply(chat_id, reply, result.locale)

    # -- outgoing -----------------------------------------------------------------------------

    async def send_reply(self, chat_id: int, reply: Reply, locale: str | None = None) -> None:
        locale = normalise_locale(locale or _locale_of(reply))
        markup: Any = None
        # The share-phone keyboard goes once the number came (tapped or typed).
        remove = not reply.request_contact and self._contact_pending.pop(chat_id, False)
        if reply.request_contact:
            label = translate(N_("onboarding.phone.share"), locale)
            markup = ReplyKeyboardMarkup(
                [[KeyboardButton(label, request_contact=True)]],
                one_time_keyboard=True,
                resize_keyboard=True,
            )
        elif reply.choices:
            markup = _keyboard(reply)
        elif remove:
            markup = ReplyKeyboardRemove()
        if reply.request_contact:
            self._contact_pending[chat_id] = True
        pieces = split_text(screen(reply, locale, buttons=True), CAPS.max_text)
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            if last and remove and reply.choices:
                await self._send_with_buttons_after_removal(chat_id, piece, markup)
            else:
                await self._send_text(chat_id, piece, markup if last else None)
        for f in reply.files:
            caption = f.caption if len(f.caption) <= CAPTION_LIMIT else f.caption[:1020] + "…"
            await self._call(
                chat_id,
                lambda f=f, caption=caption: self.app.bot.send_document(
                    chat_id,
                    document=f.path.read_bytes(),
                    filename=f.filename,
                    caption=html.escape(caption),
                    parse_mode=ParseMode.HTML,
                ),
            )

    _contact_pending: dict[int, bool] = {}  # noqa: RUF012 (per process, reset on restart)

    async def _send_with_buttons_after_removal(self, chat_id: int, text: str, markup: Any) -> None:
        """A message cannot both remove the reply keyboard and carry inline buttons: what was
        said goes first, removing the keyboard; the question after it carries the buttons."""
        said, _, question = text.rpartition("\n\n")
        if not said:
            said, question = text, "👇"
        await self._send_text(chat_id, said, ReplyKeyboardRemove())
        await self._send_text(chat_id, question, markup)

    async def _send_text(self, chat_id: int, text: str, markup: Any = None) -> Any:
        return await self._call(
            chat_id,
            lambda: self.app.bot.send_message(
                chat_id,
                html.escape(text, quote=False),
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            ),
        )

    async def _call(self, chat_id: int, send: Callable[[], Awaitable[Any]]) -> Any:
        """Send with pacing; retry network errors and 5xx; honour 429 for this chat only."""
        for attempt in range(5):
            await self.pacer.wait(chat_id)
            try:
                return await send()
            except RetryAfter as exc:
                delay = exc.retry_after
                seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else delay
                self.pacer.backoff(chat_id, float(seconds))
            except Forbidden:
                log.info("a telegram user blocked the bot; marking the account stopped")
                if self.on_blocked is not None:
                    await self.on_blocked(str(chat_id))
                return None
            except (TimedOut, NetworkError):
                await asyncio.sleep(min(2**attempt * 0.5, 8))
        log.warning("giving up sending to a telegram chat after retries")
        return None

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> DeliveryResult:
        """Outbox delivery (bot/delivery.py): one attempt, outcome reported, never retried here.

        The outbox took this chat's pacing slot for the first piece; a long text's further
        pieces wait for the same pacer as replies do.
        """
        text = str(payload.get("text") or "").strip()
        try:
            chat = int(chat_id)
        except ValueError:
            return DeliveryResult(Outcome.GONE, error=f"not a telegram chat id: {chat_id[:20]!r}")
        if not text:
            return DeliveryResult(Outcome.REJECTED, error="empty message")
        for n, piece in enumerate(split_text(text, CAPS.max_text)):
            if n:
                await self.pacer.wait(chat)
            try:
                await self.app.bot.send_message(
                    chat, html.escape(piece, quote=False), parse_mode=ParseMode.HTML
                )
            except RetryAfter as exc:
                delay = exc.retry_after
                seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else delay
                return DeliveryResult(Outcome.RETRY_AFTER, retry_after=float(seconds))
            except Forbidden as exc:
                return DeliveryResult(Outcome.BLOCKED, error=exc.message)
            except BadRequest as exc:
                gone = "chat not found" in exc.message.lower()
                return DeliveryResult(Outcome.GONE if gone else Outcome.REJECTED, error=exc.message)
            except TelegramError as exc:  # network, timeout, 5xx, bad token: try again later
                return DeliveryResult(Outcome.TRANSIENT, error=f"{type(exc).__name__}: {exc}")
        return DeliveryResult(Outcome.SENT)


def _locale_of(reply: Reply) -> str:
    return "en" if reply.text.isascii() else "vi"


def _keyboard(reply: Reply) -> InlineKeyboardMarkup:
    """Buttons carry "<token>:<n>": short, opaque, and meaningless outside this prompt."""
    buttons = [
        InlineKeyboardButton(choice.label[:64], callback_data=f"{reply.token}:{n}")
        for n, choice in enumerate(reply.choices)
    ]
    columns = max(1, reply.columns)
    rows = [buttons[i : i + columns] for i in range(0, len(buttons), columns)]
    return InlineKeyboardMarkup(rows)
