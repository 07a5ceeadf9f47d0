"""Web routes behind signed links: a small upload page for files a chat cannot carry, and
downloads of files the bot shows (documents as PDF).

The page is plain HTML with inline CSS (no external assets; works on a cheap phone without
JavaScript). The upload goes through the same core use case and authorisation as a chat upload:
the link names the account and the dossier, and the core checks again that this account may add
this document now.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, web
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.handlers.links import (
    DOWNLOAD_PATH,
    UPLOAD_PATH,
    LinkError,
    LinkSigner,
    UploadGrant,
    servable_path,
)
from bot.inbox import claim_once, once_claimed
from ocop_core import lifecycle
from ocop_core.db import transaction
from ocop_core.errors import DomainError
from ocop_core.i18n import LOCALES, N_, normalise_locale, translate
from ocop_core.media import DEFAULT_MAX_BYTES, MediaStore, ProcessedFile, process_upload
from ocop_core.models import Account, Dossier, ServedFile
from ocop_core.services import accounts, dossiers, status
from ocop_core.services.context import CoreContext

log = logging.getLogger("ocop.links")

MAX_UPLOAD = DEFAULT_MAX_BYTES
MAX_FILES = 10  # PDFs in one form
DRAIN_LIMIT = 64 * 1024 * 1024  # read (and drop) at most this much of a refused upload
TMP_DIR = "tmp"  # under the data directory: uploads being received
UPLOAD_SLOT_WAIT = 20.0  # seconds an upload may wait for a free slot before "busy, try again"
ORPHAN_AGE = 3600  # seconds: a media file no document names, older than this, is an orphan

# Told to the person in the chat after a web upload: (account, text in their language).
Notify = Callable[[Account, str], Awaitable[None]]


class Refusal(Exception):
    """An answer page instead of the form: HTTP status, title key, message key and params."""

    def __init__(
        self, status: int, title: str, message: str, *, retry: bool = False, **params: object
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.retry = retry  # the link is still good: offer to choose another file
        self.params = params


_LINK_REFUSALS = {
    "expired": (410, N_("upload.expired_title"), N_("upload.expired")),
    "invalid": (403, N_("upload.invalid_title"), N_("upload.invalid")),
}

_CSS = """
*{box-sizing:border-box}body{margin:0;font:17px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
sans-serif;background:#f4f6f4;color:#1d2a1f}main{max-width:32rem;margin:0 auto;padding:1.2rem}
h1{font-size:1.35rem;margin:.4rem 0 1rem}.card{background:#fff;border-radius:12px;padding:1.1rem;
box-shadow:0 1px 3px rgba(0,0,0,.12)}.meta{color:#4a5a4d;margin:.2rem 0}label{display:block;
font-weight:600;margin:1rem 0 .4rem}input[type=file]{width:100%;padding:.8rem;border:2px dashed
#7a9a7f;border-radius:10px;background:#fafcfa;font-size:1rem}button{width:100%;margin-top:1rem;
padding:.9rem;border:0;border-radius:10px;background:#1f7a3a;color:#fff;font-size:1.1rem;
font-weight:600}button:disabled{background:#8aa992}.note{font-size:.92rem;color:#4a5a4d}
.ok{border-left:6px solid #1f7a3a}.bad{border-left:6px solid #b3261e}hr{border:0;border-top:1px
solid #dde5de;margin:1.4rem 0}a{color:#1f5fa8}
"""


def _page(locale: str | None, title: str, body: str, *, status: int = 200) -> web.Response:
    """A complete page. Without a trusted locale (a broken link) it says everything in
    Vietnamese first, then in English."""
    nonce = secrets.token_urlsafe(12)
    lang = locale or "vi"
    doc = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main>"
        f'<script nonce="{nonce}">{_SCRIPT}</script></body></html>'
    )
    return web.Response(
        text=doc,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",  # the link is a secret: never leak it onwards
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; "
                f"script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'"
            ),
        },
    )


# Optional nicety: show "sending…" and stop a second tap while a slow upload runs.
_SCRIPT = (
    "var f=document.querySelector('form');if(f){f.addEventListener('submit',function(){"
    "var b=f.querySelector('button');b.disabled=true;b.textContent=b.dataset.busy;});}"
)


def _esc(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _refusal_page(locale: str | None, r: Refusal, retry_url: str = "") -> web.Response:
    if locale is None:
        parts = [
            f'<section class="card bad" lang="{loc}"><h1>{_esc(translate(r.title, loc))}</h1>'
            f"<p>{_esc(translate(r.message, loc, **r.params))}</p></section>"
            for loc in LOCALES
        ]
        title = " / ".join(translate(r.title, loc) for loc in LOCALES)
        return _page(None, title, "<hr>".join(parts), status=r.status)
    title = translate(r.title, locale)
    again = ""
    if r.retry and retry_url:
        label = _esc(translate(N_("upload.try_again"), locale))
        again = f'<p><a href="{html.escape(retry_url)}">{label}</a></p>'
    body = (
        f'<section class="card bad"><h1>{_esc(title)}</h1>'
        f"<p>{_esc(translate(r.message, locale, **r.params))}</p>{again}</section>"
    )
    return _page(locale, title, body, status=r.status)


class LinkRoutes:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        core: CoreContext,
        signer: LinkSigner,
        *,
        tz: ZoneInfo,
        notify: Notify | None = None,
        max_uploads: int = 3,
    ) -> None:
        self.sessions = sessions
        self.core = core
        self.signer = signer
        self.tz = tz
        self.notify = notify
        # Uploads are read a few at a time: memory stays bounded however many arrive at once.
        self.slots = asyncio.Semaphore(max_uploads)

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_get(UPLOAD_PATH + "{token}", self.form)
        web_app.router.add_post(UPLOAD_PATH + "{token}", self.upload)
        web_app.router.add_get(DOWNLOAD_PATH + "{token}/{name}", self.download)

    # -- the upload page -------------------------------------------------------------------

    def _grant(self, request: web.Request) -> UploadGrant:
        try:
            return self.signer.upload_grant(request.match_info["token"])
        except LinkError as exc:
            status_code, title, message = _LINK_REFUSALS[exc.reason]
            raise Refusal(status_code, title, message) from None

    async def _check_unused(self, grant: UploadGrant) -> None:
        async with self.sessions() as s:
            if await once_claimed(s, _once_key(grant)):
                raise Refusal(410, N_("upload.used_title"), N_("upload.used"))

    async def _target(self, s: AsyncSession, grant: UploadGrant) -> tuple[Account, Dossier]:
        """The account the link names and its dossier, authorised again by the core."""
        account = await s.get(Account, grant.account_id)
        if account is None:
            raise Refusal(403, N_("upload.refused_title"), N_("upload.invalid"))
        actor = await accounts.actor_for(s, account)
        try:
            dossier = await dossiers.get_dossier_by_id(s, actor, grant.dossier_id)
            # Say so before a slow upload, not after it (record_document checks again).
            lifecycle.plan_add_document(actor, dossier.stage)
        except DomainError as exc:
            raise Refusal(403, N_("upload.refused_title"), exc.key, **exc.params) from None
        return account, dossier

    async def form(self, request: web.Request) -> web.Response:
        locale: str | None = None
        try:
            grant = self._grant(request)
            locale = normalise_locale(grant.locale)
            await self._check_unused(grant)
            async with transaction(self.sessions) as s:
                _account, dossier = await self._target(s, grant)
        except Refusal as r:
            return _refusal_page(locale, r)
        return self._form_page(grant, dossier)

    def _form_page(self, grant: UploadGrant, dossier: Dossier) -> web.Response:
        loc = normalise_locale(grant.locale)
        t = lambda key, **p: _esc(translate(key, loc, **p))  # noqa: E731
        expires = datetime.fromtimestamp(grant.expires, UTC).astimezone(self.tz)
        title = translate(N_("upload.page_title"), loc)
        body = (
            f'<section class="card"><h1>{_esc(title)}</h1>'
            f'<p class="meta">{t(N_("upload.dossier"), code=dossier.receipt_code, product=dossier.product_name)}</p>'  # noqa: E501
            f'<p class="meta"><strong>{t(N_("upload.document"), name=translate(f"doc.{grant.requirement}", loc))}</strong></p>'  # noqa: E501
            '<form method="post" enctype="multipart/form-data">'
            f'<label for="file">{t(N_("upload.choose"))}</label>'
            '<input id="file" name="file" type="file" accept="application/pdf,.pdf" multiple'
            " required>"
            f'<button type="submit" data-busy="{t(N_("upload.sending"))}">'
            f"{t(N_('upload.submit'))}</button></form>"
            f'<p class="note">{t(N_("upload.instructions"), mb=MAX_UPLOAD // (1024 * 1024))}</p>'
            f'<p class="note">{t(N_("upload.expires"), time=f"{expires:%H:%M}", date=f"{expires:%d/%m/%Y}")}</p>'  # noqa: E501
            "</section>"
        )
        return _page(loc, title, body)

    async def upload(self, request: web.Request) -> web.Response:
        locale: str | None = None
        try:
            grant = self._grant(request)
            locale = normalise_locale(grant.locale)
            await self._check_unused(grant)
            processed = [await self._process(data) for data in await self._receive(request)]
            account, dossier, pages, done, total = await self._record(grant, processed)
        except Refusal as r:
            return _refusal_page(locale, r, request.path)
        loc = normalise_locale(grant.locale)
        name = translate(f"doc.{grant.requirement}", loc)
        log.info("document uploaded through a link for dossier %s", dossier.receipt_code)
        if self.notify is not None:
            text = "\n".join(
                [
                    translate(
                        N_("upload.chat_received"),
                        loc,
                        pages=pages,
                        name=name,
                        code=dossier.receipt_code,
                    ),
                    translate(N_("docs.progress"), loc, done=done, total=total),
                ]
            )
            try:
                await self.notify(account, text)
            except Exception:  # the upload is saved; a lost chat notice must not undo it
                log.exception("could not tell the chat about a web upload")
        title = translate(N_("upload.done_title"), loc)
        body = (
            f'<section class="card ok"><h1>{_esc(title)}</h1><p>'
            + _esc(
                translate(N_("upload.done"), loc, pages=pages, name=name, code=dossier.receipt_code)
            )
            + "</p>"
            + self._back_to_chat(account, loc)
            + "</section>"
        )
        return _page(loc, title, body)

    @staticmethod
    def _back_to_chat(account: Account, loc: str) -> str:
        """On a phone the page opened from Zalo: one tap back to the conversation."""
        if account.channel != "zalo":
            return ""
        label = _esc(translate(N_("upload.back_to_zalo"), loc))
        return f'<p><a class="button" href="https://zalo.me/">{label}</a></p>'

    async def _receive(self, request: web.Request) -> list[bytes]:
        """The uploaded files, each streamed to a temporary file (deleted whatever happens)
        while holding one of the few upload slots."""
        try:
            await asyncio.wait_for(self.slots.acquire(), UPLOAD_SLOT_WAIT)
        except TimeoutError:
            raise Refusal(
                503, N_("upload.refused_title"), N_("web.upload_busy"), retry=True
            ) from None
        tmp_dir = self.core.data_dir / TMP_DIR
        try:
            await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
            return await _read_files(request, tmp_dir)
        finally:
            self.slots.release()

    async def _process(self, data: bytes) -> ProcessedFile:
        try:
            processed = await asyncio.to_thread(process_upload, data, max_bytes=MAX_UPLOAD)
        except DomainError as exc:
            raise Refusal(
                422, N_("upload.refused_title"), exc.key, retry=True, **exc.params
            ) from None
        if processed.kind != "pdf":
            raise Refusal(415, N_("upload.refused_title"), N_("upload.not_pdf"), retry=True)
        return processed

    async def _record(
        self, grant: UploadGrant, processed: list[ProcessedFile]
    ) -> tuple[Account, Dossier, int, int, int]:
        """All files of the form as pages of one document, in one transaction; the same file
        twice (or one already there) is kept once."""
        key = _once_key(grant)
        try:
            async with transaction(self.sessions) as s:
                account, dossier = await self._target(s, grant)
                known = {d.sha256 for d in await dossiers.current_documents(s, dossier.id or 0)}
                fresh = list({p.sha256: p for p in processed if p.sha256 not in known}.values())
                if not fresh:
                    raise Refusal(
                        409, N_("upload.refused_title"), N_("upload.duplicate"), retry=True
                    )
                # Claimed inside the transaction: two tabs posting at once, one wins, and a
                # failure below rolls the claim back with everything else.
                if not await claim_once(s, key):
                    raise Refusal(410, N_("upload.used_title"), N_("upload.used"))
                store = MediaStore(self.core.media_dir)
                stored = [await asyncio.to_thread(store.store_processed, p) for p in fresh]
                actor = await accounts.actor_for(s, account)
                await dossiers.record_document(
                    s,
                    self.core,
                    actor,
                    dossier,
                    requirement=grant.requirement,
                    pages=[
                        {
                            "path": str(Path("media") / f.path),
                            "sha256": f.sha256,
                            "mime": f.mime,
                            "pages": f.pages,
                            "size_bytes": f.size,
                            "quality_flags": [],
                        }
                        for f in stored
                    ],
                )
                done, total = (await status.summarise(s, self.core, dossier)).progress
        except DomainError as exc:  # nothing was saved: the link may be used again
            raise Refusal(409, N_("upload.refused_title"), exc.key, **exc.params) from None
        return account, dossier, sum(f.pages for f in stored), done, total

    # -- downloads -------------------------------------------------------------------------

    async def download(self, request: web.Request) -> web.StreamResponse:
        try:
            grant = self.signer.download_grant(request.match_info["token"])
        except LinkError as exc:
            status_code, title, message = _LINK_REFUSALS[exc.reason]
            if exc.reason == "expired":
                message = N_("upload.download_expired")
            return _refusal_page(None, Refusal(status_code, title, message))
        # The link names a registered file and the person it was given to; nothing else.
        async with self.sessions() as s:
            row = await s.get(ServedFile, grant.file_id)
            account = await s.get(Account, grant.account_id)
        path = None
        if row is not None and account is not None and row.account_id == account.id:
            path = servable_path(self.core.data_dir, row.path)
        if row is None or path is None:
            return _refusal_page(
                None, Refusal(404, N_("upload.gone_title"), N_("upload.download_gone"))
            )
        disposition = "inline" if row.mime.startswith("image/") else "attachment"
        return web.FileResponse(
            path,
            headers={
                "Content-Type": row.mime,
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{_quote(row.filename)}",
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )


def _once_key(grant: UploadGrant) -> str:
    return f"upload:{grant.nonce}"


def _quote(name: str) -> str:
    return quote(name, safe="")


def sweep_orphans(data_dir: Path) -> int:
    """At start-up: temporary upload files of a previous run, and stored media no document names
    (a crash between writing a file and committing its row). Returns how many were removed."""
    removed = 0
    tmp = data_dir / TMP_DIR
    if tmp.is_dir():
        for path in tmp.iterdir():
            path.unlink(missing_ok=True)
            removed += 1
    media = data_dir / "media"
    database = data_dir / "ocop.sqlite3"
    if media.is_dir() and database.is_file():
        removed += _sweep_media(data_dir, database)
    if removed:
        log.info("removed %d orphan file(s) from an earlier run", removed)
    return removed


def _sweep_media(data_dir: Path, database: Path) -> int:
    """Media files older than ORPHAN_AGE that no document row names (SQLite only: with
    PostgreSQL several hosts may share the media folder and this is left to the operator)."""
    import sqlite3

    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        known = {row[0] for row in db.execute("SELECT path FROM document")}
    cutoff = time.time() - ORPHAN_AGE
    removed = 0
    for path in (data_dir / "media").rglob("*"):
        relative = str(path.relative_to(data_dir))
        if path.is_file() and relative not in known and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


async def _read_files(request: web.Request, tmp_dir: Path) -> list[bytes]:
    """Every "file" part of a multipart form (several PDFs in one go), each at most MAX_UPLOAD
    bytes. A larger one is read to the end (up to a cap) and dropped, so the browser gets our
    page instead of a reset connection."""
    if not request.content_type.startswith("multipart/"):
        raise Refusal(400, N_("upload.refused_title"), N_("upload.no_file"), retry=True)
    files: list[bytes] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name != "file" or len(files) >= MAX_FILES:
                await part.release()
                continue
            data = await _read_part(part, tmp_dir)
            if data:
                files.append(data)
    except (ValueError, AssertionError):  # a malformed multipart body
        raise Refusal(400, N_("upload.refused_title"), N_("upload.no_file"), retry=True) from None
    if not files:
        raise Refusal(400, N_("upload.refused_title"), N_("upload.no_file"), retry=True)
    return files


async def _read_part(part: BodyPartReader, tmp_dir: Path) -> bytes:
    """One file part through a temporary file on disk: memory holds one chunk while reading."""
    handle = await asyncio.to_thread(
        tempfile.NamedTemporaryFile, dir=tmp_dir, suffix=".part", delete=False
    )
    try:
        with handle:
            too_big, read = await _copy_part(part, handle)
        if too_big or read > DRAIN_LIMIT:
            raise Refusal(
                413,
                N_("upload.refused_title"),
                N_("upload.too_big"),
                retry=True,
                mb=MAX_UPLOAD // 2**20,
            )
        return await asyncio.to_thread(Path(handle.name).read_bytes)
    finally:
        await asyncio.to_thread(Path(handle.name).unlink, missing_ok=True)


async def _copy_part(part: BodyPartReader, out: IO[bytes]) -> tuple[bool, int]:
    """Copy at most MAX_UPLOAD bytes; past that keep reading (up to a cap) and drop."""
    too_big = False
    read = 0
    while chunk := await part.read_chunk(256 * 1024):
        read += len(chunk)
        if read > DRAIN_LIMIT:
            break
        if not too_big:
            too_big = read > MAX_UPLOAD
            if not too_big:
                await asyncio.to_thread(out.write, chunk)
    return too_big, read
