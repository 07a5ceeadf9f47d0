"""Composition: settings → database → core context → channels, in one process."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.doctor import announce_startup
from bot.flows import build_flows
from bot.flows.router import Conversations
from bot.handlers.terminal import chat
from bot.handlers.upload_page import sweep_orphans
from bot.outbox.scheduler import ReminderScheduler
from bot.settings import Settings, SettingsError
from bot.web import Desk
from bot.web_server import HealthRoutes, build_web_app
from ocop_core.admin_units import sync_admin_units
from ocop_core.clock import Clock, SystemClock
from ocop_core.db import make_engine, session_factory, transaction, upgrade
from ocop_core.plans import PlanRegistry
from ocop_core.services import accounts
from ocop_core.services.context import CoreContext

log = logging.getLogger("ocop.app")


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    ctx: CoreContext


async def prepare_database(engine: AsyncEngine) -> None:
    """Migrate to the latest schema and make sure the administrative units are loaded."""
    await upgrade(engine)
    async with transaction(session_factory(engine)) as s:
        added = await sync_admin_units(s)
    if added:
        log.info("loaded %d administrative units", added)


@asynccontextmanager
async def open_app(settings: Settings, clock: Clock | None = None) -> AsyncIterator[App]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        try:
            await prepare_database(engine)
        except (DBAPIError, OSError) as exc:
            raise SettingsError(database_problem(settings, exc)) from None
        ctx = CoreContext(
            clock=clock or SystemClock(),
            plans=PlanRegistry([settings.plans_dir]),
            data_dir=settings.data_dir,
            limits=settings.attempt_limits(),
        )
        yield App(settings, engine, session_factory(engine), ctx)
    finally:
        await engine.dispose()


def database_problem(settings: Settings, exc: BaseException) -> str:
    """One line naming the database and what to do, instead of a traceback."""
    url = make_url(settings.database_url)
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:160]
    if url.get_backend_name() == "sqlite":
        return (
            f"database error: {url.database} cannot be used ({detail}). If the file is damaged, "
            "stop the bot, move it away and restore the latest backup (or start empty), or point "
            "OCOP_DATABASE_URL elsewhere."
        )
    shown = url.render_as_string(hide_password=True)
    return (
        f"database error: cannot use {shown} ({detail}). Check that PostgreSQL is running and "
        "reachable and that OCOP_DATABASE_URL is right."
    )


def channel_report(settings: Settings) -> list[str]:
    """One plain line per channel saying whether it will run, and how to turn it on."""
    lines = []
    if settings.telegram_token:
        mode = "webhook" if settings.public_url else "polling"
        if settings.public_url and settings.telegram_webhook_secret is None:
            mode += ", secret derived from the token"
        lines.append(f"Telegram: configured ({mode})")
    else:
        lines.append("Telegram: not configured (set OCOP_TELEGRAM_TOKEN to enable)")
    if settings.zalo_bot_token:
        mode = "webhook" if settings.public_url else "polling"
        lines.append(f"Zalo: configured ({mode})")
    else:
        lines.append("Zalo: not configured (set OCOP_ZALO_BOT_TOKEN to enable)")
    return lines


async def mark_stopped(app: App, channel: str, chat_id: str) -> None:
    """The person blocked the bot: stop sending to them until they write again."""
    async with transaction(app.sessions) as s:
        await accounts.mark_stopped(s, channel=channel, chat_id=chat_id)


def _web_app(app: App) -> web.Application:
    """The shared web server with its limits, /health and /metrics (channels add their routes)."""
    settings = app.settings
    web_app = build_web_app(settings)
    names = [
        n
        for n, on in (("telegram", settings.telegram_token), ("zalo", settings.zalo_bot_token))
        if on
    ]
    HealthRoutes(app, min_free_bytes=settings.min_free_mb * 2**20, channels=names).add_routes(
        web_app
    )
    return web_app


async def _listen(web_app: web.Application, settings: Settings) -> tuple[web.AppRunner, int]:
    """Start listening; a port that cannot be had stops start-up with one line."""
    # Headers must arrive within the keep-alive deadline, or aiohttp closes the connection.
    runner = web.AppRunner(web_app, keepalive_timeout=settings.web_header_timeout)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.web_host, settings.web_port, reuse_port=settings.web_reuse_port or None
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise SettingsError(
            f"configuration error: OCOP_WEB_PORT: cannot listen on {settings.web_host}:"
            f"{settings.web_port} ({exc.strerror}); choose a free port"
        ) from None
    return runner, runner.addresses[0][1] if runner.addresses else settings.web_port


async def serve(settings: Settings) -> None:
    """``ocop-bot run``: migrate, start the web server and the configured channels, wait."""
    async with open_app(settings) as app:
        for line in channel_report(settings):
            print(line, flush=True)
        web_app = _web_app(app)
        await asyncio.to_thread(sweep_orphans, settings.data_dir)
        secure = not (settings.public_url or "").startswith("http://")
        Desk(app.sessions, app.ctx, secure_cookie=secure).add_routes(web_app)
        conversations = Conversations(app.sessions, app.ctx, build_flows())
        channels: list[Any] = []
        if settings.telegram_token:
            from bot.handlers.telegram import TelegramChannel

            async def blocked(chat_id: str) -> None:
                await mark_stopped(app, "telegram", chat_id)

            telegram = TelegramChannel(settings, conversations, on_blocked=blocked)
            telegram.add_routes(web_app)
            channels.append(telegram)
        zalo = None
        if settings.zalo_bot_token:
            from bot.handlers.zalo import build_zalo

            zalo = build_zalo(settings, app.sessions, app.ctx, conversations, web_app)
            channels.append(zalo)
        runner, port = await _listen(web_app, settings)
        print(
            f"Web server on http://{settings.web_host}:{port} (database: "
            f"{app.engine.url.get_backend_name()})",
            flush=True,
        )
        app.ctx.web_url = settings.public_url or f"http://{settings.web_host}:{port}"
        announce_startup(settings, port)  # what `ocop-bot doctor` would flag, once
        if zalo is not None:  # links point here when there is no public URL
            zalo.set_local_url(f"http://{settings.web_host}:{port}")
        for channel in channels:
            await channel.start()
        reminders = ReminderScheduler(app, [channel.sender for channel in channels])
        await reminders.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        if not (settings.telegram_token or settings.zalo_bot_token) and sys.stdin.isatty():
            # Nothing to connect to: give a newcomer the bot right here in the terminal.
            print(
                "No chat channel configured: talking in this terminal (Ctrl+D quits).", flush=True
            )
            user = os.environ.get("USER") or "local"
            task = asyncio.create_task(
                chat(app.sessions, app.ctx, user, locale=settings.default_locale)
            )
            task.add_done_callback(lambda _t: stop.set())
        # Everything made so far (modules, catalogs, plans, the ORM's registries) lives as long as
        # the process: out of the collector's sight, a full collection no longer walks it, which
        # under a fan-out stalled the loop ~0.1 s every few seconds (bench/README.md, finding 9).
        gc.freeze()
        print("Ready. Stop with Ctrl+C.", flush=True)
        try:
            await stop.wait()
        finally:
            await reminders.stop()  # before the channels: sends in flight finish and are recorded
            for channel in channels:
                await channel.stop()
            await runner.cleanup()
            print("Stopped.", flush=True)
