"""Sending on Zalo: replies, notices and outbox rows through the Zalo Bot API, paced per chat and
overall (``bot/outbox/pacing.py``). Zalo has no buttons, 2,000-character messages and shows
photos only: long texts are split at line breaks, an upload offer becomes a signed upload link and
files go out as signed download links (images by URL when the server is public).

Apart from receiving (``bot/handlers/zalo.py``), so that ``ocop-bot remind`` and the outbox can
send without a conversation router, an inbox or a webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import unicodedata
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import metrics
from bot.flows.router import Result
from bot.flows.types import FileOut, Reply
from bot.handlers.links import (
    DOWNLOAD_TTL,
    UPLOAD_TTL,
    LinkSigner,
    register_file,
    servable_relative,
)
from bot.handlers.rendering import screen, split_text
from bot.handlers.zalo_client import MAX_TEXT, ZaloClient, ZaloError
from bot.outbox.delivery import DeliveryResult, Outcome
from bot.outbox.pacing import ChatPacer
from bot.settings import Settings
from ocop_core.db import transaction
from ocop_core.i18n import N_, normalise_locale, translate
from ocop_core.models import Account

log = logging.getLogger("ocop.zalo")

# Zalo publishes no rate limits; these are modest, and a 429 backs off that chat alone.
PER_CHAT_RATE, PER_CHAT_BURST = 5.0, 10
SEND_ATTEMPTS = 5
RETRY_AFTER_429 = 5.0  # seconds a chat waits after "Quota exceeded" in the outbox


def split_message(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces Zalo accepts: NFC (precomposed Vietnamese), non-empty, at most ``limit`` characters
    even if Zalo counts UTF-16 units (an emoji outside the BMP counts twice)."""
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        return []
    pieces: list[str] = []
    for piece in split_text(text, limit):
        if _utf16(piece) > limit:
            pieces += split_text(piece, limit // 2)
        else:
            pieces.append(piece)
    return [p for p in (x.strip() for x in pieces) if p]


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class ZaloSender:
    name = "zalo"  # the Outbox.channel value it delivers

    def __init__(
        self,
        settings: Settings,
        *,
        data_dir: Path,
        signer: LinkSigner,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        client: ZaloClient | None = None,
    ) -> None:
        assert settings.zalo_bot_token is not None
        self.settings = settings
        self.data_dir = data_dir
        self.signer = signer
        self.sessions = sessions  # to register the files it links to; none, no file links
        self.client = client or ZaloClient(
            settings.zalo_bot_token.get_secret_value(), settings.zalo_api_url
        )
        # Shared by replies and the outbox (bot/outbox/delivery.py): bulk never crowds out replies.
        self.pacer = ChatPacer(
            per_chat=PER_CHAT_RATE, burst=PER_CHAT_BURST, global_rate=settings.zalo_global_rate
        )

    async def close(self) -> None:
        await self.client.close()

    async def send_reply(self, chat_id: str, reply: Reply, result: Result | None = None) -> None:
        locale = normalise_locale(result.locale if result else None)
        parts = [screen(reply, locale, buttons=False)]
        if reply.upload is not None and result is not None and result.account_id is not None:
            url = self.signer.upload_url(
                result.account_id, reply.upload.dossier_id, reply.upload.requirement, locale
            )
            parts.append(
                translate(
                    N_("zalo.upload_link"),
                    locale,
                    name=reply.upload.label,
                    hours=UPLOAD_TTL // 3600,
                    url=url,
                )
            )
        photos: list[tuple[str, str]] = []
        for f in reply.files:
            url = await self._file_url(f, result.account_id if result else None)
            if url is None:
                continue
            if f.mime.startswith("image/") and self.settings.public_url:
                photos.append((url, f.caption))  # Zalo fetches the image from our server
            else:
                parts.append(
                    translate(
                        N_("zalo.file_link"),
                        locale,
                        name=f.filename,
                        hours=DOWNLOAD_TTL // 3600,
                        url=url,
                    )
                )
        for piece in split_message("\n\n".join(p for p in parts if p)):
            await self.send_text(chat_id, piece)
        for url, caption in photos:
            captions = split_message(caption)
            await self._send(
                lambda url=url, c=captions: self.client.send_photo(chat_id, url, c[0] if c else ""),
                chat_id,
            )

    async def _file_url(self, f: FileOut, account_id: int | None) -> str | None:
        """A signed link naming the registered file (copied to the exports folder if it is
        outside the servable folders) and the person it is for."""
        if account_id is None or self.sessions is None:
            return None
        path = await asyncio.to_thread(_servable_copy, self.data_dir, f.path)
        if path is None:
            return None
        async with transaction(self.sessions) as s:
            file_id = await register_file(s, self.data_dir, account_id, path, f.filename, f.mime)
        if file_id is None:
            return None
        return self.signer.download_url(file_id, account_id, f.filename)

    async def send_text(self, chat_id: str, text: str) -> bool:
        ok = True
        for piece in split_message(text):
            ok = await self._send(lambda p=piece: self.client.send_message(chat_id, p), chat_id)
        return ok

    async def _send(self, call: Callable[[], Awaitable[Any]], chat_id: str) -> bool:
        """Send with pacing; quota (429), server and network trouble are retried with doubling
        pauses (Zalo gives no retry-after); a 429 holds back this chat only."""
        delay = 0.5
        for attempt in range(SEND_ATTEMPTS):
            await self.pacer.wait(chat_id)
            try:
                await call()
                return True
            except ZaloError as exc:
                if not exc.transient or attempt == SEND_ATTEMPTS - 1:
                    log.warning("giving up a zalo send: %s %s", exc.code, exc.description)
                    return False
                log.info("zalo %s failed (%s); retrying in %.1fs", exc.method, exc.code, delay)
                if exc.code == 429:
                    metrics.RATE_LIMITED.labels(self.name).inc()
                    self.pacer.backoff(chat_id, delay)
                else:
                    await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)
        return False

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> DeliveryResult:
        """Outbox delivery (bot/outbox/delivery.py): one attempt, the outcome reported, no retries
        here. The outbox took this chat's pacing slot for the first piece; further pieces of a
        long text wait for the same pacer as replies do."""
        pieces = split_message(str(payload.get("text") or ""))
        if not pieces:
            return DeliveryResult(Outcome.REJECTED, error="empty message")
        for n, piece in enumerate(pieces):
            if n:
                await self.pacer.wait(chat_id)
            try:
                await self.client.send_message(chat_id, piece)
            except ZaloError as exc:
                return _outcome(exc)
        return DeliveryResult(Outcome.SENT)

    async def notify(self, account: Account, text: str) -> None:
        """A message to this person outside a reply (e.g. "your upload arrived")."""
        if account.channel == "zalo":
            await self.send_text(account.chat_id, text)


