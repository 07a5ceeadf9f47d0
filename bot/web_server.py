"""The aiohttp server every channel shares: limits that do not trust the client, /health and
/metrics.

- A request whose headers do not arrive within ``web_header_timeout`` is cut (aiohttp closes a
  connection that has not delivered a complete request by its keep-alive deadline).
- A handler that is still reading or working after ``web_request_timeout`` answers 408 (uploads
  get ``web_upload_timeout``: a 20 MB PDF over a weak phone connection takes minutes).
- Bodies read whole are capped at 1 MB (webhooks check their own, smaller caps); uploads are
  streamed to a temporary file by the upload page, a few at a time.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, text
from sqlmodel import col, select

from bot import metrics
from ocop_core.models import InboxItem, InboxStatus

log = logging.getLogger("ocop.web")

MAX_BODY = 1024 * 1024
UPLOAD_PREFIX = "/link/u/"
# Requests that carry files get the upload timeout (the desk's Excel import reads 20,000 rows).
SLOW_PREFIXES = (UPLOAD_PREFIX, "/desk/import")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def free_bytes(path: Path) -> int:
    """Free space where the data directory lives (tests patch this probe)."""
    return shutil.disk_usage(path).free


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None as soon as it exceeds ``limit`` bytes (declared or chunked)."""
    if (request.content_length or 0) > limit:
        return None
    raw = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        raw += chunk
        if len(raw) > limit:
            return None
    return bytes(raw)


def request_timeouts(request_timeout: float, upload_timeout: float) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        limit = upload_timeout if request.path.startswith(SLOW_PREFIXES) else request_timeout
        try:
            async with asyncio.timeout(limit):
                return await handler(request)
        except TimeoutError:
            log.info("a request took longer than %.0f s and was cut", limit)
            return web.Response(status=408, text="Request Timeout")

    return middleware


class HealthRoutes:
    """``/health``: 200 when the database answers and the disk has room, else 503 with the
    reason; ``/metrics``: Prometheus text format."""

    def __init__(
        self,
        app: Any,  # bot.app.App
        *,
        min_free_bytes: int,
        channels: list[str] | None = None,
    ) -> None:
        self.app = app
        self.min_free_bytes = min_free_bytes
        self.channels = channels or []

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_get("/health", self.health)
        web_app.router.add_get("/metrics", self.metrics)

    async def _database_ok(self) -> str | None:
        try:
            async with asyncio.timeout(5):
                async with self.app.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure is "not healthy", named briefly
            return f"database: {type(exc).__name__}"
        return None

    async def _disk_ok(self) -> str | None:
        try:
            free = await asyncio.to_thread(free_bytes, self.app.settings.data_dir)
        except OSError as exc:
            return f"disk: {exc.strerror}"
        if free < self.min_free_bytes:
            return f"disk: {free // 2**20} MB free, below {self.min_free_bytes // 2**20} MB"
        return None

    async def health(self, _request: web.Request) -> web.Response:
        problems = [p for p in (await self._database_ok(), await self._disk_ok()) if p]
        if problems:
            log.warning("health check failed: %s", "; ".join(problems))
            return web.json_response({"ok": False, "problems": problems}, status=503)
        return web.json_response({"ok": True})

    async def metrics(self, _request: web.Request) -> web.Response:
        try:
            async with self.app.sessions() as s:
                rows = (
                    await s.exec(
                        select(InboxItem.channel, func.count())
                        .where(
                            col(InboxItem.status).in_([InboxStatus.PENDING, InboxStatus.ANSWERING])
                        )
                        .group_by(InboxItem.channel)
                    )
                ).all()
            backlog = dict(rows)
            for channel in {*self.channels, *backlog}:
                metrics.INBOX_BACKLOG.labels(channel).set(backlog.get(channel, 0))
        except Exception:
            log.warning("metrics: the inbox backlog could not be read")
        body = generate_latest(metrics.REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_web_app(settings: Any) -> web.Application:
    return web.Application(
        client_max_size=MAX_BODY,
        middlewares=[request_timeouts(settings.web_request_timeout, settings.web_upload_timeout)],
    )
