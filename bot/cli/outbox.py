"""``ocop-bot outbox stats``: what waits to be delivered, what is due, what failed, and the
reminder fires behind it."""

from __future__ import annotations

import argparse
from collections import Counter

from sqlalchemy import func
from sqlmodel import col, select

from bot.app import App
from bot.cli.common import Print, on_app, print_rows
from ocop_core.clock import VN_TZ
from ocop_core.models import Fire, FireStatus, Outbox, OutboxStatus


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    out = sub.add_parser("outbox", help="messages waiting to be delivered").add_subparsers(
        dest="outbox_cmd", required=True
    )
    stats = out.add_parser(
        "stats", help="counts by channel and status, what is due, recent failures"
    )
    stats.set_defaults(func=on_app(stats_command))


async def stats_command(app: App, args: argparse.Namespace) -> int:
    return await outbox_stats(app)


async def outbox_stats(app: App, out: Print = print) -> int:
    now = app.ctx.clock.now()
    async with app.sessions() as s:
        by = (
            await s.exec(
                select(Outbox.channel, Outbox.status, func.count()).group_by(
                    Outbox.channel, Outbox.status
                )
            )
        ).all()
        due = (
            await s.exec(
                select(func.count(), func.min(Outbox.created_at)).where(
                    Outbox.status == OutboxStatus.QUEUED, col(Outbox.next_attempt_at) <= now
                )
            )
        ).one()
        leased = (
            await s.exec(
                select(func.count()).where(
                    Outbox.status == OutboxStatus.QUEUED,
                    col(Outbox.next_attempt_at) > now,
                    col(Outbox.attempts) > 0,
                )
            )
        ).one()
        errors = (
            await s.exec(
                select(Outbox.last_error, func.count())
                .where(Outbox.status == OutboxStatus.FAILED)
                .group_by(Outbox.last_error)
                .order_by(func.count().desc())
                .limit(5)
            )
        ).all()
        fires = dict((await s.exec(select(Fire.status, func.count()).group_by(Fire.status))).all())
        next_fire = (
            await s.exec(select(func.min(Fire.fire_at)).where(Fire.status == FireStatus.PENDING))
        ).one()
    table: dict[str, Counter[str]] = {}
    for channel, status, n in by:
        table.setdefault(channel, Counter())[status] = int(n)
    statuses = [s.value for s in OutboxStatus]
    rows = [["CHANNEL", *(s.upper() for s in statuses)]]
    rows += [[ch, *(str(c[s]) for s in statuses)] for ch, c in sorted(table.items())]
    print_rows(rows, out)
    if not table:
        out("(the outbox is empty)")
    count, oldest = due
    line = f"due now: {count}"
    if oldest is not None:
        line += f" (oldest queued {(now - oldest).total_seconds() / 60:.0f} min ago)"
    out(f"{line}; in flight (leased): {leased}")
    for error, n in errors:
        out(f"failed {n}×: {error or '(no error text)'}")
    fire_line = ", ".join(f"{s.value} {fires.get(s.value, 0)}" for s in FireStatus)
    if next_fire is not None:
        fire_line += f"; next pending at {next_fire.astimezone(VN_TZ):%d/%m/%Y %H:%M}"
    out(f"fires: {fire_line}")
    return 0
