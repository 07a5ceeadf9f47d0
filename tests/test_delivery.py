"""Outbox delivery through the real TelegramChannel (python-telegram-bot) against the fake Bot API,
which enforces Telegram's flood limits: people who blocked the bot, chats that are gone, 429 for one
chat, an hour-long outage, quiet hours, and replies overtaking a fan-out."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.flows import build_flows
from bot.flows.router import Conversations
from bot.handlers.telegram import TelegramChannel
from bot.outbox.delivery import DeliveryConfig, OutboxDelivery
from bot.outbox.pacing import ChatPacer
from bot.settings import Settings
from ocop_core.clock import ShiftedClock
from ocop_core.db import make_engine, session_factory
from ocop_core.models import Account, AccountStatus, Outbox, OutboxStatus
from ocop_core.services.context import CoreContext
from ocop_core.services.outbox import PRIORITY_NOTICE, PRIORITY_REMINDER, enqueue_many
from tests.conftest import Core, vn_time
from tests.fakes.telegram_api import FakeTelegramServer, Person, RateLimits


class JumpClock(ShiftedClock):
    """Runs at real speed from a chosen instant, and can jump (an hour of outage in a second)."""

    def jump(self, delta: timedelta) -> None:
        self._offset += delta


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as fake:
        yield fake


@pytest.fixture
async def telegram(
    server: FakeTelegramServer, core: Core, tmp_path: Path
) -> AsyncIterator[TelegramChannel]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        telegram_token=server.token,
        telegram_api_url=server.base_url,
        telegram_file_url=server.base_file_url,
    )
    channel = TelegramChannel(settings, Conversations(core.sessions, core.ctx, build_flows()))
    await channel.app.initialize()
    yield channel
    await channel.app.shutdown()


async def _people(core: Core, server: FakeTelegramServer, n: int) -> list[tuple[Person, Account]]:
    out = []
    for i in range(n):
        person = server.person(first_name=f"P{i}")
        account, _ = await core.person(f"p{i}")
        async with core.session() as s:
            account = await s.get(Account, account.id)
            assert account is not None
            account.chat_id = str(person.id)
            s.add(account)
        out.append((person, account))
    return out


MORNING = vn_time(2024, 10, 23, 8, 0)


async def _queue(
    core: Core,
    accounts: list[Account],
    *,
    priority: int = PRIORITY_REMINDER,
    tag: str = "r",
    at: datetime = MORNING,
) -> None:
    async with core.session() as s:
        await enqueue_many(
            s,
            [
                (a, {"text": f"Nhắc hạn {tag} #{n}"}, f"{tag}:{n}", priority)
                for n, a in enumerate(accounts)
            ],
            now=at,
        )


async def _rows(core: Core) -> list[Outbox]:
    async with core.session() as s:
        return list((await s.exec(select(Outbox).order_by(Outbox.id))).all())


def _engine(
    core: Core, telegram: TelegramChannel, clock: JumpClock, **config: object
) -> OutboxDelivery:
    senders = {"telegram": telegram.sender}  # the channel receives; its sender delivers
    return OutboxDelivery(core.sessions, clock, senders, DeliveryConfig(**config))  # type: ignore[arg-type]


async def test_each_person_gets_their_message_once_within_limits(
    core: Core, server: FakeTelegramServer, telegram: TelegramChannel
) -> None:
    people = await _people(core, server, 40)
    await _queue(core, [a for _, a in people])
    # One officer with five reminders at once: their chat is paced at about 1/s after a burst.
    await _queue(core, [people[0][1]] * 5, tag="officer")
    clock = JumpClock(MORNING)
    stats = await _engine(core, telegram, clock).drain(timeout=60)
    assert stats.sent == 45 and stats.failed == stats.stopped == 0
    for person, _ in people[1:]:
        assert [m.text for m in person.inbox] == [f"Nhắc hạn r #{people.index((person, _))}"]
    assert len(people[0][0].inbox) == 6
    assert not server.rejections  # no 429, no refusal of any kind
    rows = await _rows(core)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)


async def test_blocked_person_and_vanished_chat_are_stopped(
    core: Core, server: FakeTelegramServer, telegram: TelegramChannel
) -> None:
    people = await _people(core, server, 3)
    blocked_person, blocked = people[0]
    blocked_person.block_bot(notify=False)
    _, gone = people[1]
    async with core.session() as s:
        account = await s.get(Account, gone.id)
        assert account is not None
        account.chat_id = "424242"  # a chat Telegram does not know (deleted account)
        s.add(account)
    await _queue(core, [blocked, (await _reload(core, gone)), people[2][1]])
    # A later message for the blocked person, not due yet.
    await _queue(core, [blocked], tag="later", at=MORNING + timedelta(hours=1))
    clock = JumpClock(MORNING)
    stats = await _engine(core, telegram, clock).drain(timeout=30)
    assert (stats.sent, stats.stopped, stats.failed) == (1, 2, 0)
    rows = await _rows(core)
    assert [r.status for r in rows] == [
        OutboxStatus.STOPPED,
        OutboxStatus.STOPPED,
        OutboxStatus.SENT,
        OutboxStatus.STOPPED,
    ]
    assert rows[0].last_error == "blocked" and rows[1].last_error == "gone"
    assert rows[3].attempts == 0  # stopped without being tried
    async with core.session() as s:
        statuses = {a.id: a.status for a in (await s.exec(select(Account))).all()}
    assert statuses[blocked.id] == statuses[gone.id] == AccountStatus.STOPPED
    assert statuses[people[2][1].id] == AccountStatus.ACTIVE
    assert [r.error_code for r in server.rejections] == [403, 400] or [
        r.error_code for r in server.rejections
    ] == [400, 403]


async def _reload(core: Core, account: Account) -> Account:
    async with core.session() as s:
        found = await s.get(Account, account.id)
        assert found is not None
        return found


async def test_retry_after_delays_that_chat_only(
    core: Core, server: FakeTelegramServer, telegram: TelegramChannel
) -> None:
    people = await _people(core, server, 6)
    slow_person, _ = people[0]
    server.inject("sendMessage", 429, retry_after=2, chat_id=slow_person.id)
    await _queue(core, [a for _, a in people])
    clock = JumpClock(MORNING)
    stats = await _engine(core, telegram, clock).drain(timeout=30)
    assert stats.sent == 6 and stats.deferred == 1 and stats.failed == 0
    sends = [r for r in server.calls("sendMessage") if r.ok]
    slow = next(r for r in sends if r.chat_id == slow_person.id)
    others = [r.at for r in sends if r.chat_id != slow_person.id]
    assert max(others) < slow.at and slow.at - min(others) >= 1.9
    assert [r.kind for r in server.rejections] == ["injected"]  # the bot caused no 429 itself
    rows = await _rows(core)
    assert all(r.attempts == 1 for r in rows)  # waiting for a 429 is not a failed attempt


async def test_platform_down_for_an_hour_then_everything_goes(
    core: Core, server: FakeTelegramServer, telegram: TelegramChannel
) -> None:
    people = await _people(core, server, 30)
    await _queue(core, [a for _, a in people])
    clock = JumpClock(MORNING)
    engine = _engine(core, telegram, clock, breaker_max=1.0, idle_poll=0.2)
    server.fail_all(502)
    await engine.start()
    try:
        await server.wait_until(lambda: len(server.rejections) >= 6, timeout=10)
        for _ in range(4):  # an hour passes in four jumps; the outage goes on
            clock.jump(timedelta(minutes=15))
            await asyncio.sleep(0.5)
        server.recover()
        clock.jump(timedelta(minutes=1))  # past the back-off of the last probes
        await server.wait_until(
            lambda: all(len(p.inbox) == 1 for p, _ in people), timeout=30, what="every message"
        )
    finally:
        await engine.stop()
    rows = await _rows(core)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    # The first batch was in flight when the outage began; after that the circuit breaker sent
    # one probe at a time, so an hour down cost each message at most a couple of attempts.
    attempts = Counter(r.attempts for r in rows)
    assert max(attempts) <= 3, attempts
    assert all(r.kind == "outage" for r in server.rejections)


async def test_rows_claimed_ahead_go_back_unsent_when_the_breaker_trips(
    core: Core, server: FakeTelegramServer, telegram: TelegramChannel
) -> None:
    """The outbox claims two seconds of sending ahead (57 rows at Telegram's pace). When the
    platform starts failing, the breaker trips after five failures, and the rows claimed with
    them go back to the queue without a request each and without losing an attempt. (Those
    already past the pacer when the fifth failure came back still go: on a busy machine a 502
    takes longer to come back, and more of them have passed by then.)"""
    people = await _people(core, server, 57)
    await _queue(core, [a for _, a in people])
    engine = _engine(core, telegram, JumpClock(MORNING), breaker_max=30.0)
    server.fail_all(502)
    await engine.start()
    try:
        await server.wait_until(
            lambda: engine.stats.retried + engine.stats.deferred >= 57,
            timeout=20,
            what=lambda: f"every row recorded once ({engine.stats})",
        )
    finally:
        await engine.stop()
    tried = len(server.rejections)
    assert 5 <= tried <= 30, tried  # the trip and what was on its way, not the whole buffer
    rows = await _rows(core)
    assert {r.status for r in rows} == {OutboxStatus.QUEUED}
    untouched = [r for r in rows if r.attempts == 0]
    assert len(untouched) >= 57 - tried, Counter(r.attempts for r in rows)


async def test_a_failed_claim_does_not_end_delivery(
    core: Core,
    server: FakeTelegramServer,
    telegram: TelegramChannel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A claim that fails (the database restarted under it) is logged and tried again: the
    delivery loop goes on and everyone still gets their message."""
    people = await _people(core, server, 3)
    await _queue(core, [a for _, a in people])
    engine = _engine(core, telegram, JumpClock(MORNING), idle_poll=0.05)
    claim, failed = engine._claim, []

    async def flaky(name: str, limit: int) -> list[Any]:
        if not failed:
            failed.append(name)
            raise ConnectionResetError("server closed the connection")
        return await claim(name, limit)

    monkeypatch.setattr(engine, "_claim", flaky)
    await engine.start()
    try:
        await server.wait_until(lambda: all(p.inbox for p, _ in people), timeout=10, what="all")
    finally:
        await engine.stop()
    assert failed == ["telegram"]


async def test_stopping_puts_back_what_waits_behind_the_pacer(
    core: Core, server: FakeTelegramServer, telegram: TelegramChannel
) -> None:
    """Stopped in the middle of a fan-out, delivery sends nothing more that was still waiting
    its turn: those rows are queued again at once for the next start, not leased for a minute."""
    people = await _people(core, server, 80)
    await _queue(core, [a for _, a in people])
    engine = _engine(core, telegram, JumpClock(MORNING))
    await engine.start()
    await server.wait_until(lambda: len(server.sent) >= 5, timeout=10, what="the first sends")
    await engine.stop()
    sent = len(server.sent)
    rows = await _rows(core)
    # At 28.5 messages/s the outbox had claimed 57 rows; the few past the pacer went out (more
    # on a busy machine, where the stop comes later after the fifth send).
    assert sum(r.status == OutboxStatus.SENT for r in rows) == sent <= 25
    waiting = [r for r in rows if r.status == OutboxStatus.QUEUED]
    assert len(waiting) == 80 - sent
    now = datetime.now(UTC)
    assert all(r.attempts == 0 and r.next_attempt_at <= now for r in waiting), waiting[:3]


async def test_quiet_hours_hold_reminders_but_not_notices(
    core: Core, server: FakeTelegramServer, telegram: TelegramChannel
) -> None:
    (p1, a1), (p2, a2) = await _people(core, server, 2)
    evening = vn_time(2024, 10, 23, 21, 0)
    await _queue(core, [a1], tag="reminder", at=evening)
    await _queue(core, [a2], priority=PRIORITY_NOTICE, tag="notice", at=evening)
    clock = JumpClock(vn_time(2024, 10, 23, 21, 0))
    await _engine(core, telegram, clock).drain(timeout=20)
    assert len(p2.inbox) == 1 and not p1.inbox
    clock.jump(timedelta(hours=9, minutes=59))  # 06:59
    await _engine(core, telegram, clock).drain(timeout=20)
    assert not p1.inbox
    clock.jump(timedelta(minutes=1))  # 07:00
    await _engine(core, telegram, clock).drain(timeout=20)
    assert [m.text for m in p1.inbox] == ["Nhắc hạn reminder #0"]


@pytest.mark.timeout(120)
async def test_replies_overtake_a_fan_out(
    core: Core, server: FakeTelegramServer, telegram: TelegramChannel
) -> None:
    """150 reminders at Telegram's 30/s take five seconds; a person asking for help meanwhile
    is answered before the fan-out ends, and the fake server never has to say 429. Checked as an
    order of events: each answer went out before fan-out messages that were queued before it was
    asked. (How fast the answers come is measured in bench/fanout.py; a wall-clock bound here would
    fail on a busy machine. The priority itself is test_pacer_keeps_a_reserve_for_replies.)"""
    assert server.rate_limits == RateLimits()  # Telegram's own limits
    people = await _people(core, server, 150)
    await _queue(core, [a for _, a in people])
    asker = server.person(first_name="Hỏi")
    clock = JumpClock(MORNING)
    engine = _engine(core, telegram, clock)
    await telegram.start()  # polling into the inbox
    await engine.start()

    def fanned() -> int:
        return sum(1 for r in server.calls("sendMessage") if r.chat_id != asker.id)

    latencies, asked_at = [], []
    try:
        await server.wait_until(lambda: fanned() >= 10, 20, what="the fan-out going")
        # Ask while plenty is still queued (60 = two seconds of Telegram's rate), up to 5 times.
        while len(asked_at) < 5 and fanned() <= 150 - 60:
            asked_at.append(fanned())
            started = time.monotonic()
            await asker.send_text("/trogiup")
            await asker.wait_for_messages(1, timeout=10)
            latencies.append(time.monotonic() - started)
        await server.wait_until(lambda: all(p.inbox for p, _ in people), timeout=30)
    finally:
        await engine.stop()
        await telegram.stop()
    print(f"\nreply latencies during the fan-out: {[round(x, 2) for x in latencies]} s")
    assert not [r for r in server.rejections if r.error_code == 429]
    assert asked_at and len(asker.inbox) == len(asked_at)  # asked during the fan-out, all answered
    # Each answer went out while the fan-out had messages left: some of them after the answer.
    sends = sorted(r.at for r in server.calls("sendMessage") if r.chat_id != asker.id)
    replies = sorted(r.at for r in server.calls("sendMessage") if r.chat_id == asker.id)
    assert len(sends) == 150 and len(replies) == len(asked_at)
    for before, reply in zip(asked_at, replies, strict=True):
        after = sum(1 for at in sends if at > reply)
        assert after > 0, (before, after)


def test_pacer_keeps_a_reserve_for_replies() -> None:
    now = [0.0]
    pacer = ChatPacer(global_rate=10.0, clock=lambda: now[0])

    async def scenario() -> None:
        # Bulk drains the global bucket down to the reserve, never below it.
        taken = 0
        while True:
            waiter = asyncio.ensure_future(pacer.acquire_bulk(f"bulk-{taken}"))
            await asyncio.sleep(0)
            if not waiter.done():
                waiter.cancel()
                break
            taken += 1
        assert taken == int(pacer._global.capacity) - pacer.reserve
        # A reply still goes at once.
        await asyncio.wait_for(pacer.wait("reply"), 0.1)
        # A chat told to wait (429) waits; others are not affected.
        pacer.backoff("busy", 5.0)
        assert pacer.chat_wait("busy") == pytest.approx(5.0)
        assert pacer.chat_wait("other") == 0.0

    asyncio.run(scenario())


async def test_chat_rate_setting_paces_each_chat(sqlite_url: str, tmp_path: Path) -> None:
    """OCOP_TELEGRAM_CHAT_RATE reaches the Telegram sender's pacer (the e2e journeys run the fake at
    Telegram's limits ×5 and the bot with this ×5): after a burst of 3 in one chat, the next
    message waits 1/(0.9 × rate) s."""
    engine = make_engine(sqlite_url)
    conversations = Conversations(
        session_factory(engine), CoreContext(data_dir=tmp_path / "d"), build_flows()
    )
    waits = {}
    for rate in (1.0, 5.0):
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path / "var",
            telegram_token="123:ABC",
            telegram_chat_rate=rate,
        )
        channel = TelegramChannel(settings, conversations)
        for _ in range(3):
            await asyncio.wait_for(channel.sender.pacer.wait("42"), 1)
        waits[rate] = channel.sender.pacer.chat_wait("42")
    await engine.dispose()
    assert waits[5.0] <= 1 / 4.5 < 0.5 < waits[1.0] <= 1 / 0.9, waits


