"""Open-loop load for the throughput benchmarks: a fixed schedule of sends whatever the bot does.

A step offers ``rate`` updates/s for ``seconds``: send k goes out at ``start + k / rate`` from
person ``k mod people`` (so each person sends every ``people / rate`` seconds, like many people
writing at once, never one person flooding). The latency of an update is from the moment it was
offered to the first bot message the fake server saw in that chat afterwards; a bot message when
nothing is outstanding in its chat (a second message of the same answer) is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

P99_TARGET_MS = 250.0
WARM_UP_RATE = 50.0
GRACE = 5.0  # seconds after the last send for answers to arrive before they count as missing


@dataclass
class Replies:
    """Outstanding updates per chat and the latencies of those answered."""

    outstanding: dict[object, deque[float]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)

    def offered(self, chat: object, at: float) -> None:
        self.outstanding.setdefault(chat, deque()).append(at)

    def seen(self, chat: object, at: float) -> None:
        """The fake saw a bot message in ``chat`` (call from the fake's send hook)."""
        queue = self.outstanding.get(chat)
        if queue:
            self.latencies_ms.append((at - queue.popleft()) * 1000)
            self.answered_at.append(at)

    def missing(self) -> int:
        return sum(len(q) for q in self.outstanding.values())


@dataclass
class StepResult:
    rate: float
    offered_rate: float
    replies_per_s: float
    p50_ms: float
    p99_ms: float
    unanswered: int
    offered: int

    @property
    def sustainable(self) -> bool:
        return self.unanswered == 0 and self.p99_ms <= P99_TARGET_MS


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_step(
    rate: float,
    seconds: float,
    people: int,
    send: Callable[[int, Replies], Awaitable[None]],
    fake: Any,
) -> StepResult:
    """Offer ``rate`` updates/s for ``seconds``; ``send(i, replies)`` makes person ``i`` send one
    update and must call ``replies.offered(chat, time.perf_counter())`` as it is queued. ``fake``
    (a ``tests.fakes.base.FakeServer``) calls ``fake.replies.seen(chat, t)`` for each bot
    message."""
    replies = fake.replies = Replies()
    total = max(1, int(rate * seconds))
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for k in range(total):
        delay = start + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(k % people, replies)))
    await asyncio.gather(*tasks)
    last_send = time.perf_counter()
    with contextlib.suppress(TimeoutError):
        await fake.wait_until(lambda: not replies.missing(), GRACE, recheck=0.05)
    with contextlib.suppress(TimeoutError):  # the bot finishes its backlog before the next step
        await fake.wait_idle(30)
    elapsed = max(1e-9, last_send - start)
    answered = replies.answered_at
    span = max(1e-9, (max(answered) if answered else last_send) - start)
    return StepResult(
        rate=rate,
        offered_rate=(total - 1) / elapsed if total > 1 else float(total),
        replies_per_s=len(answered) / span,
        p50_ms=pct(replies.latencies_ms, 0.5),
        p99_ms=pct(replies.latencies_ms, 0.99),
        unanswered=replies.missing(),
        offered=total,
    )


def print_table(name: str, results: list[StepResult]) -> None:
    print(f"\n{name}")
    print(
        f"  {'rate':>6} {'offered/s':>10} {'replies/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'unanswered':>10}"
    )
    for r in results:
        mark = "" if r.sustainable else "  (not sustainable)"
        print(
            f"  {r.rate:>6.0f} {r.offered_rate:>10.1f} {r.replies_per_s:>10.1f} {r.p50_ms:>8.0f} "
            f"{r.p99_ms:>8.0f} {r.unanswered:>10d}{mark}"
        )


def sustainable_rate(results: list[StepResult]) -> float:
    """The highest step with p99 ≤ 250 ms and nothing unanswered (0 if none)."""
    ok = [r.rate for r in results if r.sustainable]
    return max(ok) if ok else 0.0


def print_summary(ours: list[StepResult], echo: list[StepResult], baseline: str) -> None:
    s_ours, s_echo = sustainable_rate(ours), sustainable_rate(echo)
    ratio = s_ours / s_echo if s_echo else 0.0
    print(
        f"\nsustainable rate (p99 <= {P99_TARGET_MS:.0f} ms, nothing unanswered): "
        f"ocop-bot {s_ours:.0f}/s, {baseline} {s_echo:.0f}/s; ratio {ratio:.2f} (goal >= 0.5)"
    )


async def step_both(
    rates: list[float],
    seconds: float,
    people: int,
    run_ours: Callable[[float, float], Awaitable[StepResult]],
    run_echo: Callable[[float, float], Awaitable[StepResult]],
) -> tuple[list[StepResult], list[StepResult]]:
    """Every step for the baseline, then for ours, alternating so both see the same machine;
    a bot is not offered higher rates after a step it could not sustain. First a warm-up that
    is not counted: every person writes once at ``WARM_UP_RATE`` (first contact creates the
    account; the process loads what it loads once), so the steps measure the steady state."""
    for name, run in (("baseline", run_echo), ("ocop-bot", run_ours)):
        warm = await run(WARM_UP_RATE, people / WARM_UP_RATE)
        print(f"  {name} warm-up at {WARM_UP_RATE:.0f}/s: p99 {warm.p99_ms:.0f} ms", flush=True)
    ours: list[StepResult] = []
    echo: list[StepResult] = []
    for rate in rates:
        if not echo or echo[-1].sustainable:
            echo.append(await run_echo(rate, seconds))
            print(f"  baseline at {rate:.0f}/s: p99 {echo[-1].p99_ms:.0f} ms", flush=True)
        if not ours or ours[-1].sustainable:
            ours.append(await run_ours(rate, seconds))
            print(f"  ocop-bot at {rate:.0f}/s: p99 {ours[-1].p99_ms:.0f} ms", flush=True)
        if not echo[-1].sustainable and not ours[-1].sustainable:
            break
    return ours, echo


def stepper(
    server: Any, persons: list[Any], text: str
) -> Callable[[float, float], Awaitable[StepResult]]:
    """One step's runner for a bot behind ``server``: ``persons`` each send ``text`` on the
    schedule, the moment of offering recorded against their chat id."""

    async def send(i: int, replies: Replies) -> None:
        replies.offered(persons[i].id, time.perf_counter())
        await persons[i].send_text(text)

    async def run(rate: float, seconds: float) -> StepResult:
        return await run_step(rate, seconds, len(persons), send, server)

    return run


@contextlib.asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[str]:
    """A PostgreSQL URL made into a new, empty database for this run (dropped afterwards), so
    a run never meets the inbox rows of an earlier one: the fakes number updates from 1 each
    time, and a stored update id is a redelivery the bot ignores. Other URLs pass through."""
    if not url or make_url(url).get_backend_name() != "postgresql":
        yield url
        return
    name = f"{make_url(url).database or 'ocop'}_run{os.getpid()}"
    admin = create_async_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def parse_args(doc: str) -> argparse.Namespace:
    """The options every open-loop throughput bench takes."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--rates", default="25,50,75,100,125,150,200,250,300")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--people", type=int, default=300)
    ap.add_argument("--database-url", default="", help="e.g. postgresql+asyncpg://…/bench")
    return ap.parse_args()
