"""Sending on Telegram: replies, notices and outbox rows through python-telegram-bot's Bot API,
paced per chat and overall (``bot/outbox/pacing.py``), a 429 holding back only its chat.

Apart from receiving (``bot/handlers/telegram.py``), so that ``ocop-bot remind`` and the outbox
can send without a conversation router, an inbox or a webhook.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application

from bot import metrics
from bot.flows.types import Reply
from bot.handlers.rendering import screen, split_text
from bot.handlers.telegram_http import AiohttpRequest
from bot.outbox.delivery import DeliveryResult, Outcome
from bot.outbox.pacing import ChatPacer
from bot.settings import Settings
from ocop_core.i18n import N_, normalise_locale, translate

log = logging.getLogger("ocop.telegram")

MAX_TEXT = 4096  # characters in one message
CAPTION_LIMIT = 1024


class TelegramSender:
    name = "telegram"  # the Outbox.channel value it delivers

    def __init__(
        self,
        settings: Settings,
        *,
        on_blocked: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        assert settings.telegram_token is not None
        self.on_blocked = on_blocked
        self.app = (
            Application.builder()
            .token(settings.telegram_token.get_secret_value())
            .base_url(settings.telegram_api_url)
            .base_file_url(settings.telegram_file_url)
            .updater(None)  # we poll ourselves: an offset is confirmed only once stored
            .request(AiohttpRequest())
            .get_updates_request(AiohttpRequest(1))
            .build()
        )
        # Shared by replies and the outbox (bot/outbox/delivery.py): bulk never crowds out replies.
        self.pacer = ChatPacer(
            per_chat=settings.telegram_chat_rate, global_rate=settings.telegram_global_rate
        )

    async def start(self) -> None:
        await self.app.initialize()

    async def close(self) -> None:
        await self.app.shutdown()

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
        pieces = split_text(screen(reply, locale, buttons=True), MAX_TEXT)
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            if last and remove and reply.choices:
                await self._send_with_buttons_after_removal(chat_id, piece, markup)
            else:
                await self.send_text(chat_id, piece, markup if last else None)
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
        await self.send_text(chat_id, said, ReplyKeyboardRemove())
        await self.send_text(chat_id, question, markup)

    async def send_text(self, chat_id: int, text: str, markup: Any = None) -> Any:
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
                metrics.RATE_LIMITED.labels(self.name).inc()
                self.pacer.backoff(chat_id, retry_seconds(exc.retry_after))
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
        """Outbox delivery (bot/outbox/delivery.py): one attempt, outcome reported, never retried
        here.

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
        for n, piece in enumerate(split_text(text, MAX_TEXT)):
            if n:
                await self.pacer.wait(chat)
            try:
                await self.app.bot.send_message(
                    chat, html.escape(piece, quote=False), parse_mode=ParseMode.HTML
                )
            except RetryAfter as exc:
                return DeliveryResult(
                    Outcome.RETRY_AFTER, retry_after=retry_seconds(exc.retry_after)
                )
            except Forbidden as exc:
                return DeliveryResult(Outcome.BLOCKED, error=exc.message)
            except BadRequest as exc:
                gone = "chat not found" in exc.message.lower()
                return DeliveryResult(Outcome.GONE if gone else Outcome.REJECTED, error=exc.message)
            except TelegramError as exc:  # network, timeout, 5xx, bad token: try again later
                return DeliveryResult(Outcome.TRANSIENT, error=f"{type(exc).__name__}: {exc}")
        return DeliveryResult(Outcome.SENT)


def retry_seconds(delay: Any) -> float:
    """A 429's retry_after (seconds, or a timedelta in newer python-telegram-bot) in seconds."""
    return float(delay.total_seconds() if hasattr(delay, "total_seconds") else delay)


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
