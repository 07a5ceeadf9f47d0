"""Zalo Bot Platform: updates → ``Incoming``, ``Reply`` → Bot API calls, on aiohttp.

Webhook mode when OCOP_PUBLIC_URL is set (secret header compared in constant time), else long
polling for development. Either way an update is stored in the inbox (bot/inbox.py) before it is
acknowledged and processed from there, once, in order per chat. Zalo has no buttons,
2,000-character messages and carries photos only: choices become numbered lines, long texts are
split at line breaks, a file the person sends arrives as "unsupported" and is answered with a
signed upload link, and files the bot shows go out as signed download links.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import unicodedata
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.flows.router import Conversations, Result
from bot.flows.types import Capabilities, FileIn, Incoming, Kind, Reply
from bot.handlers import reply_codec
from bot.handlers.links import LinkSigner, link_secret
from bot.handlers.upload_page import LinkRoutes
from bot.handlers.zalo_client import MAX_TEXT, ZaloClient, ZaloError
from bot.handlers.zalo_send import ZaloSender
from bot.inbox import Inbox, Item, NewItem
from bot.settings import Settings
from bot.web_server import read_limited
from ocop_core.i18n import N_, translate
from ocop_core.media import DEFAULT_MAX_BYTES, sniff
from ocop_core.services.context import CoreContext

log = logging.getLogger("ocop.zalo")

CAPS = Capabilities(
    buttons=False,
    max_text=MAX_TEXT,
    receive_pdf=False,
    send_files=False,
    contact_button=False,
    upload_links=True,
)
WEBHOOK_PATH = "/zalo/webhook"
MAX_BODY = 64 * 1024  # a webhook update is a few hundred bytes
MAX_PHOTO = DEFAULT_MAX_BYTES
MAX_PENDING = 10  # per chat; more waiting messages than this are a flood

# The inbox rows being processed in this task (their done-marking joins the step's transaction).
_BATCH: ContextVar[list[Item] | None] = ContextVar("zalo_batch", default=None)
KNOWN_EVENTS = frozenset(
    {
        "message.text.received",
        "message.image.received",
        "message.sticker.received",
        "message.voice.received",
        "message.unsupported.received",
    }
)


class BadUpdate(ValueError):
    """A body that is not a Zalo update at all (refused with 400)."""


@dataclass(frozen=True)
class ZaloUpdate:
    event: str
    message_id: str
    chat_id: str
    user_id: str
    chat_type: str
    display_name: str
    text: str
    photo_url: str


def parse_update(body: Any) -> ZaloUpdate | None:
    """An update from a webhook body or a getUpdates result, wrapped in ``{ok, result}`` or flat.
    None for events we do not know (future ones are ignored, not refused)."""
    if not isinstance(body, dict):
        raise BadUpdate("not an object")
    if "result" in body and "ok" in body:
        body = body["result"]
        if not isinstance(body, dict):
            raise BadUpdate("result is not an object")
    event = body.get("event_name")
    if not isinstance(event, str) or not event:
        raise BadUpdate("no event_name")
    if event not in KNOWN_EVENTS:
        return None
    message = body.get("message")
    if not isinstance(message, dict):
        raise BadUpdate("no message")
    chat = message.get("chat")
    sender = message.get("from")
    message_id = message.get("message_id")
    if not isinstance(chat, dict) or not isinstance(sender, dict):
        raise BadUpdate("no chat or sender")
    if not isinstance(message_id, str | int) or isinstance(message_id, bool) or message_id == "":
        raise BadUpdate("no message_id")
    chat_id, user_id = chat.get("id"), sender.get("id")
    if not isinstance(chat_id, str | int) or not isinstance(user_id, str | int):
        raise BadUpdate("no ids")
    text = message.get("text") if event == "message.text.received" else message.get("caption")
    photo = message.get("photo_url") or message.get("photo") or ""  # both names exist
    return ZaloUpdate(
        event=event,
        message_id=str(message_id)[:128],
        chat_id=str(chat_id)[:64],
        user_id=str(user_id)[:64],
        chat_type=str(chat.get("chat_type") or "PRIVATE").upper(),
        display_name=str(sender.get("display_name") or "")[:200],
        text=unicodedata.normalize("NFC", text) if isinstance(text, str) else "",
        photo_url=photo if isinstance(photo, str) else "",
    )


class ZaloChannel:
    name = "zalo"  # the channel of its inbox rows and of the accounts it serves

    def __init__(
        self,
        settings: Settings,
        conversations: Conversations,
        *,
        data_dir: Path,
        signer: LinkSigner,
        client: ZaloClient | None = None,
    ) -> None:
        assert settings.zalo_bot_token is not None
        self.settings = settings
        self.conversations = conversations
        self.data_dir = data_dir
        self.signer = signer
        self.sender = ZaloSender(
            settings,
            data_dir=data_dir,
            signer=signer,
            sessions=getattr(conversations, "sessions", None),
            client=client,
        )
        self.client = self.sender.client  # also polls, sets the webhook and says "typing…"
        self.webhook = bool(settings.public_url)
        self.secret = (
            settings.zalo_webhook_secret.get_secret_value()
            if settings.zalo_webhook_secret
            else hmac.new(
                settings.zalo_bot_token.get_secret_value().encode(),
                b"ocop-zalo-webhook",
                hashlib.sha256,
            ).hexdigest()
        )
        sessions = getattr(conversations, "sessions", None)
        self.inbox = (
            Inbox(
                sessions,
                self.name,
                flood_limit=MAX_PENDING,
                concurrency=settings.inbox_concurrency,
                journal_dir=data_dir / "inbox",
            )
            if sessions is not None
            else None
        )
        self._locales: dict[str, str] = {}  # chat → the person's last language, for notices
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._http: aiohttp.ClientSession | None = None  # downloads of people's photos

    # -- lifecycle ----------------------------------------------------------------------------

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_post(WEBHOOK_PATH, self._webhook)

    def set_local_url(self, url: str) -> None:
        """Where our web server listens, for links when there is no public URL (development)."""
        if not self.settings.public_url:
            self.signer.set_base(url)

    async def start(self) -> None:
        if self.inbox is not None:
            await self.inbox.start(self)  # first what a previous run stored and did not finish
        # Connecting runs in the background: a Zalo outage must not stop the other channels.
        self._spawn(self._connect())

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.inbox is not None:  # let the messages already stored finish
            await self.inbox.stop()
        if self._http is not None:
            await self._http.close()
        await self.client.close()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self) -> None:
        delay = 1.0
        while not self._stopping:
            try:
                await self.client.get_me()
                if self.webhook:
                    url = f"{self.settings.public_url}{WEBHOOK_PATH}"
                    await self.client.set_webhook(url, self.secret)
                    log.info("zalo webhook set")
                    return
                await self.client.delete_webhook()  # getUpdates fails while a webhook is set
                log.info("zalo polling started")
                await self._poll_loop()
                return
            except ZaloError as exc:
                if exc.code == 401:
                    log.error("the Zalo Bot API refused OCOP_ZALO_BOT_TOKEN; Zalo is off")
                    return
                log.warning("zalo connection failed (%s); retrying in %.0fs", exc.code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60)

    async def _poll_loop(self) -> None:
        delay = 1.0
        while not self._stopping:
            started = time.monotonic()
            try:
                update = await self.client.get_update()
            except ZaloError as exc:
                if exc.code == 401:
                    log.error("the Zalo Bot API refused OCOP_ZALO_BOT_TOKEN; polling stops")
                    return
                log.warning("zalo getUpdates failed (%s); retrying in %.0fs", exc.code, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
                continue
            delay = 1.0
            if update is not None:
                try:
                    await self._accept(update)
                except BadUpdate as exc:
                    log.warning("zalo getUpdates gave an odd update: %s", exc)
                except Exception:  # the database: Zalo polling has no redelivery, say so
                    log.exception("a zalo update could not be stored")
            elif time.monotonic() - started < 0.5:
                # An empty answer that did not wait: do not spin (one report of a hot loop).
                await asyncio.sleep(1.0)

    # -- incoming -----------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get("X-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("zalo webhook call with a wrong secret refused")
            return web.json_response({"ok": False, "description": "Forbidden"}, status=403)
        raw = await read_limited(request, MAX_BODY)
        if raw is None:  # declared or (chunked) counted
            return web.json_response({"ok": False, "description": "Too large"}, status=413)
        if not raw.strip():
            return web.json_response({"ok": True})  # an empty probe
        try:
            accepted = await self._accept(json.loads(raw))
        except (ValueError, BadUpdate) as exc:  # JSONDecodeError is a ValueError
            log.info("zalo webhook body refused: %s", type(exc).__name__)
            return web.json_response({"ok": False, "description": "Bad Request"}, status=400)
        except Exception:
            log.exception("could not store a zalo update; Zalo may deliver it again")
            return web.json_response({"ok": False, "description": "Unavailable"}, status=503)
        # Stored (committed) before this answer: a crash from here on loses nothing.
        return web.json_response({"ok": True, "accepted": accepted})

    async def _accept(self, body: Any) -> bool:
        """Check and store one update; False when it is ignored (unknown or seen before)."""
        update = parse_update(body)
        if update is None:
            log.info("ignoring an unknown zalo event")
            return False
        assert self.inbox is not None
        item = NewItem(update.message_id, update.chat_id, asdict(update))
        return await self.inbox.put(item)

    # -- processing (from the inbox) ----------------------------------------------------------

    async def process(self, batch: list[Item]) -> None:
        token = _BATCH.set(batch)
        try:
            for item in batch:
                locale = await self._process(ZaloUpdate(**item.payload))
                if locale:
                    self._locales[item.chat_key] = locale
        finally:
            _BATCH.reset(token)

    async def flood_notice(self, batch: list[Item], skipped: int) -> None:
        """A flood: the person is told once, when the rest is answered."""
        chat_key = batch[0].chat_key
        locale = self._locales.get(chat_key, self.settings.default_locale)
        await self.send_text(chat_key, translate(N_("zalo.too_fast"), locale, count=skipped))

    async def resend(self, batch: list[Item]) -> None:
        assert self.inbox is not None
        for n, entry in enumerate(batch[0].replies or []):
            if self.inbox.was_sent(batch, n):
                continue
            result = Result([], account_id=entry.get("account"), locale=entry["locale"])
            await self.send_reply(entry["chat"], reply_codec.decode(entry["reply"]), result)
            self.inbox.mark_sent(batch, n)

    async def give_up(self, batch: list[Item]) -> None:
        text = translate(N_("tg.sorry"), self.settings.default_locale)
        await self.send_text(batch[0].chat_key, text)

    async def _process(self, update: ZaloUpdate) -> str | None:
        """Handle one message; the person's language when known."""
        if update.chat_type != "PRIVATE":
            if update.event == "message.text.received":
                await self.send_text(
                    update.chat_id,
                    translate(N_("zalo.private_only"), self.settings.default_locale),
                )
            return None
        incoming = await self._incoming(update)
        batch = _BATCH.get()

        async def done(s: AsyncSession, result: Result) -> None:
            if batch is not None:
                replies = result.replies
                if update.event == "message.unsupported.received" and not any(
                    r.upload for r in replies
                ):
                    replies = _with_files_hint(replies, result.locale)
                stored = reply_codec.entries(
                    update.chat_id, replies, locale=result.locale, account=result.account_id
                )
                await self.inbox.finish(s, batch, stored)  # type: ignore[union-attr]

        try:
            result = await self.conversations.handle(incoming, CAPS, before_commit=done)
        except Exception:
            log.exception("conversation failed for a zalo chat")
            await self.send_text(
                update.chat_id, translate(N_("tg.sorry"), self.settings.default_locale)
            )
            return None
        replies = result.replies
        if update.event == "message.unsupported.received" and not any(r.upload for r in replies):
            replies = _with_files_hint(replies, result.locale)
        for n, reply in enumerate(replies):
            await self.send_reply(update.chat_id, reply, result)
            if batch is not None and self.inbox is not None:
                self.inbox.mark_sent(batch, n)
        return result.locale

    async def _incoming(self, update: ZaloUpdate) -> Incoming:
        base: dict[str, Any] = {
            "channel": "zalo",
            "user_id": update.user_id,
            "chat_id": update.chat_id,
            "display_name": update.display_name,
        }
        if update.event == "message.text.received":
            text = update.text.strip()
            if text.startswith("/") and len(text) > 1:
                head, _, args = text[1:].partition(" ")
                return Incoming(kind=Kind.COMMAND, command=head.lower(), args=args.strip(), **base)
            return Incoming(kind=Kind.TEXT, text=update.text, **base)
        if update.event == "message.image.received" and update.photo_url:
            with contextlib.suppress(ZaloError):  # "typing…" is a courtesy only
                await self.client.send_chat_action(update.chat_id, "typing")
            photo, error = await self._fetch_photo(update)
            if photo is None:
                return Incoming(kind=Kind.TEXT, text="", file_error=error, **base)
            return Incoming(kind=Kind.FILES, files=(photo,), text=update.text, **base)
        # A sticker or a voice note is known for what it is; "unsupported" may be a file.
        media = update.event.removeprefix("message.").removesuffix(".received")
        media = "" if media == "unsupported" else media
        return Incoming(kind=Kind.UNSUPPORTED, media=media, **base)

    async def _fetch_photo(self, update: ZaloUpdate) -> tuple[FileIn | None, str | None]:
        """Download at once (Zalo's media URLs may expire), at most MAX_PHOTO bytes."""
        url = update.photo_url
        if not url.startswith(("https://", "http://")):
            return None, N_("zalo.photo_unavailable")
        if self._http is None or self._http.closed:  # a webhook call may come before start()
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        try:
            async with self._http.get(url, allow_redirects=True, max_redirects=3) as resp:
                if resp.status != 200:
                    log.info("zalo photo answered %s", resp.status)
                    return None, N_("zalo.photo_unavailable")
                if (resp.content_length or 0) > MAX_PHOTO:
                    return None, N_("zalo.photo_too_big")
                data = bytearray()
                async for chunk in resp.content.iter_chunked(256 * 1024):
                    data += chunk
                    if len(data) > MAX_PHOTO:
                        return None, N_("zalo.photo_too_big")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("zalo photo download failed: %s", type(exc).__name__)
            return None, N_("zalo.photo_failed")
        found = sniff(bytes(data))
        if found.kind != "image":
            return None, N_("zalo.photo_not_image")
        name = f"zalo-{update.message_id[:24]}.{found.fmt}"
        return FileIn(data=bytes(data), filename=name, mime=found.mime), None

    # -- outgoing: the sender (bot/handlers/zalo_send.py) -------------------------------------

    async def send_reply(self, chat_id: str, reply: Reply, result: Result | None = None) -> None:
        await self.sender.send_reply(chat_id, reply, result)

    async def send_text(self, chat_id: str, text: str) -> bool:
        return await self.sender.send_text(chat_id, text)


def _with_files_hint(replies: list[Reply], locale: str) -> list[Reply]:
    """A file may have been what arrived as "unsupported": say how to send one."""
    hint = translate(N_("zalo.files_hint"), locale)
    if not replies:
        return [Reply(hint)]
    first = replies[0]
    return [replace(first, text=f"{first.text}\n\n{hint}"), *replies[1:]]


def build_zalo(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    core: CoreContext,
    conversations: Conversations,
    web_app: web.Application,
) -> ZaloChannel:
    """The Zalo channel with its webhook route and the link routes (uploads and downloads)."""
    data_dir = core.data_dir
    signer = LinkSigner(link_secret(settings), settings.public_url or "")
    channel = ZaloChannel(settings, conversations, data_dir=data_dir, signer=signer)
    channel.add_routes(web_app)
    links = LinkRoutes(
        sessions,
        core,
        signer,
        tz=settings.tz,
        notify=channel.sender.notify,
        max_uploads=settings.web_max_uploads,
    )
    links.add_routes(web_app)
    return channel