def _servable_copy(data_dir: Path, path: Path) -> Path | None:
    """The file itself when it lies in a servable folder; a copy in the exports folder when it
    lies outside the data directory; None for anything else of the data directory (the
    database, the link key…), which is never offered."""
    root = data_dir.resolve()
    path = path.resolve()
    if path.is_relative_to(root):
        if servable_relative(root, path) is None:
            log.warning("refused to offer a file of the data directory outside its media")
            return None
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    target = root / "exports" / f"{digest}-{path.name}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    except OSError:
        log.warning("a file to show could not be copied for a link")
        return None
    return target


def _outcome(exc: ZaloError) -> DeliveryResult:
    """A Bot API error as an outbox outcome. Zalo documents no "blocked" answer (its 403 is
    described as an internal error), so nothing here stops an account."""
    error = f"{exc.code} {exc.description}"[:300]
    if exc.code == 429:
        return DeliveryResult(Outcome.RETRY_AFTER, retry_after=RETRY_AFTER_429, error=error)
    if exc.code == 400:
        gone = any(w in exc.description.lower() for w in ("chat not found", "user not found"))
        return DeliveryResult(Outcome.GONE if gone else Outcome.REJECTED, error=error)
    return DeliveryResult(Outcome.TRANSIENT, error=error)  # network, 5xx, 401/403/404 setup
