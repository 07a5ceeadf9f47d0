"""Benchmark: many people registering at once through Telegram, against a bare echo bot.

Both bots are real processes using the real python-telegram-bot over real HTTP (loopback) against
the fake Bot API server in this process. Our bot is the real ``ocop-bot run`` on SQLite. The fake's
flood control is off here: this measures the bot, not Telegram's limits (per-chat pacing of our
own bot still applies, as in production).

Phase 1, saturation: P people each send their next message once the previous answer arrived
and at least 1.1 s after their previous one (people, not a flood); updates/s for ours
(registration dialogs) and for the echo bot (text echo), side by side.
Phase 2, latency at a fixed offered load of 50 updates/s: p50/p99 from update injected to reply
received. Targets: ours ≥ 50 % of echo's throughput; p99 ≤ 250 ms at 50 updates/s.

    python bench/telegram_throughput.py [--people 60] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._registration import STEPS
from ocop_core.admin_units import fold
from tests.botprocess import BotProcess
from tests.fakes.telegram_api import FakeTelegramServer, Person, RateLimits

ECHO = Path(__file__).resolve().parent / "_echo_bot.py"


async def _act(p: Person, step: tuple[str, str]) -> None:
    action, arg = step
    if action == "say":
        await p.send_text(arg)
    elif action == "contact":
        await p.share_contact(arg)
    else:
        message = p.chat.last_keyboard_message()
        assert message is not None, p.last_text()
        wanted = fold(arg)
        label = next(b for b in message.button_labels if wanted in fold(b))
        await p.press(label)


async def _turn(p: Person, step: tuple[str, str], latencies: list[float]) -> None:
    start = time.perf_counter()
    await _act(p, step)
    await p.wait_for_messages(1, timeout=60)
    latencies.append((time.perf_counter() - start) * 1000)


async def _paced_turn(p: Person, step: tuple[str, str], latencies: list[float]) -> None:
    """A person sends their next message no sooner than 1.1 s after the previous one:
    saturation comes from many people, as in real life, not from one person flooding."""
    start = time.perf_counter()
    await _turn(p, step, latencies)
    rest = 1.1 - (time.perf_counter() - start)
    if rest > 0:
        await asyncio.sleep(rest)


async def _ours_saturated(server: FakeTelegramServer, people: int, seconds: float) -> float:
    done = 0
    stop_at = time.perf_counter() + seconds
    latencies: list[float] = []

    async def one(n: int) -> None:
        nonlocal done
        p = server.person(first_name=f"P{n}", language_code="vi")
        for step in STEPS:
            if time.perf_counter() > stop_at:
                return
            await _paced_turn(p, step, latencies)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(people)))
    return done / (time.perf_counter() - start)


async def _echo_saturated(server: FakeTelegramServer, people: int, seconds: float) -> float:
    done = 0
    stop_at = time.perf_counter() + seconds
    latencies: list[float] = []

    async def one(n: int) -> None:
        nonlocal done
        p = server.person(first_name=f"E{n}", language_code="vi")
        i = 0
        while time.perf_counter() < stop_at:
            await _paced_turn(p, ("say", f"tin nhắn {i}"), latencies)
            done += 1
            i += 1

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(people)))
    return done / (time.perf_counter() - start)


async def _fixed_rate(server: FakeTelegramServer, rate: float, seconds: float) -> list[float]:
    """Open loop: a new person starts a dialog step every 1/rate s; each person at most one
    message in flight, and never more than one per 1.1 s (as a person would)."""
    latencies: list[float] = []
    total = int(rate * seconds)
    per_person = len(STEPS)
    people = [
        server.person(first_name=f"R{n}", language_code="vi")
        for n in range(total // per_person + 60)
    ]
    progress = dict.fromkeys(range(len(people)), 0)
    busy: set[int] = set()
    last_sent = dict.fromkeys(range(len(people)), 0.0)
    tasks = []

    async def step(i: int) -> None:
        busy.add(i)
        try:
            await _turn(people[i], STEPS[progress[i]], latencies)
            progress[i] += 1
        finally:
            busy.discard(i)

    start = time.perf_counter()
    for k in range(total):
        target = start + k / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.perf_counter()
        candidates = [i for i in people_order(progress, busy, last_sent, now, per_person)]
        if not candidates:
            continue
        i = candidates[0]
        last_sent[i] = now
        tasks.append(asyncio.create_task(step(i)))
    await asyncio.gather(*tasks)
    return latencies


def people_order(
    progress: dict[int, int],
    busy: set[int],
    last_sent: dict[int, float],
    now: float,
    per_person: int,
) -> list[int]:
    return [
        i
        for i in progress
        if i not in busy and progress[i] < per_person and now - last_sent[i] >= 1.1
    ][:1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ocop-tg-bench-"))
    async with FakeTelegramServer(rate_limits=RateLimits.disabled()) as server:
        # The fake's flood control is off, so our global pacing is lifted to match: both bots
        # are measured on their own work. Flood limits are exercised by bench/fanout.py.
        env = {
            "OCOP_TELEGRAM_TOKEN": server.token,
            "OCOP_TELEGRAM_API_URL": server.base_url,
            "OCOP_TELEGRAM_FILE_URL": server.base_file_url,
            "OCOP_LOG_LEVEL": "WARNING",
            "OCOP_TELEGRAM_GLOBAL_RATE": "10000",
        }
        echo = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ECHO),
            server.base_url,
            server.token,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ},
        )
        assert echo.stdout is not None
        await echo.stdout.readline()  # "ready"
        echo_rate = await _echo_saturated(server, args.people, args.seconds)
        echo.terminate()
        await echo.wait()
        await server.drain_updates()
        bot = BotProcess(tmp / "var", env)
        await bot.start()
        try:
            ours_rate = await _ours_saturated(server, args.people, args.seconds)
            latencies = await _fixed_rate(server, 50.0, args.seconds)
        finally:
            await bot.stop()
    ratio = ours_rate / echo_rate if echo_rate else 0.0
    p50, p99 = statistics.median(latencies), _pct(latencies, 0.99)
    print(f"{'bot':<34} {'updates/s':>10}")
    print(f"{'echo (bare python-telegram-bot)':<34} {echo_rate:>10.1f}")
    print(f"{'ocop-bot (registration dialogs)':<34} {ours_rate:>10.1f}")
    print(f"ratio ours/echo: {ratio:.0%}  (target >= 50%: {'ok' if ratio >= 0.5 else 'MISSED'})")
    print(
        f"at 50 updates/s offered ({len(latencies)} updates): p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms  (target p99 <= 250 ms: {'ok' if p99 <= 250 else 'MISSED'})"
    )


if __name__ == "__main__":
    asyncio.run(main())