def test_jump_clock_starts_where_told() -> None:
    at = datetime(2024, 10, 23, 1, 0, tzinfo=UTC)
    clock = JumpClock(at)
    assert abs((clock.now() - at).total_seconds()) < 1
    clock.jump(timedelta(hours=1))
    assert abs((clock.now() - at).total_seconds() - 3600) < 1


async def test_persistent_errors_end_failed_after_the_retries(
    core: Core, server: FakeTelegramServer, telegram: TelegramChannel
) -> None:
    (broken, account), (fine, other) = await _people(core, server, 2)
    server.inject("sendMessage", 500, times=None, chat_id=broken.id)  # this chat always fails
    await _queue(core, [account, other])
    clock = JumpClock(MORNING)
    engine = _engine(core, telegram, clock, max_attempts=3, breaker_after=100, drain_horizon=0)
    for _ in range(3):
        await engine.drain(timeout=20)
        clock.jump(timedelta(hours=1))  # past any back-off
    rows = await _rows(core)
    assert [(r.status, r.attempts) for r in rows] == [
        (OutboxStatus.FAILED, 3),
        (OutboxStatus.SENT, 1),
    ]
    assert "Internal Server Error" in rows[0].last_error
    assert len(fine.inbox) == 1 and not broken.inbox
    assert engine.stats.retried == 2 and engine.stats.failed == 1
