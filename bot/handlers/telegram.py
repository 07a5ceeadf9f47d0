"""Telegram through python-telegram-bot: updates → ``Incoming``, ``Reply`` → Bot API calls.

Polling when no public URL is set; otherwise a webhook on our own aiohttp server whose secret
header is compared in constant time. Either way an update is stored in the inbox (bot/inbox.py)
before Telegram is told we have it, and processed from there: our own getUpdates loop confirms
an offset only after the updates below it are committed. Conversation state lives in our
database, so PTB's ConversationHandler, persistence and update queue are not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import BotCommand, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, RetryAfter

from bot.flows.commands import MENU_COMMANDS
from bot.flows.router import Conversations, Result
from bot.flows.types import Capabilities, FileIn, Incoming, Kind, Reply
from bot.handlers import reply_codec
from bot.handlers.telegram_send import MAX_TEXT, TelegramSender, retry_seconds
from bot.inbox import Inbox, Item, NewItem
from bot.settings import Settings
from bot.web_server import read_limited
from ocop_core.i18n import N_, normalise_locale, translate

log = logging.getLogger("ocop.telegram")

CAPS = Capabilities(
    buttons=True, max_text=MAX_TEXT, receive_pdf=True, send_files=True, contact_button=True
)
MAX_DOWNLOAD = 20 * 1024 * 1024  # Bot API getFile limit
WEBHOOK_PATH = "/telegram/webhook"
MAX_WEBHOOK_BODY = 1024 * 1024  # an update is a few kB; anything near this is not Telegram
POLL_TIMEOUT = 20
FLOOD_MAX = 12  # waiting messages per chat (an album of 10 photos must still pass)
PARSED_KEPT = 2000  # parsed updates kept for handling here (a few seconds of heavy load)

# The inbox rows being processed in this task (their done-marking joins the step's transaction).
_BATCH: ContextVar[list[Item] | None] = ContextVar("telegram_batch", default=None)


class TelegramChannel:
    name = "telegram"  # the channel of its inbox rows and of the accounts it serves

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
        self.webhook = bool(settings.public_url)
        self.secret = settings.telegram_secret()
        self.sender = TelegramSender(settings, on_blocked=on_blocked)
        self.app = self.sender.app  # its Bot also polls, answers buttons and downloads files
        self.inbox = Inbox(
            conversations.sessions,
            self.name,
            album_wait=settings.album_wait_seconds,
            concurrency=settings.inbox_concurrency,
            journal_dir=settings.data_dir / "inbox",
            flood_limit=FLOOD_MAX,  # more waiting than this are kept but not answered one by one
        )
        self._poller: asyncio.Task[None] | None = None
        # Updates this process stored, already parsed: handled here (the usual case), they
        # are not parsed again from their row. Bounded, as another process may take some.
        self._parsed: dict[str, Update] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, web_app: web.Application | None = None) -> None:
        await self.app.initialize()
        await self._set_commands()
        await self.inbox.start(self)  # first what a previous run stored and did not finish
        if self.webhook:
            url = f"{self.settings.public_url}{WEBHOOK_PATH}"
            await self.app.bot.set_webhook(
                url=url, secret_token=self.secret, allowed_updates=Update.ALL_TYPES
            )
            log.info("telegram webhook set")
        else:
            await self.app.bot.delete_webhook()
            self._poller = asyncio.create_task(self._poll_loop())
            log.info("telegram polling started")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()  # updates fetched but not stored are delivered again
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.inbox.stop()  # finishes what is in hand, albums included
        await self.app.shutdown()

    async def _poll_loop(self) -> None:
        """getUpdates; store the batch; only the next call (with a higher offset) confirms it."""
        offset: int | None = None
        delay = 1.0
        while True:
            try:
                updates = await self.app.bot.get_updates(
                    offset=offset,
                    timeout=POLL_TIMEOUT,
                    allowed_updates=Update.ALL_TYPES,
                    read_timeout=POLL_TIMEOUT + 10,
                )
                if updates:
                    await self.inbox.put_many([self._new_item(u) for u in updates])
                    offset = updates[-1].update_id + 1
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except RetryAfter as exc:
                await asyncio.sleep(retry_seconds(exc.retry_after))
            except Exception as exc:  # network, Telegram or database trouble: try again
                log.warning(
                    "telegram polling failed (%s); retrying in %.0fs", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)

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
        raw = await read_limited(request, MAX_WEBHOOK_BODY)
        if raw is None:
            return web.Response(status=413)
        try:
            update = Update.de_json(json.loads(raw), self.app.bot)
            item = self._new_item(update)
        except Exception:
            return web.Response(status=400)
        # Stored (committed) before the 200: a crash from here on loses nothing.
        try:
            await self.inbox.put(item)
        except Exception:
            log.exception("could not store a telegram update; Telegram will deliver it again")
            return web.Response(status=503)
        return web.Response(status=200)

    # -- incoming (from the inbox) ------------------------------------------------------------

    async def process(self, batch: list[Item]) -> None:
        token = _BATCH.set(batch)
        try:
            updates = [self._update_of(i) for i in batch]
            if len(updates) > 1 or batch[0].group_key:
                messages = sorted(
                    (u.message for u in updates if u.message is not None),
                    key=lambda m: m.message_id,
                )
                if messages:
                    await self._handle_message(messages[0], messages)
                return
            await self._on_update(updates[0])
        finally:
            _BATCH.reset(token)

    def _new_item(self, update: Update) -> NewItem:
        item = _new_item(update)
        if len(self._parsed) >= PARSED_KEPT:
            del self._parsed[next(iter(self._parsed))]  # the oldest
        self._parsed[item.update_key] = update
        return item

    def _update_of(self, item: Item) -> Update:
        parsed = self._parsed.pop(item.update_key, None)
        return parsed if parsed is not None else Update.de_json(item.payload, self.app.bot)

    async def flood_notice(self, batch: list[Item], skipped: int) -> None:
        """Messages skipped as a flood: said once, when the rest of the chat is answered."""
        chat_key = batch[0].chat_key
        if not chat_key.lstrip("-").isdigit():
            return
        user = Update.de_json(batch[0].payload, self.app.bot).effective_user
        locale = normalise_locale(user.language_code if user else None)
        await self._send_text(int(chat_key), translate(N_("tg.slow_down"), locale))

    async def resend(self, batch: list[Item]) -> None:
        for n, entry in enumerate(batch[0].replies or []):
            if not self.inbox.was_sent(batch, n):
                reply = reply_codec.decode(entry["reply"])
                await self.send_reply(int(entry["chat"]), reply, entry.get("locale"))
                self.inbox.mark_sent(batch, n)

    async def give_up(self, batch: list[Item]) -> None:
        update = Update.de_json(batch[0].payload, self.app.bot)
        await self._sorry(update)

    async def _on_update(self, update: Update) -> None:
        try:
            await self._route(update)
        except Exception:
            log.exception("failed to handle telegram update %s", update.update_id)
            await self._sorry(update)

    async def _sorry(self, update: Update) -> None:
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
        await self._handle_message(message)

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
            choice=f"#{index}" if index.isdecimal() else "#stale",
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

    async def _dispatch(self, chat_id: int, incoming: Incoming) -> None:
        # One person's messages run in order (the inbox hands out one batch per chat at a
        # time); different people run side by side.
        batch = _BATCH.get()

        async def done(s: AsyncSession, result: Result) -> None:
            if batch is not None:
                stored = reply_codec.entries(
                    str(chat_id), result.replies, locale=result.locale, account=result.account_id
                )
                await self.inbox.finish(s, batch, stored)

        try:
            result = await self.conversations.handle(incoming, CAPS, before_commit=done)
        except Exception:
            log.exception("conversation failed for a telegram chat")
            locale = normalise_locale(incoming.locale_hint)
            await self._send_text(chat_id, translate(N_("tg.sorry"), locale))
            return
        for n, reply in enumerate(result.replies):
            await self.send_reply(chat_id, reply, result.locale)
            if batch is not None:
                self.inbox.mark_sent(batch, n)

    # -- outgoing: the sender (bot/handlers/telegram_send.py) ---------------------------------

    async def send_reply(self, chat_id: int, reply: Reply, locale: str | None = None) -> None:
        await self.sender.send_reply(chat_id, reply, locale)

    async def _send_text(self, chat_id: int, text: str, markup: Any = None) -> Any:
        return await self.sender.send_text(chat_id, text, markup)


def _new_item(update: Update) -> NewItem:
    """The inbox row of an update: keyed by update_id, queued per chat, albums grouped."""
    chat = update.effective_chat
    if chat is None and update.callback_query is not None:
        chat_key = str(update.callback_query.from_user.id)
    else:
        chat_key = str(chat.id) if chat is not None else "-"
    message = update.message
    group = message.media_group_id if message is not None else None
    return NewItem(
        update_key=str(update.update_id),
        chat_key=chat_key,
        payload=update.to_dict(),  # JSON-ready: dates as timestamps, as to_json has them
        group_key=str(group) if group else None,
    )
