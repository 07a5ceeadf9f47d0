"""Benchmark, open loop: does a second ``ocop-bot run`` process add capacity on PostgreSQL?

The production layout of docs/deploy.md on one host: Telegram delivers webhooks (the fake posts
like Telegram, up to 40 connections at once and one update per chat at a time) to processes
sharing one port (``OCOP_WEB_REUSE_PORT``: the kernel spreads the connections); each process
stores the update in the shared inbox before it answers 200, and any process takes it from
there, one batch per chat at a time. For 1 and then 2 processes (each on a fresh database), every
rate step is offered as in ``bench/telegram_throughput.py`` (people sending ``/start``); printed:
the steps, the sustainable rate of each layout (p99 ≤ 250 ms, nothing unanswered) and how the
updates were shared between the processes.

    python bench/scaleout.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
                             [--rates 50,100,150,200,250] [--seconds 10] [--processes 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._openloop import (
    WARM_UP_RATE,
    StepResult,
    fresh_database,
    print_table,
    stepper,
    sustainable_rate,
)
from bench.telegram_throughput import TimedFake, people_of
from tests.botprocess import BotProcess

SECRET = "bench-webhook-secret_0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def shares(url: str) -> dict[str, int]:
    """Updates handled per process (the inbox's worker column)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT worker, count(*) FROM inbox WHERE status = 'done' GROUP BY worker")
            )
            return {str(w).rsplit(":", 2)[-2]: int(n) for w, n in rows.all()}
    finally:
        await engine.dispose()


async def layout(args: argparse.Namespace, processes: int, rates: list[float]) -> list[StepResult]:
    people = max(args.people, int(2 * max(rates)))
    tmp = Path(tempfile.mkdtemp(prefix="ocop-scaleout-"))
    results: list[StepResult] = []
    async with fresh_database(args.database_url) as database_url, TimedFake() as fake:
        port = free_port()
        env = {
            "OCOP_TELEGRAM_TOKEN": fake.token,
            "OCOP_TELEGRAM_API_URL": fake.base_url,
            "OCOP_TELEGRAM_FILE_URL": fake.base_file_url,
            "OCOP_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "OCOP_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "OCOP_WEB_PORT": str(port),
            "OCOP_WEB_REUSE_PORT": "true",
            "OCOP_DATABASE_URL": database_url,
            "OCOP_LOG_LEVEL": "WARNING",
            "OCOP_TELEGRAM_GLOBAL_RATE": "10000",
        }
        bots = [BotProcess(tmp / "var", env) for _ in range(processes)]
        for bot in bots:  # one after the other: the first one migrates
            await bot.start()
            assert bot.proc is not None and bot.proc.returncode is None, bot.log
        await fake.wait_until(lambda: bool(fake.webhook_url), 20, what="the webhook")
        try:
            run = stepper(fake, people_of(fake, people), "/start")
            await run(WARM_UP_RATE, people / WARM_UP_RATE)  # first contacts, not counted
            for rate in rates:
                results.append(await run(rate, args.seconds))
                print(
                    f"  {processes} process(es) at {rate:.0f}/s: p99 {results[-1].p99_ms:.0f} ms",
                    flush=True,
                )
                if not results[-1].sustainable:
                    break
        finally:
            for bot in bots:
                await bot.stop()
        split = await shares(database_url)
    print_table(f"{processes} process(es), webhooks on one port, PostgreSQL", results)
    print(f"  updates handled per process (pid: count): {split}")
    return results


async def main(args: argparse.Namespace) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    counts = [int(n) for n in args.processes.split(",")]
    print(f"open loop, {args.seconds:.0f} s per step, steps {rates}", flush=True)
    found = {n: sustainable_rate(await layout(args, n, rates)) for n in counts}
    summary = ", ".join(f"{n} process(es) {rate:.0f}/s" for n, rate in found.items())
    print(f"\nsustainable rate (p99 <= 250 ms, nothing unanswered): {summary}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--database-url", required=True, help="postgresql+asyncpg://…")
    ap.add_argument("--rates", default="50,100,150,200,250")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--people", type=int, default=300)
    ap.add_argument("--processes", default="1,2")
    asyncio.run(main(ap.parse_args()))
