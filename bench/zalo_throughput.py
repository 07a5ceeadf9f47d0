"""Benchmark, open loop: what update rate can ocop-bot sustain on Zalo, next to a bare aiohttp
echo bot? The Zalo counterpart of ``bench/telegram_throughput.py`` (same schedule, same
measures, see ``bench/_openloop.py``).

Both bots are real processes receiving webhooks from their own fake Zalo Bot Platform server in
this process (same code, same settings), in the same run, step by step. Our bot is the real
``ocop-bot run`` with only Zalo configured (SQLite unless ``--database-url``), its overall pace
raised (``OCOP_ZALO_GLOBAL_RATE``) and enough people that nobody sends more than one message per
2 s. People send "Xin chào" (ours answers with the language choice: account, state, reply);
the echo bot sends the text back.

    python bench/zalo_throughput.py [--rates 25,50,75,100,125,150,200,250,300] [--seconds 10]
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
from tests.botprocess import BotProcess, free_port
from tests.fakes.zalo_api import FakeZaloServer, Person, SentMessage

ECHO = Path(__file__).resolve().parent / "_zalo_echo_bot.py"
SECRET = "bench-zalo-webhook-secret"


class TimedZalo(FakeZaloServer):
    """The fake, telling the benchmark the moment it accepts each bot message."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replies = Replies()

    def _record(self, person: Person, message: SentMessage) -> dict[str, Any]:
        self.replies.seen(person.id, time.perf_counter())
        return super()._record(person, message)


def people_of(server: TimedZalo, people: int) -> list[Any]:
    return [server.person(f"P{n}") for n in range(people)]


async def main(args: argparse.Namespace) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    people = max(args.people, int(2 * max(rates)))
    tmp = Path(tempfile.mkdtemp(prefix="ocop-zalo-bench-"))
    print(f"open loop, {args.seconds:.0f} s per step, {people} people, steps {rates}", flush=True)
    async with (
        fresh_database(args.database_url) as database_url,
        TimedZalo() as ours_fake,
        TimedZalo(token="99:zalo-echo-baseline") as echo_fake,
    ):
        port = free_port()
        env = {
            "OCOP_ZALO_BOT_TOKEN": ours_fake.token,
            "OCOP_ZALO_API_URL": ours_fake.api_url,
            "OCOP_ZALO_WEBHOOK_SECRET": SECRET,
            "OCOP_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "OCOP_WEB_PORT": str(port),
            "OCOP_LOG_LEVEL": "WARNING",
            "OCOP_ZALO_GLOBAL_RATE": "10000",
        }
        if database_url:
            env["OCOP_DATABASE_URL"] = database_url
        echo = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ECHO),
            echo_fake.api_url,
            echo_fake.token,
            str(free_port()),
            SECRET,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ},
        )
        assert echo.stdout is not None
        await echo.stdout.readline()  # "ready"
        bot = BotProcess(tmp / "var", env)
        await bot.start()
        assert bot.proc is not None and bot.proc.returncode is None, bot.log
        await ours_fake.wait_until(lambda: bool(ours_fake.webhook_url), 20, what="the webhook")
        try:
            run_ours = stepper(ours_fake, people_of(ours_fake, people), "Xin chào")
            run_echo = stepper(echo_fake, people_of(echo_fake, people), "xin chào")
            ours, base = await step_both(rates, args.seconds, people, run_ours, run_echo)
        finally:
            await bot.stop()
            echo.terminate()
            await echo.wait()
    print_table("echo bot (bare aiohttp webhook + sendMessage)", base)
    print_table("ocop-bot run, Zalo only (first message: account, state, reply)", ours)
    print_summary(ours, base, "echo bot")


if __name__ == "__main__":
    asyncio.run(main(parse_args(__doc__ or "")))
