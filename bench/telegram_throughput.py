"""Benchmark, open loop: what update rate can ocop-bot sustain on Telegram, next to a bare
python-telegram-bot echo bot?

Both bots are real processes using the real python-telegram-bot over real HTTP (loopback), each
against its own fake Bot API server in this process (same code, same settings), in the same run:
every rate step is offered to the echo bot, then to ours, so both meet the same machine.
Our bot is the real ``ocop-bot run`` (SQLite unless ``--database-url``). Pacing limits are raised
for both (the fake's flood control off, ``OCOP_TELEGRAM_GLOBAL_RATE`` very high, and enough
people that nobody sends more than one message per 2 s, under the per-chat pace): this measures
processing; ``bench/fanout.py`` measures the platform's limits.

Each step offers a fixed rate (a schedule of sends, see ``bench/_openloop.py``) from at least
300 people: they send ``/start`` to ours (account lookup, conversation state, an answer with a
keyboard) and a text to the echo bot. Printed per step and bot: offered rate, replies/s,
p50/p99 latency (update offered → first reply seen by the fake), unanswered; then the
sustainable rate of each (highest step with p99 ≤ 250 ms and nothing unanswered) and the ratio.

    python bench/telegram_throughput.py [--rates 25,50,75,100,125,150,200,250,300] [--seconds 10]
                                        [--people 300] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._openloop import (
    Replies,
    fresh_database,
    parse_args,
    print_summary,
    print_table,
    step_both,
    stepper,
)
from tests.botprocess import BotProcess
from tests.fakes.telegram_api import Chat, FakeTelegramServer, RateLimits, SentMessage

ECHO = Path(__file__).resolve().parent / "_echo_bot.py"
ECHO_TOKEN = "987654321:AAE-echo-baseline-token-for-the-bench-000"


class TimedFake(FakeTelegramServer):
    """The fake, telling the benchmark the moment it accepts each bot message."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(rate_limits=RateLimits.disabled(), **kwargs)
        self.replies = Replies()

    def _bot_message(self, chat: Chat, **kwargs: Any) -> SentMessage:
        sent = super()._bot_message(chat, **kwargs)
        self.replies.seen(chat.id, time.perf_counter())
        return sent


def people_of(server: TimedFake, people: int) -> list[Any]:
    return [server.person(first_name=f"P{n}", language_code="vi") for n in range(people)]


async def main(args: argparse.Namespace) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    people = max(args.people, int(2 * max(rates)))  # nobody above 0.5 messages/s
    tmp = Path(tempfile.mkdtemp(prefix="ocop-tg-bench-"))
    print(f"open loop, {args.seconds:.0f} s per step, {people} people, steps {rates}", flush=True)
    async with (
        fresh_database(args.database_url) as database_url,
        TimedFake() as ours_fake,
        TimedFake(token=ECHO_TOKEN) as echo_fake,
    ):
        env = {
            "OCOP_TELEGRAM_TOKEN": ours_fake.token,
            "OCOP_TELEGRAM_API_URL": ours_fake.base_url,
            "OCOP_TELEGRAM_FILE_URL": ours_fake.base_file_url,
            "OCOP_LOG_LEVEL": "WARNING",
            "OCOP_TELEGRAM_GLOBAL_RATE": "10000",
        }
        if database_url:
            env["OCOP_DATABASE_URL"] = database_url
        echo = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ECHO),
            echo_fake.base_url,
            echo_fake.token,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ},
        )
        assert echo.stdout is not None
        await echo.stdout.readline()  # "ready"
        bot = BotProcess(tmp / "var", env)
        await bot.start()
        assert bot.proc is not None and bot.proc.returncode is None, bot.log
        try:
            run_ours = stepper(ours_fake, people_of(ours_fake, people), "/start")
            run_echo = stepper(echo_fake, people_of(echo_fake, people), "xin chào")
            ours, base = await step_both(rates, args.seconds, people, run_ours, run_echo)
        finally:
            await bot.stop()
            echo.terminate()
            await echo.wait()
    print_table("echo bot (bare python-telegram-bot, concurrent updates)", base)
    print_table("ocop-bot run (/start: account, state, keyboard)", ours)
    print_summary(ours, base, "echo bot")


if __name__ == "__main__":
    asyncio.run(main(parse_args(__doc__ or "")))
