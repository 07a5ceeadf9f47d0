"""``ocop-bot remind``: the reminder machinery by hand.

``remind --now T`` computes the fires as of ``T``, queues what is due then, and delivers the due
outbox through the configured channels (without polling for updates, so a running bot keeps its
conversations). Two runs at once send nothing twice: the computation takes a lock, fires are
claimed row by row, and outbox rows are leased. ``--dry-run`` does the same inside a transaction
that is rolled back and prints recipients, texts and counts.
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import select

from bot.app import App
from bot.cli.common import Print, on_app
from bot.cli.instants import parse_instant
from bot.outbox.delivery import DeliveryConfig, OutboxDelivery
from bot.outbox.scheduler import delivery_channels
from ocop_core.clock import VN_TZ, ShiftedClock
from ocop_core.db import transaction
from ocop_core.models import Outbox, OutboxStatus
from ocop_core.reminders import (
    ComputeStats,
    DispatchStats,
    QuietHours,
    compute_fires,
    dispatch_due,
    dispatch_in,
)

if TYPE_CHECKING:  # imported when configured: a run without Telegram never loads its library
    from bot.handlers.telegram_send import TelegramSender
    from bot.handlers.zalo_send import ZaloSender

__all__ = ["add_parsers", "remind"]


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("remind", help="compute reminders and send what is due now")
    parser.add_argument(
        "--now",
        type=parse_instant,
        default=None,
        help="act as if it were this instant, e.g. 2024-10-23T08:00:00+07:00 (default: now)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be sent")
    parser.set_defaults(func=on_app(run))


async def run(app: App, args: argparse.Namespace) -> int:
    return await remind(app, args.now or app.ctx.clock.now(), dry_run=args.dry_run)


def _counts(compute: ComputeStats, dispatch: DispatchStats) -> str:
    return (
        f"rounds: {compute.rolled} dossier(s) moved; "
        f"fires: {compute.wanted} wanted, {compute.written} written, {compute.cancelled} "
        f"cancelled, {compute.dropped} dropped; due now: {dispatch.due} → {len(dispatch.messages)} "
        f"message(s), {dispatch.late} late, {dispatch.superseded} superseded, "
        f"{dispatch.cancelled} no longer needed"
    )


async def remind(app: App, at: datetime, *, dry_run: bool, out: Print = print) -> int:
    clock = ShiftedClock(at)
    ctx = dataclasses.replace(app.ctx, clock=clock)
    quiet = QuietHours.parse(app.settings.quiet_hours, app.settings.tz)
    local = at.astimezone(VN_TZ)
    if quiet.contains(at):
        out(f"{local:%d/%m/%Y %H:%M} is inside the quiet hours ({app.settings.quiet_hours}).")
    if dry_run:
        async with app.sessions() as s:
            outer = await s.begin()
            try:
                computed = await compute_fires(s, ctx, wait_for_lock=True)
                dispatched = await dispatch_in(s, ctx, quiet=quiet)
            finally:
                await outer.rollback()  # a dry run leaves no trace
        for m in dispatched.messages:
            out(f"→ {m.name or m.account_id} ({m.channel} {m.chat_id}) [{m.kind}]")
            out("    " + m.text.replace("\n", "\n    "))
        out(_counts(computed, dispatched))
        recipients = len({m.account_id for m in dispatched.messages})
        out(f"dry run: {len(dispatched.messages)} message(s) to {recipients} person(s); none sent")
        return 0
    async with transaction(app.sessions) as s:
        computed = await compute_fires(s, ctx, wait_for_lock=True)
    dispatched = await dispatch_due(app.sessions, ctx, quiet=quiet)
    out(_counts(computed, dispatched))
    senders = await _open_senders(app)
    try:
        if not senders:
            out(
                f"{dispatched.queued} message(s) queued. No chat channel is configured here: "
                "`ocop-bot run` delivers them."
            )
            if at > datetime.now(UTC) + timedelta(minutes=1):
                out(f"They are due at {local:%d/%m/%Y %H:%M}, not before.")
            return 0
        delivery = OutboxDelivery(
            app.sessions,
            clock,
            delivery_channels(senders),
            DeliveryConfig(lease=app.settings.outbox_lease_seconds, quiet=quiet),
        )
        stats = await delivery.drain()
        out(f"delivered: {stats}")
        await _say_what_is_left(app, {sender.name for sender in senders}, out)
    finally:
        for sender in senders:
            await sender.close()
    return 0


async def _say_what_is_left(app: App, delivered: set[str], out: Print) -> None:
    """Queued rows of channels not configured here are not silently left behind."""
    async with app.sessions() as s:
        rows = (
            await s.exec(
                select(Outbox.channel, func.count())
                .where(Outbox.status == OutboxStatus.QUEUED)
                .group_by(Outbox.channel)
            )
        ).all()
    for channel, count in rows:
        if channel not in delivered and count:
            out(
                f"{count} {channel} message(s) left queued: {channel} is not configured here "
                f"(set its token, or let `ocop-bot run` with {channel} deliver them)."
            )


async def _open_senders(app: App) -> list[TelegramSender | ZaloSender]:
    """The configured channels' senders: they deliver, nothing receives (a running bot polls)."""
    senders: list[TelegramSender | ZaloSender] = []
    if app.settings.telegram_token:
        from bot.handlers.telegram_send import TelegramSender

        telegram = TelegramSender(app.settings)
        await telegram.start()
        senders.append(telegram)
    if app.settings.zalo_bot_token:
        from bot.handlers.links import LinkSigner, link_secret
        from bot.handlers.zalo_send import ZaloSender

        signer = LinkSigner(link_secret(app.settings), app.settings.public_url or "")
        senders.append(
            ZaloSender(
                app.settings, data_dir=app.ctx.data_dir, signer=signer, sessions=app.sessions
            )
        )
    return senders
