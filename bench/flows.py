"""Benchmark: full registration transcripts in-process on SQLite.

Each simulated person onboards and registers a product idea with a tap for every choice, through
the real router, flows, core and a real SQLite file. Prints messages per second and p50/p99 per
message. Target: p99 ≤ 30 ms.

    python bench/flows.py [--people 40]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._registration import STEPS as SCRIPT
from bot.app import prepare_database
from bot.flows import build_flows
from bot.flows.router import Conversations
from ocop_core.clock import VN_TZ, FixedClock
from ocop_core.db import make_engine, session_factory
from ocop_core.plans import PlanRegistry
from ocop_core.services.context import CoreContext
from tests.transcript import Person


async def run(people: int) -> None:
    from datetime import datetime

    path = Path(tempfile.mkdtemp(prefix="ocop-bench-")) / "flows.sqlite3"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await prepare_database(engine)
    ctx = CoreContext(
        clock=FixedClock(datetime(2026, 9, 1, 9, tzinfo=VN_TZ)),
        plans=PlanRegistry(),
        data_dir=path.parent,
    )
    conv = Conversations(session_factory(engine), ctx, build_flows())
    latencies: list[float] = []
    started = time.perf_counter()
    for n in range(people):
        p = Person(conv, f"bench-{n}")
        for action, arg in SCRIPT:
            t = time.perf_counter()
            if action == "say":
                await p.say(arg)
            elif action == "tap":
                await p.tap(arg)
            else:
                await p.share_contact(arg)
            latencies.append((time.perf_counter() - t) * 1000)
        assert "Mã hồ sơ của bạn" in p.text, p.text
    elapsed = time.perf_counter() - started
    await engine.dispose()
    ordered = sorted(latencies)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print(f"people: {people}, messages: {len(latencies)} ({len(SCRIPT)} per registration)")
    print(f"throughput: {len(latencies) / elapsed:.0f} messages/s")
    print(
        f"latency per message: p50 {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms, "
        f"max {ordered[-1]:.2f} ms  (target p99 <= 30 ms: {'ok' if p99 <= 30 else 'MISSED'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=40)
    asyncio.run(run(parser.parse_args().people))


if __name__ == "__main__":
    main()
